//! Task definitions as JSON documents, through the official SDK.
//!
//! Task-definition files are the ECS API's JSON, and diffing and normalising work on JSON
//! values. Converting to and from the SDK's ~60 typed container fields would be a large,
//! lossy mirror of the API that breaks whenever ECS adds a field. Instead, the SDK still does
//! signing, retries, endpoints and credentials, and two interceptors swap the request body for
//! our document (before signing) and keep the response body (after deserialisation).

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

use crate::aws::AwsContext;
use crate::once::Done;

/// Keeps the raw response body of one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeepBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for KeepBody {
    fn name(&self) -> &'static str {
        "KeepResponseBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes.to_vec());
        }
        Ok(())
    }
}

impl KeepBody {
    pub(crate) fn json(&self) -> Result<Value> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| anyhow!("AWS answered without a body"))?;
        serde_json::from_slice(&bytes).context("AWS answered with a body that is not JSON")
    }
}

/// Sends `payload` (a JSON request document) instead of the body the SDK built.
pub(crate) fn replace_body(
    payload: Vec<u8>,
) -> impl Fn(&mut aws_sdk_ecs::config::http::HttpRequest) {
    move |req| {
        let len = payload.len();
        *req.body_mut() = SdkBody::from(payload.clone());
        req.headers_mut().insert("content-length", len.to_string());
    }
}

/// Registers `body` (a RegisterTaskDefinition request document) with `tags`; returns the
/// registered `taskDefinition` document.
pub async fn register(
    ecs: &aws_sdk_ecs::Client,
    body: &Value,
    tags: Option<&[Value]>,
) -> Result<Value> {
    let mut payload = body.clone();
    if let (Some(tags), Some(obj)) = (tags, payload.as_object_mut()) {
        if !tags.is_empty() {
            obj.insert("tags".into(), Value::Array(tags.to_vec()));
        }
    }
    let family = body
        .get("family")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let bytes = serde_json::to_vec(&payload)?;
    let keep = KeepBody::default();
    // Never twice: an attempt that registered unseen is found by its content, not repeated.
    let done = crate::once::call_once(
        "registration",
        || {
            ecs.register_task_definition()
                .family(&family)
                .customize()
                .config_override(crate::once::no_retries())
                .mutate_request(replace_body(bytes.clone()))
                .interceptor(keep.clone())
                .send()
        },
        || newest_equal(ecs, &family, body, tags),
    )
    .await
    .with_context(|| format!("registering a task definition for family {family}"))?;
    match done {
        // The answer was lost but the revision is there.
        Done::Found(td) => Ok(td),
        Done::Sent(_) => keep
            .json()?
            .get("taskDefinition")
            .cloned()
            .ok_or_else(|| anyhow!("RegisterTaskDefinition answered without a taskDefinition")),
    }
}

/// The newest ACTIVE revision of `family` when it is what `body` with `tags` would register.
async fn newest_equal(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    body: &Value,
    tags: Option<&[Value]>,
) -> Result<Option<Value>> {
    Ok(equal_revision(ecs, family, body, tags, "", 1)
        .await?
        .map(|(_, td)| td))
}

/// How many of a family's newest ACTIVE revisions are compared with a rendered document
/// before registering it: enough to find the previous deploys' (a revert, a redeploy of an
/// older commit), few enough to cost one round trip of concurrent describes.
pub const REUSE_DEPTH: usize = 5;

/// The newest of the `depth` newest ACTIVE revisions of `family` (other than `skip`) that is
/// what `body` with `tags` would register, with its document.
pub async fn equal_revision(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    body: &Value,
    tags: Option<&[Value]>,
    skip: &str,
    depth: usize,
) -> Result<Option<(String, Value)>> {
    let listed = newest_revisions(ecs, family, Patience::SdkRetries).await?;
    equal_among(ecs, family, &listed, body, tags, skip, depth).await
}

/// The ARNs of the newest ACTIVE revisions of `family`, as ECS lists them: one page, more
/// only while other families sharing the prefix (`worker-1`, `worker-10`) crowd this one's
/// out, up to a few pages.
pub async fn newest_revisions(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    patience: Patience,
) -> Result<Vec<String>> {
    const PAGES: usize = 4;
    let mut arns: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let call = || {
            ecs.list_task_definitions()
                .family_prefix(family)
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .sort(aws_sdk_ecs::types::SortOrder::Desc)
                .set_next_token(token.clone())
                .send()
        };
        let page = patience
            .send(call)
            .await
            .aws_context(|| format!("listing the newest revisions of family {family}"))?;
        arns.extend(page.task_definition_arns().iter().cloned());
        let mine = arns
            .iter()
            .filter(|a| crate::arn::family_revision(a).is_some_and(|(f, _)| f == family))
            .count();
        token = page.next_token().map(str::to_string);
        // One more than the depth: the revision the service runs is skipped.
        if mine > REUSE_DEPTH || token.is_none() {
            break;
        }
    }
    Ok(arns)
}

/// `equal_revision` over revisions listed already (`newest_revisions`).
pub async fn equal_among(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    listed: &[String],
    body: &Value,
    tags: Option<&[Value]>,
    skip: &str,
    depth: usize,
) -> Result<Option<(String, Value)>> {
    let mine = candidates(family, listed, skip, depth);
    let described = crate::context::bounded(mine.iter().map(|a| describe(ecs, a))).await;
    for (arn, d) in mine.iter().zip(described) {
        let (td, live_tags) = d?;
        if same_revision(&td, &live_tags, body, tags) {
            return Ok(Some((arn.clone(), td)));
        }
    }
    Ok(None)
}

/// Of the listed revisions, this family's `depth` newest other than `skip`, newest first
/// (`familyPrefix` matches by prefix; the answer's order is not trusted).
pub fn candidates(family: &str, listed: &[String], skip: &str, depth: usize) -> Vec<String> {
    let mut mine: Vec<(i64, &String)> = listed
        .iter()
        .filter_map(|a| {
            let (f, r) = crate::arn::family_revision(a)?;
            (f == family && a != skip).then_some((r as i64, a))
        })
        .collect();
    mine.sort_by_key(|(r, _)| std::cmp::Reverse(*r));
    mine.truncate(depth);
    mine.into_iter().map(|(_, a)| a.clone()).collect()
}

/// Whether a registered revision (`td` with `live_tags`) is what `body` with `tags` would
/// register.
pub fn same_revision(
    td: &Value,
    live_tags: &[Value],
    body: &Value,
    tags: Option<&[Value]>,
) -> bool {
    let same_tags = tags.is_none_or(|t| {
        let set = |v: &[Value]| {
            v.iter()
                .map(Value::to_string)
                .collect::<std::collections::BTreeSet<_>>()
        };
        set(t) == set(live_tags)
    });
    same_tags && !crate::taskdef::diff(td, body).changed
}

/// How long a read may wait when ECS throttles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// The SDK's own attempts only: inside a wait bounded by a deadline (the evidence of a
    /// stopped task, a reconcile), or one call among many in a loop.
    SdkRetries,
    /// Past those, waited out for up to `once::patient`'s bound: the reads that fan out per
    /// service before anything changes, where a bucket smaller than the fan-out must slow
    /// the deploy, not fail it.
    WaitOutThrottles,
}

impl Patience {
    /// Makes the call (`call` builds and sends it, again for every attempt) this patiently.
    async fn send<T, E, R, C, CF>(
        self,
        mut call: C,
    ) -> std::result::Result<T, aws_sdk_ecs::error::SdkError<E, R>>
    where
        E: aws_sdk_ecs::error::ProvideErrorMetadata,
        C: FnMut() -> CF,
        CF: std::future::Future<
            Output = std::result::Result<T, aws_sdk_ecs::error::SdkError<E, R>>,
        >,
    {
        match self {
            Patience::WaitOutThrottles => crate::once::patient(call).await,
            Patience::SdkRetries => call().await,
        }
    }
}

/// `describe_with` with the SDK's own attempts only.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    task_definition: &str,
) -> Result<(Value, Vec<Value>)> {
    describe_with(ecs, task_definition, Patience::SdkRetries).await
}

/// Describes a task definition (family, family:revision or ARN) with its tags.
pub async fn describe_with(
    ecs: &aws_sdk_ecs::Client,
    task_definition: &str,
    patience: Patience,
) -> Result<(Value, Vec<Value>)> {
    let keep = KeepBody::default();
    let payload = json!({"taskDefinition": task_definition, "include": ["TAGS"]});
    let body = serde_json::to_vec(&payload)?;
    let call = || {
        ecs.describe_task_definition()
            .task_definition(task_definition)
            .customize()
            .mutate_request(replace_body(body.clone()))
            .interceptor(keep.clone())
            .send()
    };
    patience
        .send(call)
        .await
        .aws_context(|| format!("describing task definition {task_definition}"))?;
    let mut answer = keep.json()?;
    let td = answer
        .get_mut("taskDefinition")
        .map(Value::take)
        .ok_or_else(|| anyhow!("DescribeTaskDefinition answered without a taskDefinition"))?;
    let tags = answer
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok((td, tags))
}
