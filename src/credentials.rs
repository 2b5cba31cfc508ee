//! Credentials: the standard AWS chain, or a role assumed with the GitHub OIDC token.

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};

/// The AWS clients of this run, with the credentials the inputs ask for.
pub async fn connect(
    cfg: &Config,
    rt: &Runtime,
    region: &str,
    out: &Printer,
) -> Result<Aws, Failure> {
    if let Some(url) = rt.env.get("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        out.notice(&format!(
            "AWS_ENDPOINT_URL is set: every AWS request, signed with the job's credentials, goes to {url}"
        ));
    }
    if cfg.role_to_assume.is_some() {
        return Err(InputProblem::new(
            "input role-to-assume is not available in this version: use aws-actions/configure-aws-credentials with role-to-assume in an earlier step",
        )
        .into());
    }
    Ok(Aws::connect(region).await)
}
