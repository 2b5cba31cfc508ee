//! The sticky pull-request comment (issue 5): the real binary deploys to moto and talks to a
//! local server standing in for the GitHub REST API, which serves GitHub's documented JSON
//! shapes (commit → pulls, paged comment lists with `Link` headers, create, update) and can
//! answer 403 or 500. Each test asserts the requests the binary made, the comment it left,
//! what it printed, and that the deploy's exit code does not depend on GitHub.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::support::runner::{REPOSITORY, SHA};
use crate::support::*;

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
pub(crate) const TOKEN: &str = "ghs_canaryToken16C7e42F292c6912E7710c838347Ae178B4a";
const SECRET: &str = "canary-6f1c2f0e9b";
const SESSION_TOKEN: &str = "canary-session-token-3a9f0c";
const OIDC_REQUEST_TOKEN: &str = "canary-oidc-request-token-71be";
const OIDC_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.canary-oidc-jwt-5d2e.sig";
const MARKER: &str = "<!-- ecs-deploy:dataspace-dev -->";
/// The open pull request of the pushed branch `dev`.
pub(crate) const DEV_PR: u64 = 12;
/// A merged pull request that brought the commit into `main`.
const MERGED_PR: u64 = 7;
/// Comments the server shows per page, so that a handful already needs a second page.
const PAGE_SIZE: usize = 2;

/// The app's task definition, with the secret substituted into its environment.
const APP_JSON: &str = r#"{
  "family": "dataspace-app",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "512",
  "memory": "1 GB",
  "executionRoleArn": "arn:aws:iam::123456789012:role/dataspace-ecs-execution",
  "taskRoleArn": "arn:aws:iam::123456789012:role/dataspace-ecs-task",
  "containerDefinitions": [
    {
      "name": "dataspace",
      "image": "${ECR_REGISTRY}/dataspace:${IMAGE_TAG}",
      "essential": true,
      "portMappings": [{ "containerPort": 8000, "protocol": "tcp" }],
      "environment": [
        { "name": "DJANGO_SETTINGS_MODULE", "value": "dataspace.settings" },
        { "name": "DJANGO_SECRET_KEY", "value": "${DJANGO_SECRET_KEY}" },
        { "name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317" }
      ],
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/ecs/dataspace",
          "awslogs-region": "us-east-1",
          "awslogs-stream-prefix": "app"
        }
      }
    }
  ]
}"#;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Fail {
    Never,
    /// Creating or editing a comment answers 403, as for a token without `pull-requests: write`.
    Writes403,
    /// Every call answers 500.
    Always500,
}

/// The fake GitHub: one repository, the pull requests of `SHA`, and the comments of them.
pub(crate) struct GitHub {
    server: HttpServer,
    comments: Arc<Mutex<Vec<Value>>>,
}

impl GitHub {
    pub(crate) fn start(pulls: Value, fail: Fail) -> Self {
        let comments = Arc::new(Mutex::new(seed_comments()));
        let next_id = Arc::new(AtomicU64::new(1_900_000_000));
        let store = Arc::clone(&comments);
        let server = HttpServer::start(move |req| answer(req, &pulls, fail, &store, &next_id));
        GitHub { server, comments }
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// `METHOD /path` of every request, query strings included.
    fn calls(&self) -> Vec<String> {
        self.server
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// The comments on a pull request carrying our marker.
    pub(crate) fn ours(&self, pr: u64) -> Vec<Value> {
        self.comments
            .lock()
            .unwrap()
            .iter()
            .filter(|c| {
                c["issue_url"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{pr}"))
            })
            .filter(|c| c["body"].as_str().unwrap().starts_with(MARKER))
            .cloned()
            .collect()
    }
}

fn user(login: &str, id: u64, kind: &str) -> Value {
    json!({
        "login": login,
        "id": id,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "type": kind,
        "site_admin": false,
    })
}

fn comment(id: u64, pr: u64, body: &str, author: Value) -> Value {
    json!({
        "id": id,
        "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
        "url": format!("https://api.github.com/repos/{REPOSITORY}/issues/comments/{id}"),
        "html_url": format!("https://github.com/{REPOSITORY}/pull/{pr}#issuecomment-{id}"),
        "body": body,
        "user": author,
        "created_at": "2026-01-01T12:00:00Z",
        "updated_at": "2026-01-01T12:00:00Z",
        "issue_url": format!("https://api.github.com/repos/{REPOSITORY}/issues/{pr}"),
        "author_association": "MEMBER",
    })
}

/// What a pull request already holds: people talking, and another environment's report,
/// which must be left alone.
fn seed_comments() -> Vec<Value> {
    let mut out = Vec::new();
    for pr in [DEV_PR, MERGED_PR, 2] {
        out.push(comment(
            1_000 + pr,
            pr,
            "Looks good to me. Shall we deploy to dev first?",
            user("octocat", 583231, "User"),
        ));
        out.push(comment(
            2_000 + pr,
            pr,
            "<!-- ecs-deploy:dataspace-prod -->\n\n## ✅ ecs-deploy: deployed on `dataspace-prod`",
            user("github-actions[bot]", 41898282, "Bot"),
        ));
        out.push(comment(
            3_000 + pr,
            pr,
            "Mentions ecs-deploy:dataspace-dev in passing, but is not the report.",
            user("hubot", 1, "User"),
        ));
    }
    out
}

pub(crate) fn pull(number: u64, state: &str, head_ref: &str, merged: bool) -> Value {
    let repo = json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": "dataspace",
        "full_name": REPOSITORY,
        "private": false,
        "owner": user("acme", 9919, "Organization"),
        "html_url": format!("https://github.com/{REPOSITORY}"),
        "fork": false,
        "default_branch": "main",
    });
    json!({
        "url": format!("https://api.github.com/repos/{REPOSITORY}/pulls/{number}"),
        "id": 1_000_000 + number,
        "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
        "html_url": format!("https://github.com/{REPOSITORY}/pull/{number}"),
        "number": number,
        "state": state,
        "locked": false,
        "title": format!("Pull request {number}"),
        "user": user("octocat", 583231, "User"),
        "body": "Please pull these awesome changes in!",
        "created_at": "2026-01-01T10:00:00Z",
        "updated_at": "2026-01-01T11:00:00Z",
        "closed_at": if merged { json!("2026-01-01T11:00:00Z") } else { Value::Null },
        "merged_at": if merged { json!("2026-01-01T11:00:00Z") } else { Value::Null },
        "merge_commit_sha": SHA,
        "draft": false,
        "head": { "label": format!("acme:{head_ref}"), "ref": head_ref, "sha": SHA, "user": user("acme", 9919, "Organization"), "repo": repo },
        "base": { "label": "acme:main", "ref": "main", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "user": user("acme", 9919, "Organization"), "repo": repo },
        "author_association": "MEMBER",
    })
}

fn json_with(status: u16, body: &Value) -> Response {
    Response::json(status, body)
        .with_header("Content-Type", "application/json; charset=utf-8")
        .with_header("X-GitHub-Media-Type", "github.v3; format=json")
        .with_header("X-RateLimit-Limit", "1000")
        .with_header("X-RateLimit-Remaining", "998")
}

fn answer(
    req: &Request,
    pulls: &Value,
    fail: Fail,
    store: &Mutex<Vec<Value>>,
    next_id: &AtomicU64,
) -> Response {
    if fail == Fail::Always500 {
        return json_with(500, &json!({ "message": "Server Error" }));
    }
    let path = req.path_only().to_string();
    let query = req.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let repo = format!("/repos/{REPOSITORY}");
    let forbidden = || {
        json_with(
            403,
            &json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                "status": "403",
            }),
        )
    };
    match req.method.as_str() {
        "GET" if path == format!("{repo}/commits/{SHA}/pulls") => json_with(200, pulls),
        "GET" if path.ends_with("/comments") => {
            // `/repos/o/r/issues/N/comments` first, `/repositories/ID/issues/N/comments` in
            // the `Link` header, as GitHub does.
            let pr: u64 = path
                .trim_end_matches("/comments")
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let all: Vec<Value> = store
                .lock()
                .unwrap()
                .iter()
                .filter(|c| {
                    c["issue_url"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!("/{pr}"))
                })
                .cloned()
                .collect();
            let pages = all.len().div_ceil(PAGE_SIZE).max(1);
            let items: Vec<Value> = all
                .into_iter()
                .skip((page - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .collect();
            let host = req.header("Host").unwrap_or("127.0.0.1");
            let link = |p: usize| {
                format!("<http://{host}/repositories/1296269/issues/{pr}/comments?per_page=100&page={p}>")
            };
            let mut rels = Vec::new();
            if page < pages {
                rels.push(format!("{}; rel=\"next\"", link(page + 1)));
                rels.push(format!("{}; rel=\"last\"", link(pages)));
            }
            if page > 1 {
                rels.push(format!("{}; rel=\"prev\"", link(page - 1)));
                rels.push(format!("{}; rel=\"first\"", link(1)));
            }
            let resp = json_with(200, &Value::Array(items));
            if rels.is_empty() {
                resp
            } else {
                resp.with_header("Link", &rels.join(", "))
            }
        }
        "POST" if path.starts_with(&format!("{repo}/issues/")) && path.ends_with("/comments") => {
            if fail == Fail::Writes403 {
                return forbidden();
            }
            let pr: u64 = path
                .trim_end_matches("/comments")
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a pull-request number in the path");
            let id = next_id.fetch_add(1, Ordering::SeqCst);
            let body = req.json()["body"].as_str().unwrap_or_default().to_string();
            let c = comment(id, pr, &body, user("github-actions[bot]", 41898282, "Bot"));
            store.lock().unwrap().push(c.clone());
            json_with(201, &c).with_header(
                "Location",
                &format!("https://api.github.com/repos/{REPOSITORY}/issues/comments/{id}"),
            )
        }
        "PATCH" if path.starts_with(&format!("{repo}/issues/comments/")) => {
            if fail == Fail::Writes403 {
                return forbidden();
            }
            let id: u64 = path.rsplit('/').next().unwrap().parse().unwrap();
            let body = req.json()["body"].as_str().unwrap_or_default().to_string();
            let mut all = store.lock().unwrap();
            match all.iter_mut().find(|c| c["id"] == json!(id)) {
                Some(c) => {
                    c["body"] = json!(body);
                    c["updated_at"] = json!("2026-01-01T12:30:00Z");
                    json_with(200, c)
                }
                None => json_with(404, &json!({ "message": "Not Found" })),
            }
        }
        // A workflow's GITHUB_TOKEN cannot read its own user.
        "GET" if path == "/user" => json_with(
            403,
            &json!({ "message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "403" }),
        ),
        _ => json_with(
            404,
            &json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest" }),
        ),
    }
}

/// A `Run` that deploys the app with the secret
/// substituted into its environment, talking to `github`.
fn deploy_run(moto: &Moto, github: &GitHub) -> Run {
    Run::new(&moto.url())
        .env("GITHUB_API_URL", &github.url())
        .env("ECR_REGISTRY", REGISTRY)
        .env("IMAGE_TAG", "v2")
        .env("DJANGO_SECRET_KEY", SECRET)
        .input("github-token", TOKEN)
        .input("cluster", "dataspace-dev")
        .input("service", "dataspace-app")
        .input("task-definition", "aws/task-definition.json")
        .input("poll-interval-seconds", "0.2")
        .file("aws/task-definition.json", APP_JSON)
}

/// moto with the DataSpace services and the image `dataspace:v2` pushed.
fn moto() -> Moto {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    seed_dataspace(&moto);
    push_image(&moto, "dataspace", "v2");
    moto
}

fn event_file(run: Run, name: &str, payload: &Value) -> Run {
    let path = run.runner_temp().join(format!("{name}-event.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(payload).unwrap()).unwrap();
    run.env("GITHUB_EVENT_NAME", name)
        .env("GITHUB_EVENT_PATH", &path.to_string_lossy())
}

fn pulls_lookup() -> String {
    format!("GET /repos/{REPOSITORY}/commits/{SHA}/pulls?per_page=100")
}

/// GitHub's documented `pull_request` payload (trimmed), for pull request #2 of `acme/dataspace`,
/// from `head_repo` (a fork when it is not `acme/dataspace`).
fn pull_request_event(head_repo: &str) -> Value {
    json!({
        "action": "synchronize",
        "number": 2,
        "pull_request": {
            "url": format!("https://api.github.com/repos/{REPOSITORY}/pulls/2"),
            "id": 279147437,
            "node_id": "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3",
            "html_url": format!("https://github.com/{REPOSITORY}/pull/2"),
            "number": 2,
            "state": "open",
            "locked": false,
            "title": "Update the README with new information.",
            "user": user("Codertocat", 21031067, "User"),
            "body": "This is a pretty simple change that we need to pull into main.",
            "created_at": "2019-05-15T15:20:33Z",
            "updated_at": "2019-05-15T15:20:33Z",
            "merged_at": null,
            "draft": false,
            "head": {
                "label": "Codertocat:changes",
                "ref": "changes",
                "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                "user": user("Codertocat", 21031067, "User"),
                "repo": { "id": 186853002, "name": "dataspace", "full_name": head_repo, "fork": head_repo != REPOSITORY },
            },
            "base": {
                "label": "acme:main",
                "ref": "main",
                "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                "user": user("acme", 9919, "Organization"),
                "repo": { "id": 1296269, "name": "dataspace", "full_name": REPOSITORY, "fork": false },
            },
            "author_association": "CONTRIBUTOR",
            "merged": false,
            "commits": 1,
            "additions": 1,
            "deletions": 1,
            "changed_files": 1,
        },
        "repository": { "id": 1296269, "name": "dataspace", "full_name": REPOSITORY, "private": false },
        "sender": user("Codertocat", 21031067, "User"),
    })
}

/// The warnings about the comment (the deploy itself warns about the secret in `environment`).
fn warnings(o: &Outcome) -> Vec<String> {
    o.stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .filter(|l| {
            ["pull request", "GitHub", "github-token"]
                .iter()
                .any(|w| l.contains(w))
        })
        .map(str::to_string)
        .collect()
}

/// Issue 5: a push to `dev` with an open pull request from `dev` creates one comment there
/// (after paging through the existing ones), and the next run edits that same comment.
#[test]
fn push_creates_one_sticky_comment_and_the_next_run_updates_it() {
    let moto = moto();
    let pulls = json!([
        pull(MERGED_PR, "closed", "feature-x", true),
        pull(DEV_PR, "open", "dev", false),
    ]);
    let github = GitHub::start(pulls, Fail::Never);
    let run = deploy_run(&moto, &github);

    let first = run.run();
    first.assert_code(0);
    assert_eq!(first.output("result"), "deployed", "{}", first.all_text());
    let comments = format!("/repos/{REPOSITORY}/issues/{DEV_PR}/comments");
    assert_eq!(
        github.calls(),
        vec![
            pulls_lookup(),
            format!("GET {comments}?per_page=100"),
            format!("GET /repositories/1296269/issues/{DEV_PR}/comments?per_page=100&page=2"),
            format!("POST {comments}"),
        ],
        "{}",
        first.all_text()
    );
    for r in github.server.requests() {
        assert_eq!(r.header("Authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert_ne!(
            r.path_only(),
            "/user",
            "the marker alone identifies the comment"
        );
    }
    let ours = github.ours(DEV_PR);
    assert_eq!(ours.len(), 1, "{ours:#?}");
    let body = ours[0]["body"].as_str().unwrap().to_string();
    let id = ours[0]["id"].as_u64().unwrap();
    assert!(
        body.contains("## ✅ ecs-deploy: deployed on `dataspace-dev`"),
        "{body}"
    );
    assert!(body.contains("| `dataspace-app` | `dataspace-app:1` → `dataspace-app:2` | dataspace: `dataspace:v1` → `dataspace:v2` | deployed |"), "{body}");
    assert!(body.contains(&format!("commit `{}`", &SHA[..12])), "{body}");
    assert!(body.contains("trigger `push`"), "{body}");
    assert!(body.contains(&format!(
        "[workflow run](https://github.com/{REPOSITORY}/actions/runs/4242)"
    )));
    assert!(body.contains("[ECS console](https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/dataspace-dev/services?region=us-east-1)"));
    assert!(first.stdout.contains(&format!(
        "pull request #{DEV_PR}: comment {id} created (dataspace-dev)"
    )));
    assert!(warnings(&first).is_empty(), "{}", first.all_text());
    assert!(first
        .summary
        .contains("## ✅ ecs-deploy: deployed on `dataspace-dev`"));

    let second = run.run();
    second.assert_code(0);
    let calls = github.calls()[4..].to_vec();
    assert_eq!(
        calls,
        vec![
            pulls_lookup(),
            format!("GET {comments}?per_page=100"),
            format!("GET /repositories/1296269/issues/{DEV_PR}/comments?per_page=100&page=2"),
            format!("PATCH /repos/{REPOSITORY}/issues/comments/{id}"),
        ],
        "{}",
        second.all_text()
    );
    let ours = github.ours(DEV_PR);
    assert_eq!(ours.len(), 1, "never two comments for one key: {ours:#?}");
    assert_eq!(ours[0]["id"].as_u64(), Some(id));
    assert!(ours[0]["body"]
        .as_str()
        .unwrap()
        .contains("unchanged on `dataspace-dev`"));
    assert!(second.stdout.contains(&format!(
        "pull request #{DEV_PR}: comment {id} updated (dataspace-dev)"
    )));
    let prod = github.comments.lock().unwrap().clone();
    assert!(
        prod.iter()
            .filter(|c| c["body"].as_str().unwrap().contains("dataspace-prod"))
            .all(|c| c["updated_at"] == "2026-01-01T12:00:00Z"),
        "another environment's comment is left alone"
    );
}

/// A `pull_request` event names its pull request: no lookup, and `plan` shows the diff.
#[test]
fn pull_request_event_comments_the_plan_on_its_pull_request() {
    let moto = moto();
    let github = GitHub::start(json!([]), Fail::Never);
    let run = event_file(
        deploy_run(&moto, &github).input("mode", "plan"),
        "pull_request",
        &pull_request_event(REPOSITORY),
    );
    let o = run.run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "planned");
    let calls = github.calls();
    assert_eq!(
        calls.last().map(String::as_str),
        Some(&*format!("POST /repos/{REPOSITORY}/issues/2/comments")),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c.contains("/pulls")), "{calls:?}");
    let ours = github.ours(2);
    assert_eq!(ours.len(), 1);
    let body = ours[0]["body"].as_str().unwrap();
    assert!(
        body.contains("## 📝 ecs-deploy plan: planned on `dataspace-dev`"),
        "{body}"
    );
    assert!(
        body.contains("<details><summary>dataspace-app task-definition diff"),
        "{body}"
    );
    assert!(body.contains("```diff\n--- live\n+++ rendered\n"), "{body}");
    assert!(
        body.contains("| `dataspace-app` | `dataspace-app:1` → new revision | dataspace: `dataspace:v1` → `dataspace:v2` | would deploy |"),
        "{body}"
    );
    assert!(
        body.contains(
            "+          \"name\": \"DJANGO_SECRET_KEY\",\n+          \"value\": \"(redacted)\""
        ),
        "environment values are redacted in the diff: {body}"
    );
    assert!(!body.contains(SECRET));
}

/// A `workflow_dispatch` run on `main` comments on the merged pull request of its commit.
#[test]
fn workflow_dispatch_comments_on_the_merged_pull_request() {
    let moto = moto();
    let pulls = json!([pull(MERGED_PR, "closed", "feature-x", true)]);
    let github = GitHub::start(pulls, Fail::Never);
    let payload = json!({
        "inputs": { "environment": "dev" },
        "ref": "refs/heads/main",
        "repository": { "id": 1296269, "name": "dataspace", "full_name": REPOSITORY },
        "organization": { "login": "acme", "id": 9919 },
        "sender": user("octocat", 583231, "User"),
        "workflow": ".github/workflows/deploy.yml",
    });
    let run = event_file(deploy_run(&moto, &github), "workflow_dispatch", &payload)
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_REF_NAME", "main");
    let o = run.run();
    o.assert_code(0);
    let calls = github.calls();
    assert_eq!(calls[0], pulls_lookup());
    assert_eq!(
        calls.last().map(String::as_str),
        Some(&*format!(
            "POST /repos/{REPOSITORY}/issues/{MERGED_PR}/comments"
        )),
        "{calls:?}"
    );
    let ours = github.ours(MERGED_PR);
    assert_eq!(ours.len(), 1);
    assert!(ours[0]["body"]
        .as_str()
        .unwrap()
        .contains("trigger `workflow_dispatch`"));
}

/// A push whose commit is in no pull request: the lookup, then nothing.
#[test]
fn push_without_a_pull_request_makes_no_comment_call() {
    let moto = moto();
    let github = GitHub::start(json!([]), Fail::Never);
    let o = deploy_run(&moto, &github).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    assert_eq!(github.calls(), vec![pulls_lookup()]);
    assert!(warnings(&o).is_empty(), "{}", o.all_text());
    assert!(o.summary.contains("ecs-deploy: deployed"));
}

/// `comment-on-pr: false`: GitHub is not called at all.
#[test]
fn comment_on_pr_false_calls_nothing() {
    let moto = moto();
    let github = GitHub::start(json!([pull(DEV_PR, "open", "dev", false)]), Fail::Never);
    let o = deploy_run(&moto, &github)
        .input("comment-on-pr", "false")
        .run();
    o.assert_code(0);
    assert!(github.calls().is_empty(), "{:?}", github.calls());
}

/// A token without `pull-requests: write`: a warning that says the fix, and the deploy passes.
#[test]
fn forbidden_comment_is_a_warning_with_the_permission_fix() {
    let moto = moto();
    let github = GitHub::start(json!([pull(DEV_PR, "open", "dev", false)]), Fail::Writes403);
    let o = deploy_run(&moto, &github).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    let w = warnings(&o).join("\n");
    assert!(
        w.contains("commenting on pull request #12"),
        "{}",
        o.all_text()
    );
    assert!(w.contains("permissions: pull-requests: write"), "{w}");
    assert!(
        w.contains("HTTP 403: Resource not accessible by integration"),
        "{w}"
    );
    assert_eq!(
        github.calls().last().map(String::as_str),
        Some(&*format!(
            "POST /repos/{REPOSITORY}/issues/{DEV_PR}/comments"
        ))
    );
}

/// A pull request from a fork gets a read-only token: the warning explains that.
#[test]
fn fork_pull_request_explains_the_read_only_token() {
    let moto = moto();
    let github = GitHub::start(json!([]), Fail::Writes403);
    let run = event_file(
        deploy_run(&moto, &github).input("mode", "plan"),
        "pull_request",
        &pull_request_event("Codertocat/dataspace"),
    );
    let o = run.run();
    o.assert_code(0);
    let w = warnings(&o).join("\n");
    assert!(w.contains("fork Codertocat/dataspace"), "{}", o.all_text());
    assert!(w.contains("read-only token"), "{w}");
    assert!(github.ours(2).is_empty());
}

/// GitHub down: each call is tried three times in all, then a warning; the deploy passes.
#[test]
fn server_errors_are_retried_then_a_warning() {
    let moto = moto();
    let github = GitHub::start(json!([]), Fail::Always500);
    let o = deploy_run(&moto, &github).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    assert_eq!(github.calls(), vec![pulls_lookup(); 3]);
    let w = warnings(&o).join("\n");
    assert!(
        w.contains("finding the pull request of this commit"),
        "{}",
        o.all_text()
    );
    assert!(w.contains("HTTP 500: Server Error"), "{w}");
    assert!(w.contains("after 2 retries"), "{w}");
}

/// The canary: a secret substituted into the app's environment, and the token, appear in
/// nothing the run printed or wrote, nor in anything GitHub received (the token only in the
/// `Authorization` header), for a plan with its diff and for a deploy.
#[test]
fn no_secret_from_any_entry_point_reaches_output_or_github() {
    let moto = moto();
    let github = GitHub::start(json!([pull(DEV_PR, "open", "dev", false)]), Fail::Never);
    let plan = deploy_run(&moto, &github).input("mode", "plan");
    let planned = plan.run();
    planned.assert_code(0);
    // The deploy also assumes a role with a GitHub OIDC token, on top of session credentials:
    // every place a secret can enter the process, in one run.
    let oidc = HttpServer::start(|_: &Request| Response::json(200, &json!({ "value": OIDC_JWT })));
    let deploy = deploy_run(&moto, &github)
        .arg("--output")
        .arg("json")
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/token?x=1", oidc.url()),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
        .input("role-to-assume", "arn:aws:iam::123456789012:role/deployer");
    let deployed = deploy.run();
    deployed.assert_code(0);
    assert_eq!(
        deployed.output("result"),
        "deployed",
        "{}",
        deployed.all_text()
    );
    assert_eq!(oidc.requests().len(), 1, "the OIDC token was fetched");
    // The secret did reach ECS: the check below is not vacuous.
    let td = moto.task_definition("dataspace-app:2");
    assert!(td.to_string().contains(SECRET), "{td}");

    let canaries = [
        SECRET,
        TOKEN,
        SESSION_TOKEN,
        OIDC_REQUEST_TOKEN,
        OIDC_JWT,
        crate::support::runner::SECRET_ACCESS_KEY,
    ];
    assert!(
        github.server.requests().iter().any(|r| r.method == "PATCH"),
        "{:?}",
        github.calls()
    );
    assert_never_shown(&[&planned, &deployed], &github, &canaries);
}

/// The words of a canary: its runs of letters, digits, `-` and `.` (five or more long). Every
/// encoding the program or GitHub may apply (JSON, Markdown, HTML, URL) leaves such a run as it
/// is, so a canary printed in any encoding leaves at least one of its words intact: checking
/// the words checks every encoding at once.
fn words(canary: &str) -> Vec<&str> {
    canary
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .filter(|w| w.len() >= 5)
        .collect()
}

/// No word of any canary is in anything the runs printed or wrote (stdout with `--output json`,
/// stderr, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`), nor in anything GitHub received: the
/// token only in the `Authorization` header.
fn assert_never_shown(runs: &[&Outcome], github: &GitHub, canaries: &[&str]) {
    for o in runs {
        let text = o.all_text();
        for canary in canaries {
            for w in words(canary) {
                assert!(!text.contains(w), "{w} of {canary:?} leaked:\n{text}");
            }
        }
    }
    for r in &github.server.requests() {
        let seen = format!("{} {}\n{}", r.method, r.path, r.body_str());
        for canary in canaries {
            for w in words(canary) {
                assert!(
                    !seen.contains(w),
                    "GitHub received {w} of {canary:?}:\n{seen}"
                );
            }
            for (k, v) in &r.headers {
                if !k.eq_ignore_ascii_case("authorization") {
                    assert!(!v.contains(canary), "header {k} carries {canary}");
                }
            }
        }
    }
}

/// Issue 18: secrets holding a quote, a backslash, a TAB, a newline and `&<>`, substituted into
/// `command` and `dockerLabels` (which the plan's diff shows) and into the environment, appear
/// in no encoding (as is, JSON-escaped, Markdown-escaped, URL-encoded) in any channel of a plan:
/// the log, `--output json`, the outputs, the job summary and the pull-request comment.
#[test]
fn secrets_with_quotes_and_control_characters_are_hidden_in_every_encoding() {
    const API_TOKEN: &str = "QzKp7\"WxLm1\\RtNb4\tYuHg8\nPlVc2&<>MkJd9";
    const LABEL_SECRET: &str = "JhTr5\tGfSd6\"DcXe3\\VbWq2<&>NmZa0";
    const DATABASE_URL: &str = "pgQw3://uZx8a:LkOp4\"IjUy7\t&<>@dBnY6/TgBn6";
    let moto = moto();
    let github = GitHub::start(json!([pull(DEV_PR, "open", "dev", false)]), Fail::Never);
    let mut td: Value = serde_json::from_str(APP_JSON).unwrap();
    let c = &mut td["containerDefinitions"][0];
    c["command"] = json!(["gunicorn", "--token=${API_TOKEN}"]);
    c["dockerLabels"] = json!({ "build": "${LABEL_SECRET}" });
    c["environment"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "DATABASE_URL", "value": "${DATABASE_URL}" }));
    let planned = deploy_run(&moto, &github)
        .input("mode", "plan")
        .arg("--output")
        .arg("json")
        .env("API_TOKEN", API_TOKEN)
        .env("LABEL_SECRET", LABEL_SECRET)
        .env("DATABASE_URL", DATABASE_URL)
        .file("aws/task-definition.json", &td.to_string())
        .run();
    planned.assert_code(0);
    assert_eq!(
        planned.output("result"),
        "planned",
        "{}",
        planned.all_text()
    );
    // Not vacuous: the diff shows both fields, masked, and the comment was posted.
    let shown = |field: &str| {
        planned
            .stdout
            .lines()
            .any(|l| l.contains(field) && l.contains("***"))
    };
    assert!(
        shown("command") && shown("dockerLabels"),
        "{}",
        planned.all_text()
    );
    assert!(planned.summary.contains("***"), "{}", planned.summary);
    assert_eq!(github.ours(DEV_PR).len(), 1, "{:?}", github.calls());
    assert_never_shown(
        &[&planned],
        &github,
        &[API_TOKEN, LABEL_SECRET, DATABASE_URL, SECRET, TOKEN],
    );
    assert_eq!(
        moto.service("dataspace-dev", "dataspace-app")["taskDefinition"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next(),
        Some("1"),
        "a plan changes nothing"
    );
}

/// Issue 18: a comment written by a person that begins with this deploy's marker is never
/// edited; the run says so and posts its report as a comment of its own.
#[test]
fn a_marked_comment_written_by_someone_else_is_left_alone() {
    let moto = moto();
    let github = GitHub::start(json!([pull(DEV_PR, "open", "dev", false)]), Fail::Never);
    let planted = "<!-- ecs-deploy:dataspace-dev -->\n\nAll good, merge it.";
    github.comments.lock().unwrap().push(comment(
        4_242,
        DEV_PR,
        planted,
        user("mallory", 666, "User"),
    ));
    let o = deploy_run(&moto, &github).run();
    o.assert_code(0);
    let all = github.comments.lock().unwrap().clone();
    let mallory = all.iter().find(|c| c["id"] == json!(4_242)).unwrap();
    assert_eq!(mallory["body"], json!(planted), "never edited");
    assert_eq!(mallory["updated_at"], "2026-01-01T12:00:00Z");
    let ours: Vec<&Value> = all
        .iter()
        .filter(|c| c["user"]["login"] == "github-actions[bot]")
        .filter(|c| {
            c["body"]
                .as_str()
                .unwrap()
                .contains("deployed on `dataspace-dev`")
        })
        .collect();
    assert_eq!(ours.len(), 1, "our own report: {all:#?}");
    assert!(
        github.calls().contains(&"GET /user".to_string()),
        "who we are is asked only because a person's comment carries the marker"
    );
    let w = warnings(&o);
    assert!(
        w.iter()
            .any(|l| l.contains("comment 4242 by @mallory begins with this deploy's marker")),
        "{w:#?}"
    );
}
