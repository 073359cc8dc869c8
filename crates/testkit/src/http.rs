//! Plain HTTP/1.1 requests to loopback servers, and a registry check that fetches an
//! image and every blob it names, digest-verified (no skopeo needed).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

/// A response: status, headers (names lowercased) and body.
pub type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request to 127.0.0.1:`port` (`Connection: close`); the body is read to
/// the end (or `Content-Length`, or chunks).
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    if headers.iter().any(|(name, value)| name == "transfer-encoding" && value.contains("chunked")) {
        let mut decoded = Vec::new();
        let mut rest = body.as_slice();
        while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16).unwrap_or(0);
            if size == 0 || rest.len() < line_end + 2 + size {
                break;
            }
            decoded.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[(line_end + 4 + size).min(rest.len())..];
        }
        body = decoded;
    } else if method == "HEAD" {
        body.clear();
    }
    Ok((status, headers, body))
}

/// The manifest (or index) `reference` names in `repository` on 127.0.0.1:`port`, with
/// every blob it names (recursively) fetched and checked against its digest and size.
/// Returns the manifest's digest.
pub fn verify_image(
    port: u16,
    repository: &str,
    reference: &str,
    authorization: Option<&str>,
) -> Result<String, String> {
    use sha2::Digest;
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
    let mut headers = vec![("Accept", accept)];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    let get = |kind: &str, what: &str| -> Result<Vec<u8>, String> {
        let path = format!("/v2/{repository}/{kind}/{what}");
        let (status, _, body) = request(port, "GET", &path, &headers).map_err(|e| format!("GET {path}: {e}"))?;
        if status != 200 {
            return Err(format!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        Ok(body)
    };
    let digest_of = |bytes: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    let manifest = get("manifests", reference)?;
    let digest = digest_of(&manifest);
    if reference.starts_with("sha256:") && reference != digest {
        return Err(format!("manifest {reference} hashes to {digest}"));
    }
    let document: serde_json::Value = serde_json::from_slice(&manifest).map_err(|e| e.to_string())?;
    if let Some(children) = document["manifests"].as_array() {
        for child in children {
            let child = child["digest"].as_str().ok_or("an index entry without a digest")?;
            verify_image(port, repository, child, authorization)?;
        }
        return Ok(digest);
    }
    let mut blobs: Vec<&serde_json::Value> = vec![&document["config"]];
    blobs.extend(document["layers"].as_array().ok_or("a manifest without layers")?);
    for blob in blobs {
        let expected = blob["digest"].as_str().ok_or("a descriptor without a digest")?;
        let bytes = get("blobs", expected)?;
        if digest_of(&bytes) != expected || Some(bytes.len() as u64) != blob["size"].as_u64() {
            return Err(format!("blob {expected} of {repository}:{reference} is not what its descriptor says"));
        }
    }
    Ok(digest)
}

/// A loopback HTTP/1.1 server answering every request from its head (request line and
/// headers) with `answer`'s status line and JSON-or-text body (`Connection: close`); it
/// stops when dropped. The tests' stand-ins for a service probed by an analysis (a canary's
/// Service, a test listener, a proxy edge) and for Prometheus's query API.
#[derive(Debug)]
pub struct StubServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StubServer {
    /// Starts serving on a free loopback port; `answer` gets each request's head and returns
    /// the status (`"200 OK"`) and the body.
    pub fn start(answer: impl Fn(&str) -> (&'static str, String) + Send + 'static) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let (status, body) = answer(&String::from_utf8_lossy(&head));
                let content_type = if body.starts_with('{') { "application/json" } else { "text/plain" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, stop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Prometheus's answer to an instant query: one sample, `0.01`.
pub const QUERY_ANSWER: &str =
    r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1767225600,"0.01"]}]}}"#;

/// A loopback stand-in for a version under analysis (a canary's Service, a test listener):
/// any request is a probe, 200 `UP`, or 500 while `failing()` says so, counted in `hits`;
/// Prometheus's instant queries (`GET /api/v1/query`) are answered [`QUERY_ANSWER`], or an
/// error when `prometheus_fails`.
#[derive(Debug)]
pub struct ProbedService {
    server: StubServer,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ProbedService {
    pub fn start(failing: impl Fn() -> bool + Send + 'static, prometheus_fails: bool) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&hits);
        let server = StubServer::start(move |head| {
            if head.starts_with("GET /api/v1/query") {
                if prometheus_fails {
                    (
                        "500 Internal Server Error",
                        r#"{"status":"error","errorType":"internal","error":"boom"}"#.to_owned(),
                    )
                } else {
                    ("200 OK", QUERY_ANSWER.to_owned())
                }
            } else {
                counted.fetch_add(1, Ordering::SeqCst);
                if failing() { ("500 Internal Server Error", "boom".to_owned()) } else { ("200 OK", "UP".to_owned()) }
            }
        });
        Self { server, hits }
    }

    /// The probes answered so far (queries not counted).
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }
}
