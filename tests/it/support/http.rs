//! A tiny blocking HTTP/1.1 server for the tests' fake peers: the GitHub API and the scripted
//! AWS stand-in that answers some calls itself and forwards the rest to moto (`forward`). It
//! uses only std (one thread per connection, keep-alive, chunked request bodies) so the tests
//! need no async runtime, and it records every request so a test can assert what the binary
//! under test actually sent.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::Value;

/// How long a kept-alive connection may sit idle before its thread gives up on it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One request as received (chunked bodies already decoded).
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query string included.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics (naming the request) when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}): {}",
                self.method,
                self.path,
                self.body_str()
            )
        })
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
}

/// A response to send; `Content-Length` and `Connection` are added by the server.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(body).expect("serialising a JSON value"),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Not a response: the server closes the connection without answering, as a network
    /// failure or a crashed load balancer does.
    pub fn drop_connection() -> Self {
        Response {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A success in the AWS JSON 1.1 protocol (ECS, ECR, CloudWatch Logs).
    pub fn aws_json(body: &Value) -> Self {
        Response::json(200, body).with_header("Content-Type", "application/x-amz-json-1.1")
    }

    /// An AWS JSON 1.1 error, shaped like AWS's (`__type` plus `x-amzn-ErrorType`), e.g.
    /// `Response::aws_error(400, "ServiceNotFoundException", "Service not found.")`.
    pub fn aws_error(status: u16, error_type: &str, message: &str) -> Self {
        let body = serde_json::json!({ "__type": error_type, "message": message });
        Response::json(status, &body)
            .with_header("Content-Type", "application/x-amz-json-1.1")
            .with_header("x-amzn-ErrorType", error_type)
    }

    /// Sets a header, replacing any of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync + 'static;

struct Shared {
    handler: Box<Handler>,
    requests: Mutex<Vec<Request>>,
    stop: AtomicBool,
}

/// A local server on `127.0.0.1:<free port>`; stops accepting when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the test server");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let conn_shared = Arc::clone(&accept_shared);
                    let _ = thread::Builder::new()
                        .name(format!("http-conn-{}", addr.port()))
                        .spawn(move || serve_connection(stream, &conn_shared));
                }
            })
            .expect("spawning the accept thread");
        HttpServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the loop sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                let _ = write_response(
                    &mut writer,
                    "GET",
                    &Response::text(400, &format!("bad request: {e}")),
                    true,
                );
                break;
            }
        };
        shared.requests.lock().unwrap().push(request.clone());
        let response = panic::catch_unwind(AssertUnwindSafe(|| (shared.handler)(&request)))
            .unwrap_or_else(|payload| {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Response::text(500, &format!("test handler panicked: {msg}"))
            });
        if response.status == 0 {
            break; // `Response::drop_connection`
        }
        let close = wants_close(&request);
        if write_response(&mut writer, &request.method, &response, close).is_err() || close {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn wants_close(req: &Request) -> bool {
    req.header("Connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// Reads one request; `Ok(None)` when the client closed (or idled out) between requests.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<Request>> {
    let mut line = String::new();
    // Tolerate stray blank lines between requests (RFC 9112 §2.2).
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(e),
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("malformed request line {line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());

    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(invalid("connection closed inside the headers".into()));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| invalid(format!("malformed header {l:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };

    if request
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let chunked = request
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers, then the blank line that ends the message.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?; // the CRLF after the chunk data
    }
}

fn write_response(w: &mut TcpStream, method: &str, resp: &Response, close: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        if ["content-length", "connection", "transfer-encoding"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let no_body = method.eq_ignore_ascii_case("HEAD") || matches!(resp.status, 204 | 304);
    if resp.status != 204 {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if !no_body {
        out.extend_from_slice(&resp.body);
    }
    w.write_all(&out)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The operation of an AWS JSON-protocol request: `DescribeServices` for
/// `X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeServices`.
pub fn amz_target(req: &Request) -> Option<&str> {
    req.header("X-Amz-Target")
        .map(|t| t.rsplit_once('.').map_or(t, |(_, op)| op))
}

/// Sends the same request to moto and returns moto's answer as it came, 4xx/5xx included.
/// Panics only when moto cannot be reached at all.
pub fn forward(moto_url: &str, req: &Request) -> Response {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let uri = format!("{}{}", moto_url.trim_end_matches('/'), req.path);
    let mut builder = ureq::http::Request::builder()
        .method(req.method.as_str())
        .uri(&uri);
    for (k, v) in &req.headers {
        let skip = [
            "host",
            "content-length",
            "connection",
            "transfer-encoding",
            "expect",
        ];
        if !skip.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            builder = builder.header(k.as_str(), v.as_str());
        }
    }
    let result = if req.body.is_empty() {
        agent.run(builder.body(()).expect("building the forwarded request"))
    } else {
        agent.run(
            builder
                .body(req.body.clone())
                .expect("building the forwarded request"),
        )
    };
    let mut answer =
        result.unwrap_or_else(|e| panic!("forwarding {} {uri} to moto: {e}", req.method));
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .filter(|(k, _)| {
            !["content-length", "connection", "transfer-encoding"].contains(&k.as_str())
        })
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = answer
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("reading moto's answer to {} {uri}: {e}", req.method));
    Response {
        status,
        headers,
        body,
    }
}
