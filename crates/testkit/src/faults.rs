//! A fault injector between a client and a registry on loopback: an HTTP/1.1 proxy
//! that answers 500 or 429 (with `Retry-After`) to a share of requests and resets
//! connections in the middle of request bodies (blob uploads). One request per
//! connection (`Connection: close`); the `Host` header is kept, so the registry's
//! `Location` URLs point back through the proxy.

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
    /// Of requests with a body of at least 1 KiB.
    pub reset_mid_body: u32,
    pub seed: u64,
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct FaultStats {
    pub requests: AtomicU64,
    pub errors_500: AtomicU64,
    pub errors_429: AtomicU64,
    pub resets: AtomicU64,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    pub port: u16,
    pub stats: Arc<FaultStats>,
    stop: Arc<AtomicBool>,
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
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(FaultStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(plan.seed.max(1)));
        {
            let stats = Arc::clone(&stats);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let stats = Arc::clone(&stats);
                    let rng = Arc::clone(&rng);
                    std::thread::spawn(move || {
                        let _ = handle(client, upstream, plan, &stats, &rng);
                    });
                }
            });
        }
        Ok(Self { port, stats, stop })
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

fn reply(mut client: TcpStream, status: &str, extra: &str) -> std::io::Result<()> {
    write!(client, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n")?;
    client.flush()
}

fn handle(
    client: TcpStream,
    upstream: u16,
    plan: FaultPlan,
    stats: &FaultStats,
    rng: &Mutex<u64>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let head = read_head(&mut reader)?;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let length: u64 = header_value(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
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
    let mut server = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    server.write_all(close_head(&head).as_bytes())?;
    if length >= 1024 && next(rng) < plan.reset_mid_body {
        // Half the body goes through, then both connections die.
        stats.resets.fetch_add(1, Ordering::Relaxed);
        std::io::copy(&mut (&mut reader).take(length / 2), &mut server)?;
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    std::io::copy(&mut (&mut reader).take(length), &mut server)?;
    server.flush()?;
    let mut response = BufReader::new(server);
    let response_head = read_head(&mut response)?;
    let mut client_writer = client;
    client_writer.write_all(close_head(&response_head).as_bytes())?;
    std::io::copy(&mut response, &mut client_writer)?;
    client_writer.flush()?;
    let _ = client_writer.shutdown(Shutdown::Both);
    Ok(())
}
