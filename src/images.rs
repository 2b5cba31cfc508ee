//! Container images: checking that ECR images exist before anything changes, and pinning
//! tags to digests.
//!
//! An image that was never pushed registers fine and then crash-loops on
//! `CannotPullContainerError`; asking ECR first turns that into an error before anything is
//! registered. Only ECR URIs are checked (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>`,
//! also `.amazonaws.com.cn` and `ecr-fips`): other registries need their own credentials.
//! `verify.rs` uses the same lookup to print OK / FAILED per image.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use aws_sdk_ecr::types::ImageIdentifier;

use crate::aws::{aws_error_message, Aws};
use crate::config::ImageChecks;
use crate::error::Failure;
use crate::gha::Printer;
use crate::render::Rendered;
use crate::taskdef;

/// DescribeImages accepts at most this many image ids per call.
const MAX_IDS_PER_CALL: usize = 100;

/// An image reference inside a repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

/// One ECR image URI, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The URI as the task definition has it.
    pub uri: String,
    /// The registry host and repository, without tag or digest.
    pub repository_uri: String,
    /// The account id: DescribeImages' `registryId`.
    pub registry: String,
    pub region: String,
    pub repository: String,
    pub reference: Reference,
}

impl EcrImage {
    /// `repo:tag` or `repo@sha256:…`, for messages.
    pub fn short(&self) -> String {
        match &self.reference {
            Reference::Tag(t) => format!("{}:{t}", self.repository),
            Reference::Digest(d) => format!("{}@{d}", self.repository),
        }
    }
}

/// Parses an ECR image URI; `None` for any other registry. With `shorthand` (account,
/// region), a bare `repo[:tag]` with no registry host is taken as a repository of that
/// account and region (input `ecr-repository-shorthand`): without it that form means Docker Hub.
pub fn parse(image: &str, shorthand: Option<(&str, &str)>) -> Option<EcrImage> {
    let image = image.trim();
    let (host, rest) = match image.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, image),
    };
    let (registry, region) = match host {
        Some(host) => ecr_host(host)?,
        None => {
            let (account, region) = shorthand?;
            (account.to_string(), region.to_string())
        }
    };
    let (name, reference) = match rest.split_once('@') {
        // `repo:tag@digest` runs the digest; the tag is only a label.
        Some((name, digest)) => (
            name.split_once(':').map_or(name, |(n, _)| n),
            Reference::Digest(digest.to_string()),
        ),
        None => match rest.rsplit_once(':') {
            Some((name, tag)) => (name, Reference::Tag(tag.to_string())),
            None => (rest, Reference::Tag("latest".to_string())),
        },
    };
    if name.is_empty() {
        return None;
    }
    let host = host.map_or_else(
        || format!("{registry}.dkr.ecr.{region}.{}", domain_for(&region)),
        str::to_string,
    );
    Some(EcrImage {
        uri: image.to_string(),
        repository_uri: format!("{host}/{name}"),
        registry,
        region,
        repository: name.to_string(),
        reference,
    })
}

/// `(account, region)` of an ECR registry host.
fn ecr_host(host: &str) -> Option<(String, String)> {
    let host = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    let dkr = parts.next()?;
    let ecr = parts.next()?;
    let region = parts.next()?;
    let ok = parts.next().is_none()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && dkr == "dkr"
        && (ecr == "ecr" || ecr == "ecr-fips")
        && !region.is_empty();
    ok.then(|| (account.to_string(), region.to_string()))
}

fn domain_for(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// What ECR said about each image: its digest, or why it is missing.
#[derive(Debug, Default)]
pub struct Lookup {
    /// Image URI → digest.
    pub found: BTreeMap<String, String>,
    /// Image URI → why it was not found.
    pub missing: BTreeMap<String, String>,
}

/// Asks ECR about every image: one DescribeImages per repository (more only when some are
/// missing, to name each). Errors are for calls that failed for another reason (permissions).
pub async fn lookup(aws: &Aws, images: &[EcrImage]) -> Result<Lookup> {
    let mut repos: BTreeMap<(String, String, String), Vec<&EcrImage>> = BTreeMap::new();
    for i in images {
        repos
            .entry((i.region.clone(), i.registry.clone(), i.repository.clone()))
            .or_default()
            .push(i);
    }
    let answers = crate::context::bounded(repos.iter().map(|((region, registry, repo), imgs)| {
        let client = ecr_client(aws, region);
        let mut refs: Vec<Reference> = imgs.iter().map(|i| i.reference.clone()).collect();
        refs.sort();
        refs.dedup();
        async move { describe_repository(&client, registry, repo, &refs).await }
    }))
    .await;
    let mut result = Lookup::default();
    for (((_, _, _), imgs), answer) in repos.iter().zip(answers) {
        let answer = answer?;
        for i in imgs {
            match answer.get(&i.reference) {
                Some(Ok(digest)) => {
                    result.found.insert(i.uri.clone(), digest.clone());
                }
                Some(Err(why)) => {
                    result.missing.insert(i.uri.clone(), why.clone());
                }
                None => {
                    result
                        .missing
                        .insert(i.uri.clone(), "not in ECR's answer".to_string());
                }
            }
        }
    }
    Ok(result)
}

/// The ECR client for `region`: the run's own, or one built from the same settings.
fn ecr_client(aws: &Aws, region: &str) -> aws_sdk_ecr::Client {
    if aws.sdk.region().is_some_and(|r| r.as_ref() == region) {
        return aws.ecr.clone();
    }
    aws_sdk_ecr::Client::new(&aws.sdk_in(region))
}

type Answer = BTreeMap<Reference, Result<String, String>>;

/// Reference → digest, or why it is missing, for one repository.
async fn describe_repository(
    ecr: &aws_sdk_ecr::Client,
    registry: &str,
    repo: &str,
    refs: &[Reference],
) -> Result<Answer> {
    let mut answer = Answer::new();
    for chunk in refs.chunks(MAX_IDS_PER_CALL) {
        match describe(ecr, registry, repo, chunk).await? {
            Ok(found) => answer.extend(found),
            Err(Missing::Repository) => {
                let why = format!("repository {repo} not found in registry {registry}");
                answer.extend(chunk.iter().map(|r| (r.clone(), Err(why.clone()))));
            }
            // DescribeImages fails whole when one id is missing: ask for each to name them all.
            Err(Missing::Image) => {
                let each = futures::future::join_all(
                    chunk
                        .iter()
                        .map(|r| describe(ecr, registry, repo, std::slice::from_ref(r))),
                )
                .await;
                for (r, one) in chunk.iter().zip(each) {
                    match one? {
                        Ok(found) => answer.extend(found),
                        Err(_) => {
                            let why = match r {
                                Reference::Tag(t) => format!("tag {t} not found in {repo}"),
                                Reference::Digest(d) => format!("digest {d} not found in {repo}"),
                            };
                            answer.insert(r.clone(), Err(why));
                        }
                    }
                }
            }
        }
    }
    Ok(answer)
}

enum Missing {
    Repository,
    Image,
}

async fn describe(
    ecr: &aws_sdk_ecr::Client,
    registry: &str,
    repo: &str,
    refs: &[Reference],
) -> Result<Result<Answer, Missing>> {
    let ids = refs
        .iter()
        .map(|r| match r {
            Reference::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
            Reference::Digest(d) => ImageIdentifier::builder().image_digest(d).build(),
        })
        .collect();
    let answer = ecr
        .describe_images()
        .registry_id(registry)
        .repository_name(repo)
        .set_image_ids(Some(ids))
        .send()
        .await;
    let details = match answer {
        Ok(a) => a.image_details,
        Err(e) => {
            if let Some(se) = e.as_service_error() {
                if se.is_repository_not_found_exception() {
                    return Ok(Err(Missing::Repository));
                }
                if se.is_image_not_found_exception() {
                    return Ok(Err(Missing::Image));
                }
            }
            return Err(anyhow!(aws_error_message(&e))).with_context(|| {
                format!("checking images of ECR repository {repo} in registry {registry} (ecr:DescribeImages): allow ecr:DescribeImages on it, or set verify-images: false")
            });
        }
    };
    let details = details.unwrap_or_default();
    let mut found = Answer::new();
    for r in refs {
        let hit = details.iter().find(|d| match r {
            Reference::Tag(t) => d.image_tags().iter().any(|x| x == t),
            Reference::Digest(x) => d.image_digest() == Some(x.as_str()),
        });
        let digest = hit.and_then(|d| d.image_digest()).map(str::to_string);
        found.insert(
            r.clone(),
            digest.ok_or_else(|| format!("{} not found in {repo}", show_ref(r))),
        );
    }
    Ok(Ok(found))
}

fn show_ref(r: &Reference) -> String {
    match r {
        Reference::Tag(t) => format!("tag {t}"),
        Reference::Digest(d) => format!("digest {d}"),
    }
}

/// Every (container, image) of `docs` split into ECR images and the rest.
pub fn collect(
    docs: &[Rendered],
    shorthand: Option<(&str, &str)>,
) -> (Vec<(String, EcrImage)>, Vec<String>) {
    let mut ecr = Vec::new();
    let mut other = Vec::new();
    for d in docs {
        for (container, image) in taskdef::images(&d.body) {
            match parse(&image, shorthand) {
                Some(i) => ecr.push((container, i)),
                None => other.push(image),
            }
        }
    }
    (ecr, other)
}

/// Checks every ECR image of `docs` exists (`verify-images`) and, with `pin-image-digests`,
/// rewrites tags to digests in place.
pub(crate) async fn check(
    aws: &Aws,
    checks: &ImageChecks,
    account: &str,
    docs: &mut [Rendered],
    out: &Printer,
) -> Result<(), Failure> {
    if !checks.verify_images && !checks.pin_image_digests {
        out.debug("verify-images is false: images are not checked");
        return Ok(());
    }
    let region = aws.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let shorthand = shorthand(checks, account, &region);
    let (ecr, other) = collect(docs, shorthand);
    for image in &other {
        out.debug(&format!("image {image} is not in ECR: not checked"));
    }
    if ecr.is_empty() {
        return Ok(());
    }
    out.group("Check images");
    let unique: Vec<EcrImage> = ecr.iter().map(|(_, i)| i.clone()).collect();
    let found = lookup(aws, &unique).await;
    let found = match found {
        Ok(f) => f,
        Err(e) => {
            out.end_group();
            return Err(e.into());
        }
    };
    for (uri, why) in &found.missing {
        out.line(&format!("missing: {uri}: {why}"));
    }
    if !found.missing.is_empty() {
        out.end_group();
        let list: Vec<String> = found
            .missing
            .iter()
            .map(|(uri, why)| format!("{uri} ({why})"))
            .collect();
        return Err(anyhow!(
            "{} image(s) not found in ECR: {}. Push them before deploying: the build-and-push step must run (and succeed) before ecs-deploy",
            list.len(),
            list.join(", ")
        )
        .into());
    }
    let mut shown = std::collections::BTreeSet::new();
    for (_, i) in &ecr {
        let digest = found.found.get(&i.uri).cloned().unwrap_or_default();
        if shown.insert(i.uri.clone()) && !checks.pin_image_digests {
            out.line(&format!("found: {} ({digest})", i.uri));
        }
    }
    if checks.pin_image_digests {
        pin(docs, &found, shorthand, out);
    }
    out.end_group();
    Ok(())
}

/// Replaces each ECR tag by the digest it points to now, so a re-pushed tag never changes
/// what this revision runs.
fn pin(docs: &mut [Rendered], found: &Lookup, shorthand: Option<(&str, &str)>, out: &Printer) {
    for d in docs.iter_mut() {
        for (container, image) in taskdef::images(&d.body) {
            let Some(i) = parse(&image, shorthand) else {
                continue;
            };
            let (Reference::Tag(_), Some(digest)) = (&i.reference, found.found.get(&i.uri)) else {
                continue;
            };
            let pinned = format!("{}@{digest}", i.repository_uri);
            taskdef::set_image(&mut d.body, &container, &pinned);
            out.line(&format!(
                "{}: {container}: {} → {digest}",
                d.target.shown,
                i.short()
            ));
        }
    }
}

/// Account and region that bare `repo:tag` images resolve against, when the user opted in.
/// Input `ecr-repository-shorthand`: without it, bare names keep their Docker Hub meaning.
pub(crate) fn shorthand<'a>(
    checks: &ImageChecks,
    account: &'a str,
    region: &'a str,
) -> Option<(&'a str, &'a str)> {
    checks.ecr_repository_shorthand.then_some((account, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Reference {
        Reference::Tag(s.into())
    }

    #[test]
    fn parses_ecr_uris_and_skips_other_registries() {
        let i = parse(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1",
            None,
        )
        .unwrap();
        assert_eq!(
            (
                i.registry.as_str(),
                i.region.as_str(),
                i.repository.as_str()
            ),
            ("123456789012", "eu-west-1", "team/app")
        );
        assert_eq!(i.reference, tag("v1"));
        assert_eq!(
            i.repository_uri,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app"
        );

        let i = parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/app", None).unwrap();
        assert_eq!(i.reference, tag("latest"));

        let d = format!("sha256:{}", "a".repeat(64));
        let i = parse(
            &format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v2@{d}"),
            None,
        )
        .unwrap();
        assert_eq!(
            (i.repository.as_str(), i.reference),
            ("app", Reference::Digest(d))
        );

        let cn = parse(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1",
            None,
        )
        .unwrap();
        assert_eq!(cn.region, "cn-north-1");
        let fips = parse(
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:1",
            None,
        );
        assert_eq!(fips.unwrap().region, "us-gov-west-1");

        for other in [
            "nginx:1.25",
            "otel/opentelemetry-collector-contrib:0.98.0",
            "public.ecr.aws/nginx/nginx:latest",
            "ghcr.io/acme/app:v1",
            "localhost:5000/app:v1",
            "12345.dkr.ecr.us-east-1.amazonaws.com/app:v1",
            "123456789012.dkr.ecr.us-east-1.example.com/app:v1",
        ] {
            assert_eq!(parse(other, None), None, "{other}");
        }
    }

    #[test]
    fn shorthand_resolves_bare_repositories_only_when_asked() {
        let i = parse("app:v3", Some(("210987654321", "eu-central-1"))).unwrap();
        assert_eq!(
            i.repository_uri,
            "210987654321.dkr.ecr.eu-central-1.amazonaws.com/app"
        );
        assert_eq!(i.reference, tag("v3"));
        assert_eq!(parse("ghcr.io/acme/app:v1", Some(("1", "r"))), None);
    }
}
