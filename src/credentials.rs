//! Credentials: the standard AWS chain, or a role assumed with the GitHub OIDC token.
//!
//! With `role-to-assume`, the job's OIDC token (requested from the runner with audience
//! `sts.amazonaws.com`) is exchanged for temporary credentials with
//! `sts:AssumeRoleWithWebIdentity`, so no long-lived key is stored in the repository. Without
//! an OIDC token (the job lacks `id-token: write`), existing credentials from the chain are
//! used to `sts:AssumeRole` instead (role chaining). The token, the runner's request token and
//! the assumed credentials are registered with `redact.rs` the moment they are known.

use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_sts::config::{Credentials, ProvideCredentials};

use crate::aws::{Aws, AwsContext};
use crate::config::CredentialSettings;
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};
use crate::redact;

const AUDIENCE: &str = "sts.amazonaws.com";
/// The runner answers the OIDC token request at once; one that does not must not hold the run.
const OIDC_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The AWS clients of this run, with the credentials the inputs ask for.
pub async fn connect(
    settings: &CredentialSettings,
    rt: &Runtime,
    region: &str,
    out: &Printer,
) -> Result<Aws, Failure> {
    if let Some(url) = rt.env.get("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        out.notice(&format!(
            "AWS_ENDPOINT_URL is set: every AWS request, signed with the job's credentials, goes to {url}"
        ));
    }
    let Some(role) = &settings.role_to_assume else {
        return Ok(Aws::connect(region).await);
    };
    let session = settings
        .role_session_name
        .clone()
        .unwrap_or_else(|| session_name(rt));
    let env = |k: &str| rt.env.get(k).filter(|v| !v.trim().is_empty());
    let (creds, user, how) = match env("ACTIONS_ID_TOKEN_REQUEST_URL") {
        Some(url) => {
            let Some(request_token) = env("ACTIONS_ID_TOKEN_REQUEST_TOKEN") else {
                return Err(no_oidc(role).into());
            };
            redact::register(request_token);
            let jwt = tokio::time::timeout(OIDC_LIMIT, fetch_oidc_token(url, request_token))
                .await
                .map_err(|_| {
                    anyhow!(
                        "the runner's OIDC token endpoint did not answer within {} s",
                        OIDC_LIMIT.as_secs()
                    )
                })
                .and_then(|r| r)
                .context("getting the GitHub OIDC token for role-to-assume: check the job has `permissions: id-token: write`")?;
            redact::register(&jwt);
            let sts = aws_sdk_sts::Client::new(&Aws::loader(region).no_credentials().load().await);
            let answer = sts
                .assume_role_with_web_identity()
                .role_arn(role)
                .role_session_name(&session)
                .web_identity_token(jwt)
                .duration_seconds(settings.role_duration_seconds)
                .send()
                .await
                .aws_context(|| format!(
                    "assuming role {role} with the GitHub OIDC token (sts:AssumeRoleWithWebIdentity): check the role's trust policy allows token.actions.githubusercontent.com with aud {AUDIENCE} and this repository's sub claim"
                ))?;
            let user = answer.assumed_role_user().map(|u| u.arn().to_string());
            (answer.credentials, user, "GitHub OIDC")
        }
        None => {
            let chain = Aws::loader(region).load().await;
            let has_credentials = match chain.credentials_provider() {
                Some(p) => p.provide_credentials().await.is_ok(),
                None => false,
            };
            if !has_credentials {
                return Err(no_oidc(role).into());
            }
            let answer = aws_sdk_sts::Client::new(&chain)
                .assume_role()
                .role_arn(role)
                .role_session_name(&session)
                .duration_seconds(settings.role_duration_seconds)
                .send()
                .await
                .aws_context(|| format!(
                    "assuming role {role} from the job's credentials (sts:AssumeRole): check the role's trust policy allows the current identity, or add `permissions: id-token: write` to use GitHub OIDC"
                ))?;
            let user = answer.assumed_role_user().map(|u| u.arn().to_string());
            (answer.credentials, user, "role chaining")
        }
    };
    let creds = creds.ok_or_else(|| anyhow!("STS answered without credentials for role {role}"))?;
    redact::register(creds.access_key_id());
    redact::register(creds.secret_access_key());
    redact::register(creds.session_token());
    let expiry = SystemTime::try_from(*creds.expiration()).ok();
    out.line(&format!(
        "credentials: assumed {role} as {} ({how}, session {session})",
        user.as_deref().unwrap_or("?")
    ));
    let provider = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        expiry,
        "ecs-deploy-assumed-role",
    );
    Ok(Aws::from_sdk(
        Aws::loader(region)
            .credentials_provider(provider)
            .load()
            .await,
    ))
}

fn no_oidc(role: &str) -> InputProblem {
    InputProblem::new(format!(
        "input role-to-assume ({role}) needs the GitHub OIDC token, but this job cannot request one (ACTIONS_ID_TOKEN_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set) and has no AWS credentials to chain from: add `permissions: id-token: write` to the job"
    ))
}

/// `ecs-deploy-<run id>`: names the run in CloudTrail.
fn session_name(rt: &Runtime) -> String {
    let id: String = rt
        .run_id
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c))
        .take(50)
        .collect();
    if id.is_empty() {
        "ecs-deploy".to_string()
    } else {
        format!("ecs-deploy-{id}")
    }
}

/// GET `<ACTIONS_ID_TOKEN_REQUEST_URL>&audience=sts.amazonaws.com` with the runner's request
/// token as bearer; the answer is `{"value": "<jwt>"}`.
async fn fetch_oidc_token(url: &str, request_token: &str) -> Result<String> {
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}audience={AUDIENCE}");
    let (origin, path) = split_origin(&full)
        .ok_or_else(|| anyhow!("ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL"))?;
    // octocrab sends its bearer token only to a relative URI (it guards against leaking a
    // GitHub token to other hosts), so the origin goes in as the base URI.
    let client = octocrab::Octocrab::builder()
        .base_uri(origin)
        .context("ACTIONS_ID_TOKEN_REQUEST_URL has an invalid host")?
        .personal_token(request_token.to_string())
        .build()
        .context("building the HTTP client for the OIDC token request")?;
    let response = client
        ._get(path)
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("requesting the OIDC token from the runner")?;
    let status = response.status();
    let body = client
        .body_to_string(response)
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("reading the OIDC token answer")?;
    if !status.is_success() {
        bail!("the runner refused the OIDC token request (HTTP {status})");
    }
    let value: serde_json::Value =
        serde_json::from_str(&body).map_err(|_| anyhow!("the OIDC token answer is not JSON"))?;
    match value.get("value").and_then(serde_json::Value::as_str) {
        Some(jwt) if !jwt.is_empty() => Ok(jwt.to_string()),
        _ => bail!("the OIDC token answer has no `value`"),
    }
}

/// `("https://host:port", "/path?query")`.
fn split_origin(url: &str) -> Option<(&str, &str)> {
    let after_scheme = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host_len = after_scheme.find('/').unwrap_or(after_scheme.len());
    let cut = url.len() - after_scheme.len() + host_len;
    let (origin, path) = url.split_at(cut);
    if host_len == 0 || path.is_empty() {
        return None;
    }
    Some((origin, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_token_url() {
        assert_eq!(
            split_origin("https://pipelines.example/abc/token?api-version=2.0&audience=x"),
            Some((
                "https://pipelines.example",
                "/abc/token?api-version=2.0&audience=x"
            ))
        );
        assert_eq!(
            split_origin("http://127.0.0.1:8080/t?x=1"),
            Some(("http://127.0.0.1:8080", "/t?x=1"))
        );
        assert_eq!(split_origin("http://host"), None);
        assert_eq!(split_origin("ftp://host/x"), None);
    }

    #[test]
    fn session_names_follow_the_run() {
        let rt = Runtime {
            run_id: Some("4242".into()),
            ..Default::default()
        };
        assert_eq!(session_name(&rt), "ecs-deploy-4242");
        assert_eq!(session_name(&Runtime::default()), "ecs-deploy");
    }
}
