//! The verify binary against real HTTP servers on 127.0.0.1: waiting, retries, version
//! proof, latency budget, headers, and the outputs it publishes.

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Request, TestServer, stderr, stdout, verify};

/// `key=value` lines of standard output as pairs.
fn output_value(output: &std::process::Output, key: &str) -> Option<String> {
    stdout(output).lines().find_map(|line| line.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// Replaces what changes from run to run (ports, milliseconds, elapsed time).
fn redact(text: &str) -> String {
    let rules = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"(p\d\d-ms)=\d+", "$1=[ms]"),
        (r"\d+ ms", "[n] ms"),
        (r"(\d+) in [0-9.]+m?s", "$1 in [elapsed]"),
        (r"in [0-9.]+m?s:", "in [elapsed]:"),
    ];
    rules.iter().fold(text.to_owned(), |text, (pattern, replacement)| {
        regex::Regex::new(pattern).expect("redaction pattern").replace_all(&text, *replacement).into_owned()
    })
}

fn app(request: &Request) -> Reply {
    match request.path.as_str() {
        "/health" => Reply::json(r#"{"status":"UP"}"#),
        "/version" => Reply::json(r#"{"name":"sample-app","version":"1.2.3"}"#),
        _ => Reply::new(404, "no such page"),
    }
}

#[test]
fn healthy_run_publishes_the_contract_outputs() {
    let server = TestServer::http(app);
    let dir = tempfile::tempdir().unwrap();
    let github_output = dir.path().join("github_output");
    let step_summary = dir.path().join("step_summary.md");
    let output = verify()
        .env("GITHUB_OUTPUT", &github_output)
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .args(["--url", &server.url(), "--check", "/health"])
        .args(["--expect-json", "/status=UP", "--expect-version", "1.2.3"])
        .args(["--samples", "4", "--timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(redact(&std::fs::read_to_string(&github_output).unwrap()), @r"
    healthy=true
    attempts=1
    http-status=200
    version-seen=1.2.3
    p50-ms=[ms]
    p95-ms=[ms]
    p99-ms=[ms]
    tls-days-left=
    ");
    assert_eq!(
        redact(&stdout(&output)),
        redact(&std::fs::read_to_string(&github_output).unwrap()),
        "standard output carries the same key=value lines"
    );
    insta::assert_snapshot!(redact(&std::fs::read_to_string(&step_summary).unwrap()), @r"
    ### ✅ verify: http://127.0.0.1:[port]/ is healthy

    | check | attempts | status | latency |
    | --- | --- | --- | --- |
    | `GET /health` | 1 | 200 | [n] ms |
    | `GET /version` | 1 | 200 | [n] ms |

    |  |  |
    | --- | --- |
    | attempts | `1 in [elapsed]` |
    | version | `1.2.3` |
    | latency | `p50 [n] ms, p95 [n] ms, p99 [n] ms (4 samples)` |
    ");
    insta::assert_snapshot!(redact(&stderr(&output)), @r"
    verifying http://127.0.0.1:[port]/ with 2 check(s) for up to 5s (1 success(es) in a row needed)
    attempt 1: all 2 check(s) passed
    the service serves version 1.2.3
    measuring latency with 4 request(s)
    latency over 4 request(s): p50 [n] ms, p95 [n] ms, p99 [n] ms
    ");
    // 1 /health + 1 /version + 4 samples, all on /health.
    assert_eq!(server.hits(), 6);
}

#[test]
fn json_flag_prints_one_object() {
    let server = TestServer::http(app);
    let output = verify().args(["--url", &server.url(), "--check", "/health", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let object: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(object["healthy"], "true");
    assert_eq!(object["http-status"], "200");
    assert_eq!(object["version-seen"], "");
    assert_eq!(object["p95-ms"], "");
}

#[test]
fn slow_start_is_waited_for() {
    let server = TestServer::http_after(Duration::from_secs(2), |_| Reply::ok("up"));
    let started = Instant::now();
    let output =
        verify().args(["--url", &server.url(), "--timeout", "4500ms", "--interval", "100ms"]).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let attempts: u32 = output_value(&output, "attempts").unwrap().parse().unwrap();
    assert!(attempts > 1, "{log}");
    // Each failed attempt is one line with its reason.
    let refused = log.lines().filter(|line| line.contains("failed: GET /: connection refused by 127.0.0.1:")).count();
    assert_eq!(refused, attempts as usize - 1, "{log}");
}

#[test]
fn status_503_then_200_passes_after_retries() {
    let server =
        TestServer::http(|request| if request.index < 2 { Reply::new(503, "warming up") } else { Reply::ok("ready") });
    let output = verify().args(["--url", &server.url(), "--interval", "50ms", "--timeout", "4s"]).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert_eq!(output_value(&output, "attempts").as_deref(), Some("3"));
    assert_eq!(output_value(&output, "http-status").as_deref(), Some("200"));
    assert!(log.contains("attempt 1 failed: GET /: status 503, expected 2xx; body: warming up; retrying in"));
}

fn flapping(request: &Request) -> Reply {
    if request.index.is_multiple_of(2) { Reply::ok("up") } else { Reply::new(503, "down") }
}

#[test]
fn flapping_service_passes_one_success_but_not_three_in_a_row() {
    let server = TestServer::http(flapping);
    let once = verify().args(["--url", &server.url(), "--interval", "50ms", "--timeout", "3s"]).output().unwrap();
    assert_eq!(once.status.code(), Some(0), "{}", stderr(&once));

    let server = TestServer::http(flapping);
    let started = Instant::now();
    let thrice = verify()
        .args(["--url", &server.url(), "--interval", "50ms", "--timeout", "1500ms"])
        .args(["--consecutive", "3"])
        .output()
        .unwrap();
    let log = stderr(&thrice);
    assert_eq!(thrice.status.code(), Some(1), "{log}");
    assert!(started.elapsed() < Duration::from_secs(4));
    let error = log.lines().last().unwrap();
    assert!(
        error.contains("never 3 successes in a row (at most 1); the last failure: GET /: status 503, expected 2xx"),
        "{error}"
    );
    let outputs = String::from_utf8_lossy(&thrice.stdout);
    assert!(outputs.starts_with("healthy=false\nattempts="), "only the failure's outputs: {outputs}");
}

#[test]
fn wrong_version_fails_naming_both_versions() {
    let server = TestServer::http(app);
    let output = verify()
        .args(["--url", &server.url(), "--check", "/health"])
        .args(["--expect-version", "2.0.0", "--timeout", "1s", "--interval", "200ms"])
        .output()
        .unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let error = log.lines().last().unwrap();
    assert!(error.starts_with("verify: error: unhealthy after "), "{error}");
    assert!(error.ends_with("GET /version: version mismatch: expected 2.0.0, the service serves 1.2.3"), "{error}");
    // Retried until the timeout: the old version may still answer during a rollout.
    assert!(server.hits() > 2, "{log}");
}

#[test]
fn plain_text_version_is_read_trimmed() {
    let server = TestServer::http(|request| match request.path.as_str() {
        "/build" => Reply::ok("3.1.4\n"),
        _ => Reply::ok("up"),
    });
    let output = verify()
        .args(["--url", &server.url(), "--expect-version", "3.1.4"])
        .args(["--version-path", "/build"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(output_value(&output, "version-seen").as_deref(), Some("3.1.4"));
}

#[test]
fn slow_responses_exceed_the_latency_budget() {
    let server = TestServer::http(|_| Reply::ok("slow").after(Duration::from_millis(120)));
    let output = verify().args(["--url", &server.url(), "--samples", "3", "--latency-p95", "50ms"]).output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let error = log.lines().last().unwrap();
    assert!(error.starts_with("verify: error: latency p95 is "), "{error}");
    assert!(error.contains(" ms, over the --latency-p95 budget of 50ms (3 samples;"), "{error}");
}

#[test]
fn fast_responses_meet_the_latency_budget() {
    let server = TestServer::http(|_| Reply::ok("fast"));
    let output = verify().args(["--url", &server.url(), "--latency-p95", "2s"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // --latency-p95 alone takes 20 samples.
    assert_eq!(server.hits(), 21);
    assert!(output_value(&output, "p99-ms").is_some_and(|ms| ms.parse::<u64>().is_ok()));
}

#[test]
fn unresolvable_host_fails_after_the_timeout_with_the_dns_reason() {
    let started = Instant::now();
    let output = verify()
        .args(["--url", "http://app.invalid:8080", "--timeout", "2s"])
        .args(["--interval", "500ms"])
        .output()
        .unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5), "{elapsed:?}");
    let error = log.lines().last().unwrap();
    assert!(error.contains("GET /: DNS lookup of app.invalid failed: "), "{error}");
}

#[test]
fn secret_header_is_sent_and_masked() {
    use slipway_testkit::secrets::{API_TOKEN, WRONG_API_TOKEN};
    let server = TestServer::http(|request| {
        if request.header("authorization") == Some(format!("Bearer {API_TOKEN}").as_str()) {
            Reply::ok("welcome")
        } else {
            Reply::new(401, &format!("rejected {:?}", request.header("authorization")))
        }
    });
    let ok = verify()
        .env("GITHUB_ACTIONS", "true")
        .env("API_TOKEN", API_TOKEN)
        .args(["--url", &server.url(), "--header", "Authorization:Bearer ${API_TOKEN}"])
        .output()
        .unwrap();
    let log = stderr(&ok);
    assert_eq!(ok.status.code(), Some(0), "{log}");
    assert!(log.starts_with(&format!("::add-mask::{API_TOKEN}\n")), "{log}");

    // The server echoes what it got; the log must not show it.
    let wrong = verify()
        .env("GITHUB_ACTIONS", "true")
        .env("API_TOKEN", WRONG_API_TOKEN)
        .args(["--url", &server.url(), "--header", "Authorization:Bearer $API_TOKEN"])
        .args(["--timeout", "300ms"])
        .output()
        .unwrap();
    let log = stderr(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{log}");
    assert_eq!(log.matches(WRONG_API_TOKEN).count(), 1, "only in ::add-mask::\n{log}");
    assert!(log.contains(r#"body: rejected Some("Bearer ***")"#), "{log}");
}

#[test]
fn body_json_and_header_expectations_are_checked() {
    let server =
        TestServer::http(|_| Reply::json(r#"{"status":"UP","replicas":3,"ready":true}"#).header("X-App", "demo-7"));
    let pass = verify()
        .args(["--url", &server.url(), "--expect-body", r#""status":\s*"UP""#])
        .args(["--expect-json", "/replicas=3", "--expect-json", "/ready=true"])
        .args(["--expect-header", r"x-app=^demo-\d+$", "--expect-status", "200,204"])
        .output()
        .unwrap();
    assert_eq!(pass.status.code(), Some(0), "{}", stderr(&pass));

    let fail = verify()
        .args(["--url", &server.url(), "--expect-json", "/replicas=4"])
        .args(["--timeout", "300ms"])
        .output()
        .unwrap();
    let log = stderr(&fail);
    assert_eq!(fail.status.code(), Some(1), "{log}");
    assert!(log.lines().last().unwrap().ends_with("GET /: JSON field /replicas is 3, expected 4"), "{log}");
}

#[test]
fn env_twins_take_one_value_per_line() {
    let server = TestServer::http(|request| match request.path.as_str() {
        "/a" | "/b" => Reply::ok("ok"),
        _ => Reply::new(404, "missing"),
    });
    let output = verify()
        .env("SLIPWAY_URL", server.url())
        .env("SLIPWAY_CHECK", "/a\n/b\n")
        .env("SLIPWAY_EXPECT_VERSION", "")
        .env("SLIPWAY_INSECURE", "false")
        .env("SLIPWAY_TIMEOUT", "3s")
        .output()
        .unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("with 2 check(s)"), "{log}");
    assert_eq!(server.hits(), 2);
}

#[test]
fn help_documents_every_flag_and_its_env_twin() {
    let output = verify().arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    let flags = [
        "url",
        "check",
        "method",
        "header",
        "expect-status",
        "expect-body",
        "expect-json",
        "expect-header",
        "expect-version",
        "version-path",
        "version-pointer",
        "timeout",
        "interval",
        "consecutive",
        "request-timeout",
        "samples",
        "latency-p95",
        "tls-min-days",
        "ca-cert",
        "insecure",
        "json",
        "dotenv",
    ];
    for flag in flags {
        let env = format!("SLIPWAY_{}", flag.replace('-', "_").to_ascii_uppercase());
        assert!(help.contains(&format!("--{flag}")), "--{flag} missing from --help");
        assert!(help.contains(&format!("[env: {env}")), "{env} missing from --help");
    }
}
