//! Bad input: exit 2 with one clear line, before any request is sent.

mod common;

use common::{Reply, TestServer, stderr, verify};

/// Runs verify against a counting server with `args` appended, and checks the contract:
/// exit 2, exactly one error line, and no request made. Returns that line.
fn rejected(url: Option<&str>, args: &[&str]) -> String {
    let server = TestServer::http(|_| Reply::ok("up"));
    let target = url.map_or_else(|| server.url(), str::to_owned);
    let mut command = verify();
    command.arg("--url").arg(&target).args(args);
    if !args.contains(&"--timeout") {
        // Bounds the run should validation ever let a bad input through.
        command.args(["--timeout", "3s"]);
    }
    let output = command.output().expect("run verify");
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "log: {log}");
    assert!(output.stdout.is_empty(), "no outputs on bad input");
    assert_eq!(log.lines().count(), 1, "one line: {log}");
    assert_eq!(server.hits(), 0, "no request on bad input");
    log.trim_end().strip_prefix("verify: error: ").unwrap_or_else(|| panic!("an error line: {log}")).to_owned()
}

#[test]
fn malformed_url() {
    assert_eq!(
        rejected(Some("http//missing-colon"), &[]),
        "--url: `http//missing-colon` is not a URL (relative URL without a base); write it like https://app.example.com"
    );
}

#[test]
fn unknown_scheme() {
    assert_eq!(
        rejected(Some("ftp://127.0.0.1/app"), &[]),
        "--url: `ftp://127.0.0.1/app` uses the scheme `ftp`; verify speaks http and https only"
    );
}

#[test]
fn status_class_out_of_range() {
    assert_eq!(
        rejected(None, &["--expect-status", "7xx"]),
        "--expect-status: `7xx` is not a status class; HTTP classes are 1xx to 5xx"
    );
}

#[test]
fn status_that_is_not_a_number() {
    assert_eq!(
        rejected(None, &["--expect-status", "abc"]),
        "--expect-status: `abc` is not an HTTP status; write a code or a class like 200 or 2xx"
    );
}

#[test]
fn invalid_regex() {
    assert_eq!(
        rejected(None, &["--expect-body", "(unclosed"]),
        "--expect-body: `(unclosed` is not a valid regular expression (unclosed group)"
    );
}

#[test]
fn json_pointer_without_leading_slash() {
    assert_eq!(
        rejected(None, &["--expect-json", "status=UP"]),
        "--expect-json: `status` is not a JSON pointer; it starts with / as in /status or /build/version"
    );
}

#[test]
fn zero_timeout() {
    assert_eq!(rejected(None, &["--timeout", "0s"]), "--timeout: `0s` is zero; give a duration longer than that");
}

#[test]
fn negative_timeout() {
    assert_eq!(
        rejected(None, &["--timeout", "-5s"]),
        "--timeout: `-5s` is negative; a duration is written like 90s, 5m or 1h30m"
    );
}

#[test]
fn secret_header_variable_not_set() {
    assert_eq!(
        rejected(None, &["--header", "Authorization:Bearer ${SLIPWAY_TEST_UNSET_TOKEN}"]),
        "--header authorization: the environment variable SLIPWAY_TEST_UNSET_TOKEN is not set or empty; export it before running verify"
    );
}

#[test]
fn unknown_flag_is_a_usage_error_too() {
    let line = rejected(None, &["--expect-stauts", "200"]);
    assert!(line.starts_with("unexpected argument '--expect-stauts'"), "{line}");
}
