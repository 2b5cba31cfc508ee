//! The sticky pull-request comment, through the GitHub API (octocrab).
//!
//! One comment per key (the cluster, and the stack when there is one), found by a hidden
//! marker among the pull request's comments and edited in place, so a pull request shows the
//! latest deploy of each environment, never a stream of them. The marker alone identifies the
//! comment, among the comments written by an identity that could be ours: a bot (the
//! workflow's `GITHUB_TOKEN` posts as `github-actions[bot]`, a GitHub App's token as its own
//! bot), or the user the token belongs to (a personal token), asked of `GET /user` only when a
//! person's comment carries the marker (a workflow's `GITHUB_TOKEN` cannot call it). A marked
//! comment written by someone else is never edited: a warning names it.
//! Nothing here can fail a deploy: every problem becomes a warning that says the fix.

use std::time::Duration;

use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use serde_json::{json, Value};

use crate::config::Config;
use crate::gha::{Printer, Runtime};
use crate::redact;
use crate::report;

/// GitHub refuses comment bodies longer than this many characters.
const COMMENT_LIMIT_CHARS: usize = 65_536;
/// A 5xx or a dropped connection is tried this many more times before we give up.
const RETRIES: u32 = 2;
/// Comment listing stops here: a pull request with more comments is not worth more calls.
const MAX_PAGES: usize = 30;
const DEFAULT_API: &str = "https://api.github.com";

/// Posts or updates the one comment of this cluster on the pull request of this run.
/// Never fails the deploy: problems are warnings with the fix.
pub async fn comment(cfg: &Config, rt: &Runtime, markdown: &str, out: &Printer) {
    let Some(token) = cfg
        .comment
        .github_token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    else {
        out.debug("no github-token: no pull-request comment");
        return;
    };
    let Some((owner, repo)) = rt
        .repository
        .as_deref()
        .and_then(|r| r.split_once('/'))
        .filter(|(o, r)| !o.is_empty() && !r.is_empty())
    else {
        out.debug("GITHUB_REPOSITORY is not set: no pull-request comment");
        return;
    };
    let event = read_event(rt);
    let api = match Api::new(rt, token, owner, repo) {
        Ok(api) => api,
        Err(e) => {
            out.warning(&format!("pull-request comment skipped: {e}"));
            return;
        }
    };
    let key = comment_key(cfg);
    let pr = match find_pull_request(&api, rt, &event, out).await {
        Ok(Some(pr)) => pr,
        Ok(None) => return,
        Err(e) => {
            out.warning(&e.explain("finding the pull request of this commit", None));
            return;
        }
    };
    out.group(&format!("Comment on pull request #{}", pr.number));
    let body = comment_body(&key, markdown);
    let done = upsert(&api, pr.number, &key, &body).await;
    if let Ok(Done::Created(_, foreign) | Done::Updated(_, foreign)) = &done {
        for (id, login) in foreign {
            out.warning(&format!(
                "pull request #{}: comment {id} by @{login} begins with this deploy's marker ({key}) but was not written by this token's identity: it was left alone, and this deploy's report is a comment of its own",
                pr.number
            ));
        }
    }
    match done {
        Ok(Done::Created(id, _)) => out.line(&format!(
            "pull request #{}: comment {id} created ({key})",
            pr.number
        )),
        Ok(Done::Updated(id, _)) => out.line(&format!(
            "pull request #{}: comment {id} updated ({key})",
            pr.number
        )),
        Err(e) => out.warning(&e.explain(
            &format!("commenting on pull request #{}", pr.number),
            pr.fork.as_deref(),
        )),
    }
    out.end_group();
}

/// What identifies this deploy's comment: the cluster, and the stack when there is one.
/// Restricted to characters that cannot end the HTML comment the marker lives in.
pub fn comment_key(cfg: &Config) -> String {
    let cluster = crate::arn::last_segment(&cfg.cluster);
    let mut key = cluster.to_string();
    if let Some(stack) = &cfg.stack {
        key.push('/');
        key.push_str(&stack.name);
    }
    if let Some(k) = &cfg.comment.comment_key {
        key.push('/');
        key.push_str(k);
    }
    let key: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `--` may not appear inside an HTML comment.
    key.replace("--", "-_")
}

pub fn marker(key: &str) -> String {
    format!("<!-- ecs-deploy:{key} -->")
}

/// The marker, then the report scrubbed of every registered secret and cut to GitHub's limit.
pub fn comment_body(key: &str, markdown: &str) -> String {
    let marker = marker(key);
    let text = redact::scrub(markdown);
    let room = COMMENT_LIMIT_CHARS - marker.chars().count() - 2;
    let text = report::fit(
        &text,
        room,
        |s| s.chars().count(),
        "a pull-request comment is limited to 65,536 characters; the job summary has more",
    );
    format!("{marker}\n\n{text}")
}

/// The fields of the event payload we use.
#[derive(Debug, Default)]
struct Event {
    pr_number: Option<u64>,
    /// `owner/repo` of a pull request's head when it differs from the base: a fork.
    fork: Option<String>,
}

fn read_event(rt: &Runtime) -> Event {
    let Some(v) = rt
        .event_path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return Event::default();
    };
    let pr = &v["pull_request"];
    let pr_number = pr["number"].as_u64().or_else(|| v["number"].as_u64());
    let head = pr["head"]["repo"]["full_name"].as_str();
    let base = pr["base"]["repo"]["full_name"].as_str();
    let fork = match (head, base) {
        (Some(h), Some(b)) if !h.eq_ignore_ascii_case(b) => Some(h.to_string()),
        // A fork that was deleted leaves `head.repo` null.
        (None, Some(_)) if pr["head"].is_object() => Some("a deleted fork".to_string()),
        _ => None,
    };
    Event { pr_number, fork }
}

#[derive(Debug)]
struct PullRequest {
    number: u64,
    fork: Option<String>,
}

async fn find_pull_request(
    api: &Api,
    rt: &Runtime,
    event: &Event,
    out: &Printer,
) -> Result<Option<PullRequest>, ApiError> {
    match rt.event_name.as_deref() {
        Some("pull_request" | "pull_request_target") => match event.pr_number {
            Some(number) => Ok(Some(PullRequest {
                number,
                fork: event.fork.clone(),
            })),
            None => {
                out.debug("the event payload names no pull request: no comment");
                Ok(None)
            }
        },
        Some("push" | "workflow_dispatch") => {
            let Some(sha) = rt.sha.as_deref() else {
                out.debug("GITHUB_SHA is not set: no pull-request comment");
                return Ok(None);
            };
            let pulls = api.commit_pulls(sha).await?;
            let branch = rt
                .git_ref
                .as_deref()
                .and_then(|r| r.strip_prefix("refs/heads/"));
            let chosen = choose_pull_request(&pulls, branch);
            match chosen {
                Some(number) => Ok(Some(PullRequest { number, fork: None })),
                None => {
                    out.debug(&format!(
                        "no pull request contains commit {sha}: the job summary only"
                    ));
                    Ok(None)
                }
            }
        }
        other => {
            out.debug(&format!(
                "event {} has no pull request: no comment",
                other.unwrap_or("(none)")
            ));
            Ok(None)
        }
    }
}

/// Among the pull requests `commits/{sha}/pulls` returned: the open one whose head is the
/// pushed branch, else the merged one that brought the commit in.
fn choose_pull_request(pulls: &[Value], branch: Option<&str>) -> Option<u64> {
    let open_on_branch = pulls.iter().find(|p| {
        p["state"] == "open" && branch.is_some_and(|b| p["head"]["ref"].as_str() == Some(b))
    });
    let merged = || pulls.iter().find(|p| !p["merged_at"].is_null());
    open_on_branch.or_else(merged)?["number"].as_u64()
}

/// The comment written or edited, and the marked comments of others left alone (id, login).
enum Done {
    Created(u64, Vec<(u64, String)>),
    Updated(u64, Vec<(u64, String)>),
}

/// The comments of a pull request that begin with the marker.
#[derive(Debug, Default, PartialEq)]
struct Marked {
    /// The first written by a bot: ours (see the module's doc).
    by_bot: Option<u64>,
    /// Those written by people (id, login), in order.
    by_people: Vec<(u64, String)>,
}

impl Marked {
    /// Ours, given the token's own login when known, and the others'.
    fn split(self, login: Option<&str>) -> (Option<u64>, Vec<(u64, String)>) {
        let mut ours = self.by_bot;
        let mut foreign = Vec::new();
        for (id, who) in self.by_people {
            if ours.is_none() && login == Some(who.as_str()) {
                ours = Some(id);
            } else if ours != Some(id) {
                foreign.push((id, who));
            }
        }
        (ours, foreign)
    }
}

async fn upsert(api: &Api, pr: u64, key: &str, body: &str) -> Result<Done, ApiError> {
    let marker = marker(key);
    let marked = api.find_comments(pr, &marker).await?;
    // Only a person's marked comment needs to know who we are.
    let login = match (marked.by_bot, marked.by_people.is_empty()) {
        (None, false) => api.login().await,
        _ => None,
    };
    let (ours, foreign) = marked.split(login.as_deref());
    match ours {
        Some(id) => {
            api.update_comment(id, body).await?;
            Ok(Done::Updated(id, foreign))
        }
        None => Ok(Done::Created(api.create_comment(pr, body).await?, foreign)),
    }
}

/// Why a call failed, kept apart so the warning can say the fix for each case.
#[derive(Debug)]
enum ApiError {
    Status {
        status: u16,
        message: String,
        rate_limited: bool,
    },
    Transport(String),
    Unexpected(String),
}

impl ApiError {
    fn explain(&self, what: &str, fork: Option<&str>) -> String {
        let tail = "the deploy itself is not affected; the job summary has the report";
        match self {
            ApiError::Status {
                status: 403 | 404,
                ..
            } if fork.is_some() => format!(
                "{what}: the pull request comes from the fork {}, and GitHub gives workflows of fork pull requests a read-only token, so no comment can be posted ({}); {tail}",
                fork.unwrap_or_default(),
                self.short()
            ),
            ApiError::Status {
                rate_limited: true, ..
            } => format!(
                "{what}: the GitHub API rate limit is exhausted ({}); {tail}",
                self.short()
            ),
            ApiError::Status { status: 403, .. } => format!(
                "{what}: the token may not do this ({}): give the job `permissions: pull-requests: write` (and `contents: read`), or pass a token that has them as `github-token`; {tail}",
                self.short()
            ),
            ApiError::Status { status: 401, .. } => format!(
                "{what}: the github-token was rejected ({}): pass a valid token (the default is `${{{{ github.token }}}}`), or set `comment-on-pr: false`; {tail}",
                self.short()
            ),
            ApiError::Status { status: 404, .. } => format!(
                "{what}: not found ({}): the token cannot see this repository or pull request; give the job `permissions: pull-requests: write` and `contents: read`; {tail}",
                self.short()
            ),
            ApiError::Status { status, .. } if *status >= 500 => format!(
                "{what}: GitHub answered {} and still did after {RETRIES} retries; {tail}",
                self.short()
            ),
            _ => format!("{what}: {}; {tail}", self.short()),
        }
    }

    fn short(&self) -> String {
        match self {
            ApiError::Status {
                status, message, ..
            } => {
                let message: String = message.chars().take(200).collect();
                format!("HTTP {status}: {}", message.replace(['\r', '\n'], " "))
            }
            ApiError::Transport(e) => format!("cannot reach the GitHub API: {e}"),
            ApiError::Unexpected(e) => format!("unexpected answer from the GitHub API: {e}"),
        }
    }

    fn retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status >= 500,
            ApiError::Transport(_) => true,
            ApiError::Unexpected(_) => false,
        }
    }
}

/// One successful answer: the `Link` header's next page, and the body as JSON.
struct Answer {
    next: Option<String>,
    body: Value,
}

/// The few REST calls we make, with our own retry so the count is ours to decide.
struct Api {
    octo: Octocrab,
    repo_path: String,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Api {
    fn new(rt: &Runtime, token: &str, owner: &str, repo: &str) -> Result<Self, String> {
        let base = rt
            .api_url
            .as_deref()
            .unwrap_or(DEFAULT_API)
            .trim_end_matches('/');
        let mut builder = Octocrab::builder()
            .base_uri(base)
            .map_err(|e| format!("GITHUB_API_URL `{base}` is not a URL ({e})"))?
            .personal_token(token.to_string())
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .set_write_timeout(Some(Duration::from_secs(30)));
        if let Ok(name) = "x-github-api-version".parse() {
            builder = builder.add_header(name, "2022-11-28".to_string());
        }
        let octo = builder
            .build()
            .map_err(|e| format!("cannot set up the GitHub client ({e})"))?;
        Ok(Api {
            octo,
            repo_path: format!("/repos/{}/{}", segment(owner), segment(repo)),
        })
    }

    async fn commit_pulls(&self, sha: &str) -> Result<Vec<Value>, ApiError> {
        let path = format!(
            "{}/commits/{}/pulls?per_page=100",
            self.repo_path,
            segment(sha)
        );
        let answer = self.call(Method::Get, &path, None).await?;
        match answer.body {
            Value::Array(items) => Ok(items),
            other => Err(ApiError::Unexpected(format!(
                "the pull requests of a commit are not a list: {}",
                crate::taskdef::kind(&other)
            ))),
        }
    }

    /// The login of the token's identity: `GET /user`, which a personal token may call and a
    /// workflow's `GITHUB_TOKEN` or an App's installation token may not (`None` then).
    async fn login(&self) -> Option<String> {
        let answer = self.call(Method::Get, "/user", None).await.ok()?;
        answer.body["login"].as_str().map(str::to_string)
    }

    /// The comments of this pull request whose body begins with the marker, following the
    /// `Link: rel="next"` pages until one written by a bot is found.
    async fn find_comments(&self, pr: u64, marker: &str) -> Result<Marked, ApiError> {
        let mut marked = Marked::default();
        let mut next = Some(format!(
            "{}/issues/{pr}/comments?per_page=100",
            self.repo_path
        ));
        let mut pages = 0;
        while let Some(uri) = next.take() {
            pages += 1;
            let answer = self.call(Method::Get, &uri, None).await?;
            let Value::Array(comments) = answer.body else {
                return Err(ApiError::Unexpected(format!(
                    "the comments of pull request #{pr} are not a list"
                )));
            };
            for c in &comments {
                let starts = c["body"]
                    .as_str()
                    .is_some_and(|b| b.trim_start().starts_with(marker));
                let Some(id) = c["id"].as_u64().filter(|_| starts) else {
                    continue;
                };
                if c["user"]["type"].as_str() == Some("Bot") {
                    marked.by_bot = Some(id);
                    return Ok(marked);
                }
                let login = c["user"]["login"].as_str().unwrap_or("an unknown user");
                marked.by_people.push((id, login.to_string()));
            }
            if pages < MAX_PAGES {
                next = answer.next;
            }
        }
        Ok(marked)
    }

    async fn create_comment(&self, pr: u64, body: &str) -> Result<u64, ApiError> {
        let path = format!("{}/issues/{pr}/comments", self.repo_path);
        let answer = self
            .call(Method::Post, &path, Some(&json!({ "body": body })))
            .await?;
        answer.body["id"]
            .as_u64()
            .ok_or_else(|| ApiError::Unexpected("the created comment has no id".into()))
    }

    async fn update_comment(&self, id: u64, body: &str) -> Result<(), ApiError> {
        let path = format!("{}/issues/comments/{id}", self.repo_path);
        self.call(Method::Patch, &path, Some(&json!({ "body": body })))
            .await
            .map(drop)
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let mut attempt = 0;
        loop {
            match self.once(method, uri, body).await {
                Err(e) if e.retryable() && attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!("GitHub API {uri}: {} (retry {attempt})", e.short());
                    tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let sent = match method {
            Method::Get => self.octo._get(uri).await,
            Method::Post => self.octo._post(uri, body).await,
            Method::Patch => self.octo._patch(uri, body).await,
        };
        let response = sent.map_err(|e| ApiError::Transport(transport_message(&e)))?;
        let status = response.status();
        let next = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let remaining_zero = response
            .headers()
            .get("x-ratelimit-remaining")
            .is_some_and(|v| v == "0");
        let text = self
            .octo
            .body_to_string(response)
            .await
            .map_err(|e| ApiError::Transport(transport_message(&e)))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = json["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    status
                        .canonical_reason()
                        .unwrap_or("unknown error")
                        .to_string()
                });
            let rate_limited = matches!(status.as_u16(), 403 | 429)
                && (remaining_zero || message.to_ascii_lowercase().contains("rate limit"));
            return Err(ApiError::Status {
                status: status.as_u16(),
                message,
                rate_limited,
            });
        }
        Ok(Answer { next, body: json })
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// A path segment from outside (owner, repo, sha): only characters that cannot change the
/// path. GitHub's names already fit; anything else is percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The innermost cause: octocrab's own text for a transport error is a generic wrapper.
fn transport_message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_pull_request_of_the_branch_wins_then_the_merged_one() {
        let pulls = vec![
            json!({"number": 7, "state": "closed", "merged_at": "2026-01-01T00:00:00Z", "head": {"ref": "feature"}}),
            json!({"number": 9, "state": "open", "merged_at": null, "head": {"ref": "other"}}),
            json!({"number": 12, "state": "open", "merged_at": null, "head": {"ref": "dev"}}),
        ];
        assert_eq!(choose_pull_request(&pulls, Some("dev")), Some(12));
        assert_eq!(choose_pull_request(&pulls, Some("main")), Some(7));
        assert_eq!(choose_pull_request(&pulls[1..2], Some("main")), None);
        assert_eq!(choose_pull_request(&[], Some("dev")), None);
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let h = r#"<https://api.github.com/repositories/1/issues/2/comments?page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/issues/2/comments?page=2")
        );
        assert_eq!(
            next_link(r#"<https://x/?page=1>; rel="prev", <https://x/?page=1>; rel="first""#),
            None
        );
    }

    #[test]
    fn a_marked_comment_is_ours_only_when_a_bot_or_the_token_wrote_it() {
        let people = |v: &[(u64, &str)]| -> Vec<(u64, String)> {
            v.iter().map(|(i, l)| (*i, l.to_string())).collect()
        };
        let m = |bot: Option<u64>, p: &[(u64, &str)]| Marked {
            by_bot: bot,
            by_people: people(p),
        };
        // The workflow's token: the bot's comment is ours, a person's is left alone.
        assert_eq!(
            m(Some(7), &[(3, "mallory")]).split(None),
            (Some(7), people(&[(3, "mallory")]))
        );
        // Only people's comments, identity unknown: none is ours.
        assert_eq!(
            m(None, &[(3, "mallory")]).split(None),
            (None, people(&[(3, "mallory")]))
        );
        // A personal token: its own comment is ours, the first of them.
        assert_eq!(
            m(None, &[(3, "mallory"), (5, "deployer"), (9, "deployer")]).split(Some("deployer")),
            (Some(5), people(&[(3, "mallory"), (9, "deployer")]))
        );
    }

    #[test]
    fn the_body_starts_with_the_marker_and_fits() {
        let body = comment_body("dataspace-dev", &"x\n".repeat(40_000));
        assert!(body.starts_with("<!-- ecs-deploy:dataspace-dev -->\n\n"));
        assert!(body.chars().count() <= COMMENT_LIMIT_CHARS);
        assert!(body.contains("limited to 65,536 characters"));
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn fork_and_permission_failures_say_the_fix() {
        let forbidden = ApiError::Status {
            status: 403,
            message: "Resource not accessible by integration".into(),
            rate_limited: false,
        };
        let text = forbidden.explain("commenting on pull request #2", None);
        assert!(text.contains("permissions: pull-requests: write"), "{text}");
        let text = forbidden.explain("commenting on pull request #2", Some("octo/fork"));
        assert!(
            text.contains("fork octo/fork") && text.contains("read-only token"),
            "{text}"
        );
    }
}
