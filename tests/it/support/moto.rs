//! One private moto server per test (the local AWS, see DESIGN.md §7), plus raw API helpers
//! the tests use to seed state and to assert what AWS holds afterwards. The helpers talk the
//! wire protocols directly (AWS JSON 1.1 for ECS/ECR, the query protocol for EC2 and
//! CloudFormation) rather than through the product's SDK clients, so a test's view of AWS
//! never depends on the code under test. moto ignores signatures and routes by the service in
//! the `Authorization` header's credential scope, which is all these requests carry.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a fresh moto_server may take to answer `GET /moto-api/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921";
pub const REGION: &str = "us-east-1";
/// The account moto answers for.
pub const ACCOUNT_ID: &str = "123456789012";

/// Options for [`Moto::start_with`].
#[derive(Clone, Debug, Default)]
pub struct MotoOptions {
    /// `MOTO_ECS_SERVICE_RUNNING=<n>`: services come up with `n` running tasks and their
    /// rollout `COMPLETED`, instead of `IN_PROGRESS` with 0 running forever.
    pub service_running: Option<u32>,
    /// Further environment variables for the server process.
    pub env: Vec<(String, String)>,
}

impl MotoOptions {
    pub fn service_running(mut self, n: u32) -> Self {
        self.service_running = Some(n);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
}

/// A running moto_server on `127.0.0.1:<free port>`, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Self {
        Moto::start_with(MotoOptions::default())
    }

    pub fn start_with(opts: MotoOptions) -> Self {
        let bin = moto_server_path();
        let dir = tempfile::Builder::new()
            .prefix("ecs-deploy-moto-")
            .tempdir()
            .expect("creating moto's temp dir");
        let log = dir.path().join("moto_server.log");
        let agent = agent();
        // The server binds port 0 itself and reports the port it got, so no other test can
        // take the port between choosing and binding it.
        let python = bin.with_file_name("python");
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/moto-launch.py");
        let port_file = dir.path().join("port");
        let log_file = fs::File::create(&log).expect("creating moto's log file");
        let mut cmd = Command::new(&python);
        cmd.arg(&launcher)
            .arg(&port_file)
            .env_remove("MOTO_ECS_SERVICE_RUNNING")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("cloning the log handle"))
            .stderr(log_file);
        if let Some(n) = opts.service_running {
            cmd.env("MOTO_ECS_SERVICE_RUNNING", n.to_string());
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("starting {} {}: {e}", python.display(), launcher.display())
        });
        let port = match wait_for_port(&mut child, &port_file) {
            Ok(port) => port,
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moto did not start: {reason}\n--- log ---\n{}", tail(&log));
            }
        };
        if let Err((reason, _)) = wait_ready(&agent, &mut child, port) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moto did not answer: {reason}\n--- log ---\n{}", tail(&log));
        }
        Moto {
            child,
            port,
            log,
            agent,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Wipes all state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let resp = self
            .agent
            .post(format!("{}/moto-api/reset", self.url()))
            .send_empty()
            .expect("POST /moto-api/reset");
        assert!(resp.status().is_success(), "moto reset: {}", resp.status());
    }

    /// An ECS call in the JSON 1.1 protocol; panics with moto's answer on an HTTP error.
    pub fn ecs(&self, op: &str, body: Value) -> Value {
        self.try_ecs(op, body)
            .unwrap_or_else(|(s, b)| panic!("ECS {op} failed with HTTP {s}: {b}"))
    }

    pub fn try_ecs(&self, op: &str, body: Value) -> Result<Value, (u16, String)> {
        self.json_call("ecs", ECS_TARGET, op, &body)
    }

    /// An ECR call in the JSON 1.1 protocol; panics with moto's answer on an HTTP error.
    pub fn ecr(&self, op: &str, body: Value) -> Value {
        self.try_ecr(op, body)
            .unwrap_or_else(|(s, b)| panic!("ECR {op} failed with HTTP {s}: {b}"))
    }

    pub fn try_ecr(&self, op: &str, body: Value) -> Result<Value, (u16, String)> {
        self.json_call("ecr", ECR_TARGET, op, &body)
    }

    /// Any JSON-protocol call (SSM, CloudWatch Logs, Secrets Manager…): `target` is the whole
    /// `X-Amz-Target`, e.g. `Logs_20140328.CreateLogGroup`. Panics on an HTTP error.
    pub fn call_json(&self, service: &str, target: &str, body: Value) -> Value {
        let (prefix, op) = target.rsplit_once('.').unwrap_or((target, ""));
        self.json_call(service, prefix, op, &body)
            .unwrap_or_else(|(s, b)| panic!("{target} failed with HTTP {s}: {b}"))
    }

    fn json_call(
        &self,
        service: &str,
        target: &str,
        op: &str,
        body: &Value,
    ) -> Result<Value, (u16, String)> {
        let (status, text) = self.send(
            service,
            &[
                ("X-Amz-Target", format!("{target}.{op}")),
                ("Content-Type", "application/x-amz-json-1.1".into()),
            ],
            body.to_string(),
        );
        if !(200..300).contains(&status) {
            return Err((status, text));
        }
        if text.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(&text)
            .map_err(|e| (status, format!("answer to {op} is not JSON ({e}): {text}")))
    }

    /// A query-protocol call (form POST) to `service` (`ec2`, `cloudformation`, `sts`…);
    /// `params` must include `Action` and `Version` (EC2 `2016-11-15`, CloudFormation
    /// `2010-05-15`, STS `2011-06-15`). Returns the XML; panics on an HTTP error.
    pub fn query(&self, service: &str, params: &[(&str, &str)]) -> String {
        self.try_query(service, params)
            .unwrap_or_else(|(s, b)| panic!("{service} query {params:?} failed with HTTP {s}: {b}"))
    }

    pub fn try_query(
        &self,
        service: &str,
        params: &[(&str, &str)],
    ) -> Result<String, (u16, String)> {
        let form = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let (status, text) = self.send(
            service,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            form,
        );
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err((status, text))
        }
    }

    fn send(&self, service: &str, headers: &[(&str, String)], body: String) -> (u16, String) {
        let mut req = self
            .agent
            .post(format!("{}/", self.url()))
            .header("Authorization", authorization(service));
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let mut resp = req
            .send(body)
            .unwrap_or_else(|e| panic!("calling moto ({service}): {e}\n{}", self.log_tail()));
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_else(|e| panic!("reading moto's answer ({service}): {e}"));
        (status, text)
    }

    /// Every task-definition ARN moto holds (all pages of ListTaskDefinitions), sorted.
    pub fn task_definition_arns(&self) -> Vec<String> {
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "maxResults": 100 });
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = self.ecs("ListTaskDefinitions", body);
            arns.extend(strings(&page["taskDefinitionArns"]));
            match page["nextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        arns.sort();
        arns
    }

    /// Every service ARN of the cluster (all pages of ListServices), sorted.
    pub fn service_arns(&self, cluster: &str) -> Vec<String> {
        let mut arns = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "cluster": cluster, "maxResults": 100 });
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = self.ecs("ListServices", body);
            arns.extend(strings(&page["serviceArns"]));
            match page["nextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        arns.sort();
        arns
    }

    /// One service as DescribeServices returns it; panics when it is missing.
    pub fn service(&self, cluster: &str, name: &str) -> Value {
        let answer = self.ecs(
            "DescribeServices",
            json!({ "cluster": cluster, "services": [name] }),
        );
        match answer["services"].as_array().and_then(|s| s.first()) {
            Some(service) => service.clone(),
            None => panic!("service {name} not found in cluster {cluster}: {answer}"),
        }
    }

    /// One task definition (by family, family:revision or ARN) as DescribeTaskDefinition
    /// returns it (`taskDefinition` only).
    pub fn task_definition(&self, task_definition: &str) -> Value {
        let answer = self.ecs(
            "DescribeTaskDefinition",
            json!({ "taskDefinition": task_definition }),
        );
        answer["taskDefinition"].clone()
    }

    /// What "nothing changed in AWS" compares: every task-definition ARN, the cluster's
    /// tasks, and per service of the cluster its taskDefinition, desiredCount, deployment ids
    /// and attributes.
    pub fn snapshot(&self, cluster: &str) -> Value {
        let mut services = serde_json::Map::new();
        let arns = self.service_arns(cluster);
        for batch in arns.chunks(10) {
            let answer = self.ecs(
                "DescribeServices",
                json!({ "cluster": cluster, "services": batch }),
            );
            for s in answer["services"].as_array().into_iter().flatten() {
                let mut ids: Vec<String> = s["deployments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["id"].as_str().map(String::from))
                    .collect();
                ids.sort();
                let name = s["serviceName"].as_str().unwrap_or_default().to_string();
                // The attributes a service definition or an UpdateService can change, so an
                // attributes-only update (no new deployment on moto) is seen too.
                let attributes: serde_json::Map<String, Value> = SERVICE_ATTRIBUTES
                    .iter()
                    .filter_map(|k| Some((k.to_string(), s.get(*k)?.clone())))
                    .collect();
                services.insert(
                    name,
                    json!({
                        "taskDefinition": s["taskDefinition"],
                        "desiredCount": s["desiredCount"],
                        "deployments": ids,
                        "attributes": attributes,
                    }),
                );
            }
        }
        let mut sorted: Vec<(String, Value)> = services.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        // Tasks started in the cluster (a one-off task sent to moto would show here).
        let tasks = self
            .try_ecs("ListTasks", json!({ "cluster": cluster }))
            .map(|a| a["taskArns"].clone())
            .unwrap_or(Value::Null);
        json!({
            "tasks": tasks,
            "taskDefinitionArns": self.task_definition_arns(),
            "services": sorted.into_iter().collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// The service attributes `Moto::snapshot` holds.
const SERVICE_ATTRIBUTES: &[&str] = &[
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
    "deploymentConfiguration",
    "healthCheckGracePeriodSeconds",
    "enableExecuteCommand",
    "enableECSManagedTags",
    "propagateTags",
    "placementConstraints",
    "placementStrategy",
];

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server_path() -> PathBuf {
    let path = match std::env::var_os("ECS_DEPLOY_MOTO_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/ecs-deploy/venv/bin/moto_server")
        }
    };
    if !path.is_file() {
        panic!(
            "moto_server not found: run scripts/install-moto.sh (the README's test command does) \
             (looked for {})",
            path.display()
        );
    }
    path
}

/// Polls `GET /moto-api/`; the error says whether the server exited (worth a retry).
fn wait_ready(agent: &ureq::Agent, child: &mut Child, port: u16) -> Result<(), (String, bool)> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let url = format!("http://127.0.0.1:{port}/moto-api/");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err((
                format!("moto_server on port {port} exited with {status}"),
                true,
            ));
        }
        if let Ok(resp) = agent.get(&url).call() {
            if resp.status().is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            let msg = format!("moto_server on port {port} did not answer within {READY_TIMEOUT:?}");
            return Err((msg, false));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Waits for the launcher to write the port it bound.
fn wait_for_port(child: &mut Child, port_file: &Path) -> Result<u16, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(text) = fs::read_to_string(port_file) {
            return text
                .trim()
                .parse()
                .map_err(|e| format!("the launcher wrote `{text}` as its port: {e}"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the moto launcher exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no port within {READY_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// A JSON-protocol call to any moto-speaking URL (moto itself or the scripted stand-in in
/// front of it): `target` is the whole `X-Amz-Target`, e.g.
/// `AmazonEC2ContainerServiceV20141113.DescribeServices`; `headers` are sent as well (e.g. the
/// stand-in's virtual clock). Returns the answer's JSON, or the status and body of an error.
pub fn call_json_at(
    url: &str,
    service: &str,
    target: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Result<Value, (u16, String)> {
    let mut req = agent()
        .post(format!("{}/", url.trim_end_matches('/')))
        .header("Authorization", authorization(service))
        .header("X-Amz-Target", target)
        .header("Content-Type", "application/x-amz-json-1.1");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("calling {url} ({target}): {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("reading the answer to {target} from {url}: {e}"));
    if !(200..300).contains(&status) {
        return Err((status, text));
    }
    serde_json::from_str(&text).map_err(|e| {
        (
            status,
            format!("answer to {target} is not JSON ({e}): {text}"),
        )
    })
}

/// An `Authorization` header moto accepts: it reads only the service from the scope.
pub fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// The text of every `<tag>…</tag>` (attributes allowed, entities decoded), in document order.
/// Deliberately tiny: a nested element of the same name is not handled.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&format!("<{tag}")) {
        let after = &rest[start + tag.len() + 1..];
        // `<tagX` is another element; `<tag/>` is empty.
        match after.chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\n') | Some('\r') => {}
            Some('/') => {
                out.push(String::new());
                rest = after;
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        }
        let Some(gt) = after.find('>') else { break };
        if after[..gt].ends_with('/') {
            out.push(String::new());
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(xml_unescape(&body[..end]));
        rest = &body[end + close.len()..];
    }
    out
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
