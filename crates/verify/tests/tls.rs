//! TLS against a real https server on 127.0.0.1 whose certificate, signed by a
//! self-signed test CA made with rcgen, expires in 10 days.

mod common;

use common::{Reply, TestCerts, TestServer, stderr, stdout, verify};

const DAYS_LEFT: u64 = 10;

fn server() -> (TestServer, tempfile::TempDir, std::path::PathBuf) {
    let certs = TestCerts::new(DAYS_LEFT);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = certs.write_ca(dir.path());
    (TestServer::https(&certs, |_| Reply::ok("up")), dir, ca)
}

#[test]
fn trusted_certificate_reports_days_left() {
    let (server, _dir, ca) = server();
    let output =
        verify().args(["--url", &server.url(), "--tls-min-days", "7"]).arg("--ca-cert").arg(&ca).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(stdout(&output).contains("tls-days-left=10\n"), "{}", stdout(&output));
    assert!(log.contains("the TLS certificate of 127.0.0.1 is valid for 10 more day(s), until "));
}

#[test]
fn certificate_expiring_before_min_days_fails() {
    let (server, _dir, ca) = server();
    let output =
        verify().args(["--url", &server.url(), "--tls-min-days", "30"]).arg("--ca-cert").arg(&ca).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let error = log.lines().last().unwrap();
    assert!(
        error.starts_with("verify: error: the TLS certificate of 127.0.0.1 expires in 10 day(s) (not after "),
        "{error}"
    );
    assert!(error.ends_with("sooner than --tls-min-days 30; renew it"), "{error}");
}

#[test]
fn unknown_issuer_fails_verification_without_ca_cert() {
    let (server, _dir, _ca) = server();
    let output = verify().args(["--url", &server.url(), "--timeout", "500ms", "--interval", "100ms"]).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let error = log.lines().last().unwrap();
    assert!(
        error.contains("GET /: TLS handshake with 127.0.0.1:") && error.contains("invalid peer certificate"),
        "{log}"
    );
    assert_eq!(server.hits(), 0, "no request is answered over an untrusted connection");
}

#[test]
fn insecure_passes_with_a_loud_warning() {
    let (server, _dir, _ca) = server();
    let output = verify().env("GITHUB_ACTIONS", "true").args(["--url", &server.url(), "--insecure"]).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(
        log.lines().next().unwrap().starts_with("::warning::--insecure: TLS certificates are NOT verified"),
        "{log}"
    );
    assert!(stdout(&output).contains("tls-days-left=10\n"));
}

#[test]
fn unusable_ca_cert_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n").unwrap();
    let output = verify().args(["--url", "https://127.0.0.1:9"]).arg("--ca-cert").arg(&ca).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{log}");
    assert!(log.contains("holds a certificate that does not parse"), "{log}");
}
