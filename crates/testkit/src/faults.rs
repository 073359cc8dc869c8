//! A fault injector between a client and a registry (or any HTTP/1.1 server) on
//! loopback: an HTTP/1.1 proxy that answers 500 or 429 (with `Retry-After`) to a share
//! of requests, closes connections before any answer or in the middle of request bodies
//! (blob uploads), holds back answers
//! (stalls) and cuts response bodies short (truncation). One request per
//! connection (`Connection: close`); the `Host` header is kept, so the registry's
//! `Location` URLs point back through the proxy.
//!
//! [`FaultProxy::refuse_absent_subjects`] makes it refuse a manifest whose `subject` the
//! registry does not hold yet, as GitLab's registry did before its 2026 fix
//! (`MANIFEST_BLOB_UNKNOWN`), though the distribution spec says a registry MUST accept it.
//!
//! With [`SignedUrls`] it also dresses the registry up as one whose URLs are
//! credentials (an S3-backed registry): upload `Location`s and blob redirects carry a
//! secret-looking query, and requests to those URLs can be cut off so that the client
//! reports an error naming the URL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often each fault happens, in requests per thousand.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    pub error_500: u32,
    pub error_429: u32,
    /// Of requests: the connection closes once the request is read, with no answer.
    pub reset: u32,
    /// Of requests with a body of at least 1 KiB.
    pub reset_mid_body: u32,
    /// Of answers: held back for `stall_for` before they go out.
    pub stall: u32,
    /// Of requests with a body of at least 1 KiB: half the body goes through, then the
    /// proxy stops reading for `stall_for` (a stalled upload).
    pub stall_mid_body: u32,
    pub stall_for: Duration,
    /// Of answers with a body: half the body goes out, then the connection closes.
    pub truncate: u32,
    pub seed: u64,
}

impl FaultPlan {
    /// No faults at all (a plain proxy), until [`FaultProxy::set_plan`] says otherwise.
    pub fn calm(seed: u64) -> Self {
        Self {
            error_500: 0,
            error_429: 0,
            reset: 0,
            reset_mid_body: 0,
            stall: 0,
            stall_mid_body: 0,
            stall_for: Duration::ZERO,
            truncate: 0,
            seed,
        }
    }
}

/// URLs that are credentials, as registries backed by object storage hand them out.
#[derive(Debug, Clone, Default)]
pub struct SignedUrls {
    /// The query that signs a URL (`X-Amz-Signature=...`), without `?`.
    pub query: String,
    /// Append `query` to every upload `Location` the registry answers.
    pub sign_upload_locations: bool,
    /// Answer blob GETs with a 307 to the same URL plus `query` (then proxy that one).
    pub redirect_blob_gets: bool,
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct FaultStats {
    pub requests: AtomicU64,
    pub errors_500: AtomicU64,
    pub errors_429: AtomicU64,
    pub resets: AtomicU64,
    /// Upload `Location`s given the signing query.
    pub signed_locations: AtomicU64,
    /// Blob GETs redirected to a signed URL.
    pub redirects: AtomicU64,
    /// Answers held back.
    pub stalls: AtomicU64,
    /// Answers whose body was cut short.
    pub truncations: AtomicU64,
    /// Requests to a signed URL cut off by [`FaultProxy::break_signed`].
    pub broken_signed: AtomicU64,
    /// Manifests refused for naming a subject the registry lacks
    /// ([`FaultProxy::refuse_absent_subjects`]).
    pub refused_subjects: AtomicU64,
    /// Every request as `METHOD target` when it arrived, and as `done METHOD target` once
    /// the registry's answer went back, in that order.
    pub log: Mutex<Vec<String>>,
}

impl FaultStats {
    /// The requests so far (`METHOD target`), in order.
    pub fn requests_seen(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    pub port: u16,
    pub stats: Arc<FaultStats>,
    stop: Arc<AtomicBool>,
    /// How many of the next requests to a signed URL are cut off.
    break_budget: Arc<AtomicU64>,
    plan: Arc<Mutex<FaultPlan>>,
    strict_subjects: Arc<AtomicBool>,
    /// How long a manifest PUT by tag is held before it goes to the registry, in ms.
    hold_tag_puts: Arc<AtomicU64>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// xorshift64*: a seeded, reproducible sequence of fault decisions.
fn next(state: &Mutex<u64>) -> u32 {
    let mut x = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as u32 % 1000
}

impl FaultProxy {
    /// Proxies 127.0.0.1:<new port> to 127.0.0.1:`upstream` with `plan`'s faults.
    pub fn start(upstream: u16, plan: FaultPlan) -> std::io::Result<Self> {
        Self::start_signed(upstream, plan, SignedUrls::default())
    }

    /// [`FaultProxy::start`], with the registry's URLs signed as `signed` says.
    pub fn start_signed(upstream: u16, plan: FaultPlan, signed: SignedUrls) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(FaultStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let break_budget = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(Mutex::new(plan.seed.max(1)));
        let signed = Arc::new(signed);
        let plan = Arc::new(Mutex::new(plan));
        let strict_subjects = Arc::new(AtomicBool::new(false));
        let hold_tag_puts = Arc::new(AtomicU64::new(0));
        {
            let strict_subjects = Arc::clone(&strict_subjects);
            let hold_tag_puts = Arc::clone(&hold_tag_puts);
            let plan = Arc::clone(&plan);
            let stats = Arc::clone(&stats);
            let stop = Arc::clone(&stop);
            let break_budget = Arc::clone(&break_budget);
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let stats = Arc::clone(&stats);
                    let rng = Arc::clone(&rng);
                    let signed = Arc::clone(&signed);
                    let break_budget = Arc::clone(&break_budget);
                    let plan = *plan.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let stop = Arc::clone(&stop);
                    let strict_subjects = strict_subjects.load(Ordering::SeqCst);
                    let hold_tag_puts = Duration::from_millis(hold_tag_puts.load(Ordering::SeqCst));
                    std::thread::spawn(move || {
                        let faults = Faults {
                            plan,
                            signed: &signed,
                            break_budget: &break_budget,
                            stats: &stats,
                            stop: &stop,
                            strict_subjects,
                            hold_tag_puts,
                        };
                        let _ = handle(client, upstream, &faults, &rng);
                    });
                }
            });
        }
        Ok(Self { port, stats, stop, break_budget, plan, strict_subjects, hold_tag_puts })
    }

    /// From now on, refuses (400 `MANIFEST_BLOB_UNKNOWN`) a manifest PUT whose `subject` the
    /// registry does not hold, as a registry that checks subjects does.
    pub fn refuse_absent_subjects(&self) {
        self.strict_subjects.store(true, Ordering::SeqCst);
    }

    /// From now on, holds every manifest PUT by tag (not by digest, nor a `sha256-…`
    /// referrers tag) for `hold` before it goes on: what a client does beside it then
    /// happens, for sure, before the tag moves.
    pub fn hold_tag_puts(&self, hold: Duration) {
        self.hold_tag_puts.store(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Changes the faults of the connections accepted from now on.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.plan.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = plan;
    }

    /// Cuts off the next `count` requests to a signed URL: an upload halfway through its
    /// body, any other before it is answered. The client's error then names the URL.
    pub fn break_signed(&self, count: u64) {
        self.break_budget.store(count, Ordering::SeqCst);
    }
}

/// Everything one connection's handler needs to decide its faults.
struct Faults<'a> {
    plan: FaultPlan,
    signed: &'a SignedUrls,
    break_budget: &'a AtomicU64,
    stats: &'a FaultStats,
    stop: &'a AtomicBool,
    strict_subjects: bool,
    hold_tag_puts: Duration,
}

impl Faults<'_> {
    /// Waits `stall_for`, in steps so that a stopped proxy's threads end.
    fn pause(&self) {
        let until = std::time::Instant::now() + self.plan.stall_for;
        while !self.stop.load(Ordering::SeqCst) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Whether this request to a signed URL is one to cut off (spends the budget).
    fn breaks(&self, target: &str) -> bool {
        let signed = !self.signed.query.is_empty() && target.contains(&self.signed.query);
        signed && self.break_budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    /// The 307 that sends a blob GET to its signed URL, when blob GETs are redirected.
    fn redirect(&self, method: &str, target: &str, head: &str) -> Option<String> {
        let blob = target.contains("/blobs/sha256:") && !target.contains('?');
        if !(self.signed.redirect_blob_gets && method == "GET" && blob) {
            return None;
        }
        let host = header_value(head, "host")?;
        Some(format!("Location: http://{host}{target}?{}\r\n", self.signed.query))
    }

    /// The response head with the signing query added to an upload `Location`.
    fn sign_location(&self, response_head: &str) -> String {
        if !self.signed.sign_upload_locations {
            return response_head.to_owned();
        }
        let lines: Vec<String> = response_head
            .lines()
            .map(|line| match line.split_once(':') {
                Some((name, value)) if name.eq_ignore_ascii_case("location") && value.contains("/blobs/uploads/") => {
                    self.stats.signed_locations.fetch_add(1, Ordering::Relaxed);
                    let separator = if value.contains('?') { '&' } else { '?' };
                    format!("{name}: {}{separator}{}", value.trim(), self.signed.query)
                }
                _ => line.to_owned(),
            })
            .collect();
        format!("{}\r\n\r\n", lines.join("\r\n").trim_end())
    }
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The head with `Connection: close` in place of any connection header.
fn close_head(head: &str) -> String {
    let mut lines: Vec<&str> =
        head.trim_end().lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            return Ok(head);
        }
    }
}

/// The `subject.digest` a manifest names, if any.
fn subject_of(body: &[u8]) -> Option<String> {
    let document: serde_json::Value = serde_json::from_slice(body).ok()?;
    document.pointer("/subject/digest")?.as_str().map(str::to_owned)
}

/// Whether the registry holds manifest `digest` in the repository of `target`
/// (`/v2/<name>/manifests/<reference>`): a HEAD of its own.
fn upstream_holds(upstream: u16, head: &str, target: &str, digest: &str) -> std::io::Result<bool> {
    let Some((repository, _)) = target.rsplit_once("/manifests/") else { return Ok(false) };
    let host = header_value(head, "host").unwrap_or("127.0.0.1");
    let mut server = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    write!(
        server,
        "HEAD {repository}/manifests/{digest} HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json\r\nConnection: close\r\n\r\n"
    )?;
    server.flush()?;
    let status = read_head(&mut BufReader::new(server))?;
    Ok(status.lines().next().is_some_and(|line| line.split_whitespace().nth(1) == Some("200")))
}

fn reply(mut client: TcpStream, status: &str, extra: &str) -> std::io::Result<()> {
    write!(client, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n")?;
    client.flush()
}

fn handle(mut client: TcpStream, upstream: u16, faults: &Faults<'_>, rng: &Mutex<u64>) -> std::io::Result<()> {
    let (plan, stats) = (faults.plan, faults.stats);
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let length: u64 = header_value(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut request_line = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
    stats.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(format!("{method} {target}"));
    let roll = next(rng);

    let drain = |reader: &mut BufReader<TcpStream>| std::io::copy(&mut reader.take(length), &mut std::io::sink());
    if roll < plan.error_500 {
        stats.errors_500.fetch_add(1, Ordering::Relaxed);
        drain(&mut reader)?;
        return reply(client, "500 Internal Server Error", "");
    }
    if roll < plan.error_500 + plan.error_429 {
        stats.errors_429.fetch_add(1, Ordering::Relaxed);
        drain(&mut reader)?;
        return reply(client, "429 Too Many Requests", "Retry-After: 1\r\n");
    }
    if roll < plan.error_500 + plan.error_429 + plan.reset {
        stats.resets.fetch_add(1, Ordering::Relaxed);
        drain(&mut reader)?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if faults.breaks(target) {
        stats.broken_signed.fetch_add(1, Ordering::Relaxed);
        std::io::copy(&mut (&mut reader).take(length / 2), &mut std::io::sink())?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if let Some(location) = faults.redirect(method, target, &head) {
        stats.redirects.fetch_add(1, Ordering::Relaxed);
        return reply(client, "307 Temporary Redirect", &location);
    }
    let by_tag = target.rsplit_once("/manifests/").is_some_and(|(_, reference)| !reference.starts_with("sha256"));
    if method == "PUT" && by_tag && !faults.hold_tag_puts.is_zero() {
        std::thread::sleep(faults.hold_tag_puts);
    }
    // A manifest is read whole first when subjects are checked (manifests are small).
    let mut manifest = None;
    if faults.strict_subjects && method == "PUT" && target.contains("/manifests/") {
        let mut body = Vec::new();
        (&mut reader).take(length).read_to_end(&mut body)?;
        if let Some(subject) = subject_of(&body)
            && !upstream_holds(upstream, &head, target, &subject)?
        {
            stats.refused_subjects.fetch_add(1, Ordering::Relaxed);
            let error = format!(
                r#"{{"errors":[{{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"{subject}"}}]}}"#
            );
            write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{error}",
                error.len()
            )?;
            return client.flush();
        }
        manifest = Some(body);
    }
    let mut server = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    server.write_all(close_head(&head).as_bytes())?;
    if let Some(body) = &manifest {
        server.write_all(body)?;
    } else if length >= 1024 && next(rng) < plan.reset_mid_body {
        // Half the body goes through, then both connections die.
        stats.resets.fetch_add(1, Ordering::Relaxed);
        std::io::copy(&mut (&mut reader).take(length / 2), &mut server)?;
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    } else if length >= 1024 && next(rng) < plan.stall_mid_body {
        stats.stalls.fetch_add(1, Ordering::Relaxed);
        std::io::copy(&mut (&mut reader).take(length / 2), &mut server)?;
        faults.pause();
        std::io::copy(&mut (&mut reader).take(length - length / 2), &mut server)?;
    } else {
        std::io::copy(&mut (&mut reader).take(length), &mut server)?;
    }
    server.flush()?;
    let mut response = BufReader::new(server);
    let response_head = read_head(&mut response)?;
    if next(rng) < plan.stall {
        // The answer is held back (the server seems to hang).
        stats.stalls.fetch_add(1, Ordering::Relaxed);
        faults.pause();
    }
    let mut client_writer = client;
    client_writer.write_all(close_head(&faults.sign_location(&response_head)).as_bytes())?;
    let body_length: u64 = header_value(&response_head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if body_length >= 2 && method != "HEAD" && next(rng) < plan.truncate {
        // Half the body, then the connection closes: the client sees a short read.
        stats.truncations.fetch_add(1, Ordering::Relaxed);
        std::io::copy(&mut (&mut response).take(body_length / 2), &mut client_writer)?;
        client_writer.flush()?;
        let _ = client_writer.shutdown(Shutdown::Both);
        return Ok(());
    }
    std::io::copy(&mut response, &mut client_writer)?;
    client_writer.flush()?;
    let _ = client_writer.shutdown(Shutdown::Both);
    stats.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(format!("done {method} {target}"));
    Ok(())
}
