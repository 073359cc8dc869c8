//! Registries a test starts for itself: the CNCF distribution registry (Debian's
//! `docker-registry`) on a free loopback port with a configuration of its own, open
//! ([`OpenRegistry`]) or with a real token flow ([`TokenRegistry`]).
//!
//! The token flow: the registry configured with `auth: token`, against a token service run here that
//! signs JWTs with a test key (ES256, the certificate in the JWT's `x5c` header and in the
//! registry's `rootcertbundle`). The registry checks every token itself.
//!
//! Each test starts its own pair (a registry starts in a fraction of a second): no fixed
//! ports, no state shared between tests running at once, and a token service whose
//! behaviour (token lifetime, what it announces) each test chooses.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::http::request;
use crate::{ChildGuard, free_port, prerequisite};

/// The service name the registry expects in a token's audience.
pub const SERVICE: &str = "slipway-test-registry";
/// The issuer the registry expects.
pub const ISSUER: &str = "slipway-test-token-issuer";
/// How long past its `exp` distribution 2.8 still accepts a token (its `Leeway`); a token
/// meant to die at a moment is issued with `exp` that much earlier.
pub const REGISTRY_LEEWAY: Duration = Duration::from_secs(60);

/// What the token service does.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Accounts (user, password) granted every action they ask for; anyone else is
    /// refused (401).
    pub users: Vec<(String, String)>,
    /// Whether anonymous requests get `pull` (else tokens granting nothing).
    pub anonymous_pull: bool,
    /// How long a token works at the registry.
    pub lifetime: Duration,
    /// The `expires_in` the answer announces (by default the true lifetime): a longer one
    /// makes the client learn of the expiry from the registry's 401.
    pub announced: Option<Duration>,
}

impl TokenPolicy {
    pub fn user(user: &str, password: &str) -> Self {
        Self {
            users: vec![(user.to_owned(), password.to_owned())],
            anonymous_pull: false,
            lifetime: Duration::from_secs(300),
            announced: None,
        }
    }
}

/// One request the token service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub account: Option<String>,
    pub scopes: Vec<String>,
    /// The HTTP status it got.
    pub status: u16,
}

/// The token service; stops when dropped.
#[derive(Debug)]
pub struct TokenService {
    pub port: u16,
    /// The signing certificate (PEM), the registry's `rootcertbundle`.
    pub certificate_pem: String,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    signer: Arc<Signer>,
    stop: Arc<AtomicBool>,
}

struct Signer {
    key: EcdsaKeyPair,
    certificate_der: Vec<u8>,
    random: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

impl Signer {
    fn new() -> (Self, String) {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![ISSUER.to_owned()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, ISSUER);
        let certificate = params.self_signed(&key_pair).unwrap();
        let random = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der(), &random).unwrap();
        (Self { key, certificate_der: certificate.der().to_vec(), random }, certificate.pem())
    }

    /// A JWT (ES256, with the certificate as `x5c`) granting `access`, working at the
    /// registry for `lifetime` from now.
    fn sign(&self, subject: &str, access: &[serde_json::Value], lifetime: Duration) -> String {
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.certificate_der)],
        });
        let issued = now();
        // `exp` has whole seconds: rounded up, so the token works for at least `lifetime`
        // (rounded down, one issued late in a second would die up to a second early).
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + lifetime;
        let expires = (since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0))
            .saturating_sub(REGISTRY_LEEWAY.as_secs());
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": expires,
            "nbf": issued.saturating_sub(1),
            "iat": issued,
            "jti": format!("{issued}-{}", nonce()),
            "access": access,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.key.sign(&self.random, signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// A token id that differs between tokens (the time's nanoseconds will do).
fn nonce() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos()
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// `a%2Fb` -> `a/b` (and `+` -> space), for query values.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The access a scope (`repository:a/b:pull,push`) asks for, as a token's claim.
fn access_for(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
    Some(serde_json::json!({ "type": kind, "name": name, "actions": actions }))
}

impl TokenService {
    pub fn start(policy: TokenPolicy) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (signer, certificate_pem) = Signer::new();
        let signer = Arc::new(signer);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (signer, requests, stop) = (Arc::clone(&signer), Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let (signer, requests, policy) = (Arc::clone(&signer), Arc::clone(&requests), policy.clone());
                    std::thread::spawn(move || {
                        let _ = answer(client, &signer, &policy, &requests);
                    });
                }
            });
        }
        Self { port, certificate_pem, requests, signer, stop }
    }

    /// The realm URL the registry sends clients to.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// A token for `scopes`, made directly (for a test's own checks of the registry).
    pub fn mint(&self, scopes: &[&str]) -> String {
        let access: Vec<_> = scopes.iter().filter_map(|scope| access_for(scope)).collect();
        self.signer.sign("test", &access, Duration::from_secs(600))
    }
}

fn answer(
    client: TcpStream,
    signer: &Signer,
    policy: &TokenPolicy,
    requests: &Mutex<Vec<TokenRequest>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let target = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let mut account = None;
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "scope" => scopes.extend(percent_decode(value).split(' ').filter(|s| !s.is_empty()).map(str::to_owned)),
            "account" => account = Some(percent_decode(value)),
            _ => {}
        }
    }
    let basic = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("authorization") {
            return None;
        }
        let encoded = value.trim().strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        decoded.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))
    });
    let granted = match &basic {
        None if policy.anonymous_pull => Some(
            scopes
                .iter()
                .filter_map(|scope| access_for(scope))
                .map(|mut access| {
                    let pull = access["actions"].as_array().is_some_and(|a| a.iter().any(|x| x == "pull"));
                    access["actions"] = serde_json::json!(if pull { vec!["pull"] } else { Vec::new() });
                    access
                })
                .collect(),
        ),
        None => Some(Vec::new()),
        Some((user, password)) => policy
            .users
            .iter()
            .any(|(u, p)| u == user && p == password)
            .then(|| scopes.iter().filter_map(|scope| access_for(scope)).collect()),
    };
    let mut client = client;
    let status = match granted {
        None => {
            write!(
                client,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )?;
            401
        }
        Some(access) => {
            let subject = basic.as_ref().map_or("anonymous", |(user, _)| user.as_str());
            let token = signer.sign(subject, &access, policy.lifetime);
            let announced = policy.announced.unwrap_or(policy.lifetime).as_secs();
            let body = serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": announced,
            })
            .to_string();
            write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            200
        }
    };
    client.flush()?;
    requests.lock().unwrap().push(TokenRequest { account: basic.map(|(user, _)| user).or(account), scopes, status });
    Ok(())
}

/// The distribution registry's binary (Debian's `docker-registry`), when installed.
pub fn registry_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).map(|dir| dir.join("docker-registry")).find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from("/usr/bin/docker-registry")).filter(|p| p.is_file()))
}

/// Whether a token registry can be started: `docker-registry` is installed (a missing one
/// skips, or fails under `SLIPWAY_REQUIRE_E2E=1`).
pub fn registry_ready() -> bool {
    prerequisite("the distribution registry (apt-get install docker-registry)", registry_binary().is_some())
}

/// A distribution registry with `auth: token` against its own [`TokenService`]; both stop
/// when it drops.
#[derive(Debug)]
pub struct TokenRegistry {
    pub port: u16,
    pub tokens: TokenService,
    process: Process,
}

/// A running `docker-registry serve` with its own configuration and storage, removed when
/// it drops.
#[derive(Debug)]
struct Process {
    port: u16,
    _child: ChildGuard,
    dir: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Process {
    /// Starts the registry with `auth` (a YAML section, or empty) and waits until `/v2/`
    /// answers `ready`. `None` (a skip) without `docker-registry`.
    fn start(auth: impl FnOnce(&std::path::Path) -> String, ready: u16) -> Option<Self> {
        if !registry_ready() {
            return None;
        }
        let binary = registry_binary()?;
        let dir = std::env::temp_dir().join(format!("slipway-registry-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let auth = auth(&dir);
        let port = free_port();
        let config = format!(
            "version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: slipway-test-registry-secret
{auth}",
            storage = dir.join("storage").display(),
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = Self { port, _child: ChildGuard(child), dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match request(port, "GET", "/v2/", &[]) {
                Ok((status, _, _)) if status == ready => break,
                _ => {}
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the registry on 127.0.0.1:{port} did not answer /v2/ with {ready}: {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(process)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

/// An open registry (no auth) of the test's own.
#[derive(Debug)]
pub struct OpenRegistry {
    pub port: u16,
    process: Process,
}

impl OpenRegistry {
    /// Starts it, or skips (`None`) without `docker-registry` (fails under
    /// `SLIPWAY_REQUIRE_E2E=1`).
    pub fn start() -> Option<Self> {
        let process = Process::start(|_| String::new(), 200)?;
        Some(Self { port: process.port, process })
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

impl TokenRegistry {
    /// Starts both, or skips (`None`) without `docker-registry` (fails under
    /// `SLIPWAY_REQUIRE_E2E=1`).
    pub fn start(policy: TokenPolicy) -> Option<Self> {
        if !registry_ready() {
            return None;
        }
        let tokens = TokenService::start(policy);
        let process = Process::start(
            |dir| {
                let bundle = dir.join("token-issuer.pem");
                std::fs::write(&bundle, &tokens.certificate_pem).unwrap();
                format!(
                    "auth:
  token:
    realm: {realm}
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {bundle}
",
                    realm = tokens.realm(),
                    bundle = bundle.display()
                )
            },
            401,
        )?;
        Some(Self { port: process.port, tokens, process })
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// An `Authorization` value for pulling `repository` (minted directly).
    pub fn pull_authorization(&self, repository: &str) -> String {
        format!("Bearer {}", self.tokens.mint(&[&format!("repository:{repository}:pull")]))
    }
}
