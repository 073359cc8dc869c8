//! Test support: a scriptable HTTP(S) server on 127.0.0.1 and a `verify` command with a
//! clean environment. Servers only ever listen on loopback.
#![allow(dead_code)] // each test binary uses a different part

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What the server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// 0 for the first request this server answered, 1 for the next...
    pub index: usize,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Self { status, headers: Vec::new(), body: body.to_owned(), delay: Duration::ZERO }
    }

    pub fn ok(body: &str) -> Self {
        Self::new(200, body)
    }

    pub fn json(body: &str) -> Self {
        Self::ok(body).header("Content-Type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A server answering every request with `script`; stopped when dropped.
pub struct TestServer {
    pub port: u16,
    scheme: &'static str,
    hits: Arc<AtomicUsize>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Plain HTTP, listening before this returns.
    pub fn http(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(Duration::ZERO, None, Arc::new(script))
    }

    /// Plain HTTP that refuses connections (nothing listens) for `delay`, then serves.
    pub fn http_after(delay: Duration, script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(delay, None, Arc::new(script))
    }

    /// HTTPS with the given certificate chain.
    pub fn https(tls: &TestCerts, script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(Duration::ZERO, Some(tls.server_config()), Arc::new(script))
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn start(delay: Duration, tls: Option<Arc<rustls::ServerConfig>>, script: Script) -> Self {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        // A delayed start gives the port back so that connections are refused meanwhile.
        let listener = if delay.is_zero() {
            listener.set_nonblocking(true).expect("non-blocking");
            Some(listener)
        } else {
            drop(listener);
            None
        };
        let hits = Arc::new(AtomicUsize::new(0));
        let (shutdown, stopped) = oneshot::channel();
        let counter = Arc::clone(&hits);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("test server runtime");
            runtime.block_on(serve(listener, port, delay, tls, script, counter, stopped));
        });
        Self { port, scheme, hits, shutdown: Some(shutdown), thread: Some(thread) }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: Option<StdListener>,
    port: u16,
    delay: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    script: Script,
    hits: Arc<AtomicUsize>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = match listener {
        Some(listener) => TcpListener::from_std(listener).expect("tokio listener"),
        None => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = &mut stopped => return,
            }
            TcpListener::bind(("127.0.0.1", port)).await.expect("re-bind the reserved port")
        }
    };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let script = Arc::clone(&script);
        let hits = Arc::clone(&hits);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => answer(stream, &script, &hits).await,
                // A client that rejects the certificate ends the handshake: nothing to answer.
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        answer(stream, &script, &hits).await;
                    }
                }
            }
        });
    }
}

/// Reads one request head and writes one response, then closes the connection.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, script: &Script, hits: &AtomicUsize) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let index = hits.fetch_add(1, Ordering::SeqCst);
    let reply = script(&Request { method, path, headers, index });
    tokio::time::sleep(reply.delay).await;
    let mut response = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status),
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&reply.body);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A test CA (self-signed) and a server certificate for 127.0.0.1 and localhost that
/// it signed, expiring in `days_left` days (and a few hours).
pub struct TestCerts {
    pub ca_pem: String,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl TestCerts {
    pub fn new(days_left: u64) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let day = Duration::from_secs(86_400);

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "slipway verify test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = epoch + (now - day);
        ca_params.not_after = epoch + (now + day * 365);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");

        let server_key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("server params");
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        params.not_before = epoch + (now - day);
        // A few hours past the whole days, so days-left reads exactly `days_left`.
        params.not_after =
            epoch + (now + day * u32::try_from(days_left).expect("days") + Duration::from_secs(3 * 3600));
        let server = params.signed_by(&server_key, &*ca).expect("server cert");

        Self { ca_pem: ca.pem(), server_chain: vec![server.der().clone()], server_key: server_key.serialize_der() }
    }

    /// Writes the CA certificate to a PEM file for --ca-cert.
    pub fn write_ca(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA PEM");
        path
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            self.server_key.clone(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server TLS config");
        Arc::new(config)
    }
}

/// The `verify` binary (assert_cmd's, with its timeout) whose `output` records what verify
/// wrote for the suite's secret scan ([`slipway_testkit::secrets`]).
#[derive(Debug)]
pub struct Verify(assert_cmd::Command);

#[allow(dead_code)] // Each test file uses its own subset.
impl Verify {
    pub fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.arg(arg);
        self
    }

    pub fn args(&mut self, args: impl IntoIterator<Item = impl AsRef<std::ffi::OsStr>>) -> &mut Self {
        self.0.args(args);
        self
    }

    pub fn env(&mut self, name: impl AsRef<std::ffi::OsStr>, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.env(name, value);
        self
    }

    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.0.timeout(timeout);
        self
    }

    pub fn output(&mut self) -> std::io::Result<std::process::Output> {
        let output = self.0.output()?;
        slipway_testkit::secrets::record_output("verify", &output);
        Ok(output)
    }
}

/// The `verify` binary with an environment that cannot leak into the test: no
/// SLIPWAY_* inputs, no CI mode, no output sinks and no proxy (traffic stays on loopback).
pub fn verify() -> Verify {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_verify"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("SLIPWAY_")
            || upper.starts_with("GITHUB_")
            || upper == "GITLAB_CI"
            || upper.ends_with("_PROXY")
        {
            command.env_remove(&name);
        }
    }
    command.timeout(Duration::from_secs(20));
    Verify(command)
}

/// Standard error of a finished command, as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
