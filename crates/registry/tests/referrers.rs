//! An OCI 1.1 referrer pushed to a registry that has the referrers API: it answers the
//! manifest PUT with `OCI-Subject`, and then no fallback tag is read or written. The
//! registry here is a scripted stand-in on loopback (the CNCF registry 2.8 of the other
//! tests has no referrers API; tests/war.rs covers the fallback tag against it).

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_registry::media::OCI_MANIFEST;
use slipway_registry::push::Destination;
use slipway_registry::referrers::{Descriptor, Indexed, Referrer, push_referrer};
use slipway_registry::retry::RetryPolicy;
use slipway_registry::{ImageReference, Registry, RegistryOptions};

/// Every request the stand-in saw: method, path, body.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A registry that holds every blob and indexes referrers: `OCI-Subject` on manifest PUTs
/// whose body names a subject. Serves until the test ends.
fn referrers_api_registry() -> (u16, Seen) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            // A connection closed with no request (a client checking the port) is no error.
            if reader.read_line(&mut request_line).is_err() || request_line.trim().is_empty() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
            let mut headers = String::new();
            let status = match (method.as_str(), path.as_str()) {
                ("GET", "/v2/") => "200 OK",
                ("HEAD", p) if p.contains("/blobs/") => "200 OK",
                ("PUT", p) if p.contains("/manifests/") => {
                    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)));
                    headers.push_str(&format!("Docker-Content-Digest: {digest}\r\n"));
                    let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if let Some(subject) = document["subject"]["digest"].as_str() {
                        headers.push_str(&format!("OCI-Subject: {subject}\r\n"));
                    }
                    "201 Created"
                }
                _ => "404 Not Found",
            };
            record.lock().unwrap().push((method, path, body));
            let response = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_registry_with_the_referrers_api_indexes_the_sbom_itself_and_no_fallback_tag_is_written() {
    let (port, seen) = referrers_api_registry();
    let log = CapturedLog::default();
    let console = log.console("registry-test", CiMode::Plain);
    let reference = ImageReference::parse(&format!("127.0.0.1:{port}/app/sbom-test:1")).unwrap();
    let registry = Registry::new(RegistryOptions::default(), &[&reference], &console);
    let destination = Destination::connect(&registry, &reference).await.unwrap();
    let subject = Descriptor::of(OCI_MANIFEST, br#"{"schemaVersion":2}"#);
    let referrer = Referrer {
        artifact_type: "application/vnd.cyclonedx+json".to_owned(),
        document: br#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1}"#.to_vec(),
        subject: subject.clone(),
        annotations: Vec::new(),
    };
    let policy = RetryPolicy::new(Duration::from_secs(30));
    let pushed = push_referrer(&destination, &referrer, &policy, |_, _, _| {}).await.unwrap();
    assert_eq!(pushed.indexed, Indexed::ReferrersApi);
    let manifest = referrer.manifest();
    assert_eq!(pushed.digest, format!("sha256:{}", hex::encode(sha2::Sha256::digest(&manifest))));

    let seen = seen.lock().unwrap();
    let puts: Vec<&(String, String, Vec<u8>)> = seen.iter().filter(|(method, _, _)| method == "PUT").collect();
    assert_eq!(puts.len(), 1, "one manifest PUT, by digest: {seen:?}");
    assert!(puts[0].1.ends_with(&format!("/v2/app/sbom-test/manifests/{}", pushed.digest)), "{}", puts[0].1);
    assert_eq!(puts[0].2, manifest);
    let fallback = subject.digest.replacen(':', "-", 1);
    // The fallback tag is read (a re-push finds itself listed there on registries without
    // the API), never written.
    assert!(!seen.iter().any(|(method, path, _)| method != "GET" && path.contains(&fallback)), "{seen:?}");
    // Both blobs were present (HEAD 200): nothing uploaded.
    assert!(!seen.iter().any(|(method, _, _)| method == "POST"), "{seen:?}");
}
