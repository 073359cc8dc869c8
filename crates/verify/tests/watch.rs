//! `verify --watch`: the analysis over a window, against real servers on 127.0.0.1 (a
//! scripted HTTP server that turns bad mid-window) and a real Prometheus (Debian's
//! package) scraping a loopback target whose metrics the test sets.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Reply, Request, TestServer, stderr, stdout, verify};
use slipway_testkit::prometheus::Prometheus;

fn output_value(output: &std::process::Output, key: &str) -> Option<String> {
    stdout(output).lines().find_map(|line| line.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// The one error line a failed run ends with.
fn error_line(output: &std::process::Output) -> String {
    stderr(output).lines().rfind(|line| line.contains("error")).unwrap_or_default().to_owned()
}

/// An app that answers /health and /version (1.2.3) until `bad_after`, then what `bad` says.
fn turning(bad_after: Duration, bad: fn(&Request) -> Reply) -> TestServer {
    let started = Instant::now();
    TestServer::http(move |request| {
        if started.elapsed() >= bad_after {
            return bad(request);
        }
        match request.path.as_str() {
            "/version" => Reply::json(r#"{"version":"1.2.3"}"#),
            _ => Reply::json(r#"{"status":"UP"}"#),
        }
    })
}

#[test]
fn a_crossed_error_rate_ends_the_window_at_once_naming_the_gate() {
    let server = turning(Duration::from_millis(1500), |_| Reply::new(500, "boom"));
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let started = Instant::now();
    let output = verify()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--url", &server.url(), "--check", "/health", "--timeout", "5s", "--interval", "100ms"])
        .args(["--watch", "60s", "--max-error-rate", "10%"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(took < Duration::from_secs(10), "exited {took:?} after starting, not at the crossing: {}", stderr(&output));
    let line = error_line(&output);
    assert!(line.contains("the gate error rate was crossed after"), "{line}");
    assert!(line.contains("threshold <= 10%"), "{line}");
    assert!(line.contains("GET /health: status 500, expected 2xx; body: boom"), "{line}");
    assert_eq!(output_value(&output, "healthy").as_deref(), Some("false"));
    // The timeline explains: the rate against its threshold when it crossed.
    assert!(stderr(&output).contains("(<= 10%) crossed"), "{}", stderr(&output));
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains("error rate") && summary.contains("crossed"), "{summary}");
}

#[test]
fn a_healthy_window_passes_and_reports_its_timeline() {
    let server = turning(Duration::from_secs(3600), |_| Reply::new(500, "never"));
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let started = Instant::now();
    let output = verify()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--url", &server.url(), "--check", "/health", "--interval", "100ms"])
        .args(["--watch", "2s", "--max-error-rate", "0", "--latency-p95", "2s", "--latency-p99", "3s"])
        .args(["--expect-version", "1.2.3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(started.elapsed() >= Duration::from_secs(2), "the whole window was watched");
    assert_eq!(output_value(&output, "healthy").as_deref(), Some("true"));
    assert_eq!(output_value(&output, "version-seen").as_deref(), Some("1.2.3"));
    assert!(output_value(&output, "p95-ms").is_some_and(|ms| ms.parse::<u64>().is_ok()));
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains("| watched | `2"), "{summary}");
    assert!(summary.contains("every gate held"), "{summary}");
    assert!(
        summary.contains("| at | error rate (<= 0%) | p95 (<= 2s) | p99 (<= 3s) | version (== 1.2.3) |"),
        "{summary}"
    );
    assert!(server.hits() >= 10, "a round every 100ms for 2s: {} requests", server.hits());
}

#[test]
fn another_version_served_mid_window_crosses_the_version_gate() {
    let server = turning(Duration::from_secs(1), |request| match request.path.as_str() {
        "/version" => Reply::json(r#"{"version":"1.2.2"}"#),
        _ => Reply::json(r#"{"status":"UP"}"#),
    });
    let output = verify()
        .args(["--url", &server.url(), "--check", "/health", "--interval", "100ms"])
        .args(["--watch", "30s", "--max-error-rate", "100%", "--expect-version", "1.2.3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let line = error_line(&output);
    assert!(line.contains("the gate version was crossed"), "{line}");
    assert!(line.contains("observed 1.2.2, threshold == 1.2.3"), "{line}");
}

#[test]
fn gate_flags_are_checked_before_any_request() {
    let server = turning(Duration::from_secs(3600), |_| Reply::new(500, "never"));
    let run = |args: &[&str]| {
        let output = verify().args(["--url", &server.url()]).args(args).output().unwrap();
        (output.status.code(), error_line(&output))
    };
    let (code, line) = run(&["--watch", "5s", "--prometheus", "http://127.0.0.1:9", "--metric", "errors:sum(x)"]);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("--metric: the gate errors has no comparison"), "{line}");
    let (code, line) = run(&["--max-error-rate", "5%"]);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("--max-error-rate: judges a window of observations: give --watch"), "{line}");
    let (code, line) = run(&["--watch", "5s", "--metric", "e:x<1"]);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("needs --prometheus"), "{line}");
    let (code, line) = run(&["--watch", "soon"]);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("--watch:"), "{line}");
    assert_eq!(server.hits(), 0, "bad input sends nothing");
}

/// A loopback app whose /metrics (Prometheus text format) reports the error ratio the
/// test sets, in thousandths.
fn metrics_app(ratio_thousandths: Arc<AtomicU64>) -> TestServer {
    TestServer::http(move |request| match request.path.as_str() {
        "/metrics" => {
            let ratio = ratio_thousandths.load(Ordering::SeqCst) as f64 / 1000.0;
            Reply::ok(&format!(
                "# HELP demo_error_ratio Share of failed requests.\n# TYPE demo_error_ratio gauge\ndemo_error_ratio{{route=\"/\"}} {ratio}\n"
            ))
            .header("Content-Type", "text/plain; version=0.0.4")
        }
        _ => Reply::json(r#"{"status":"UP"}"#),
    })
}

#[test]
fn prometheus_gates_pass_cross_and_fail_as_inconclusive() {
    let ratio = Arc::new(AtomicU64::new(10));
    let app = metrics_app(Arc::clone(&ratio));
    let Some(prometheus) = Prometheus::start(&[format!("127.0.0.1:{}", app.port)]) else { return };
    prometheus.wait_for("demo_error_ratio", Duration::from_secs(30));
    let watch = |window: &str, metric: &str| {
        verify()
            .args(["--url", &app.url(), "--check", "/health", "--interval", "200ms", "--watch", window])
            .args(["--prometheus", &prometheus.url(), "--metric", metric])
            .timeout(Duration::from_secs(40))
            .output()
            .unwrap()
    };

    // 1% errors under a 5% gate: the window passes.
    let healthy = watch("2s", "errors:max(demo_error_ratio)<=0.05");
    assert_eq!(healthy.status.code(), Some(0), "{}", stderr(&healthy));
    assert!(stderr(&healthy).contains("errors 0.01 (<= 0.05)"), "{}", stderr(&healthy));

    // The ratio rises to 30% mid-window: exit 1 at the next scrape, naming the gate.
    let raise = {
        let ratio = Arc::clone(&ratio);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(2));
            ratio.store(300, Ordering::SeqCst);
        })
    };
    let started = Instant::now();
    let crossed = watch("60s", "errors:max(demo_error_ratio)<=0.05");
    raise.join().unwrap();
    assert_eq!(crossed.status.code(), Some(1), "{}", stderr(&crossed));
    assert!(started.elapsed() < Duration::from_secs(15), "ended at the crossing: {:?}", started.elapsed());
    let line = error_line(&crossed);
    assert!(line.contains("the gate errors was crossed after"), "{line}");
    assert!(line.contains("observed 0.3, threshold <= 0.05"), "{line}");

    // A query Prometheus refuses is inconclusive at once, a failure.
    let started = Instant::now();
    let refused = watch("60s", "errors:max(demo_error_ratio[)<=0.05");
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let line = error_line(&refused);
    assert!(line.contains("the gate errors is inconclusive"), "{line}");
    assert!(line.contains("bad_data"), "{line}");

    // A series that never exists: an empty vector to the end of the window, a failure.
    let empty = watch("2s", "errors:max(no_such_metric_total)<=0.05");
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    let line = error_line(&empty);
    assert!(line.contains("the gate errors is inconclusive"), "{line}");
    assert!(line.contains("empty vector"), "{line}");

    // Prometheus unreachable: inconclusive, never a pass.
    let gone = verify()
        .args(["--url", &app.url(), "--check", "/health", "--interval", "200ms", "--watch", "5s"])
        .args(["--prometheus", &format!("http://127.0.0.1:{}", slipway_testkit::free_port())])
        .args(["--metric", "errors:max(demo_error_ratio)<=0.05"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(1), "{}", stderr(&gone));
    assert!(error_line(&gone).contains("cannot be queried"), "{}", error_line(&gone));
}

/// The sample app (its jar, built with Maven) on a loopback port, with `APP_FAIL_PERCENT`.
fn sample_app(jar: &std::path::Path, fail_percent: &str) -> (slipway_testkit::ChildGuard, u16) {
    let port = slipway_testkit::free_port();
    let child = std::process::Command::new("java")
        .arg("-jar")
        .arg(jar)
        .env("PORT", port.to_string())
        .env("APP_FAIL_PERCENT", fail_percent)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = slipway_testkit::ChildGuard(child);
    slipway_testkit::wait_for_http(port, "/health", Duration::from_secs(60)).unwrap();
    (guard, port)
}

#[test]
fn the_sample_apps_own_metrics_judged_through_prometheus() {
    if !(slipway_testkit::maven_ready() && slipway_testkit::java_ready()) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let jar = slipway_testkit::build_sample_fat_jar(work.path());
    let (_healthy_app, healthy) = sample_app(&jar, "0");
    let (_failing_app, failing) = sample_app(&jar, "20");
    let Some(prometheus) = Prometheus::start(&[format!("127.0.0.1:{healthy}"), format!("127.0.0.1:{failing}")]) else {
        return;
    };
    // Traffic on both apps' GET / until the test ends.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for port in [healthy, failing] {
                    let _ = slipway_testkit::http_get(port, "/");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    // The share of 5xx answers over 5s (no 5xx series yet means 0, not "no data").
    let gate = |port: u16| {
        let instance = format!("instance=\"127.0.0.1:{port}\"");
        format!(
            "errors:(sum(rate(sample_http_requests_total{{{instance},code=~\"5..\"}}[5s])) or vector(0)) / sum(rate(sample_http_requests_total{{{instance}}}[5s]))<=0.05"
        )
    };
    prometheus.wait_for(
        &format!("rate(sample_http_requests_total{{instance=\"127.0.0.1:{failing}\",code=\"500\"}}[5s])"),
        Duration::from_secs(30),
    );
    let watch = |port: u16, window: &str| {
        verify()
            .args(["--url", &format!("http://127.0.0.1:{port}"), "--check", "/health", "--interval", "250ms"])
            .args(["--watch", window, "--prometheus", &prometheus.url(), "--metric", &gate(port)])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    };
    let passed = watch(healthy, "3s");
    let started = Instant::now();
    let crossed = watch(failing, "60s");
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    assert_eq!(passed.status.code(), Some(0), "{}", stderr(&passed));
    assert!(stderr(&passed).contains("errors 0 (<= 0.05)"), "{}", stderr(&passed));
    assert_eq!(crossed.status.code(), Some(1), "{}", stderr(&crossed));
    assert!(took < Duration::from_secs(15), "ended at the crossing: {took:?}");
    let line = error_line(&crossed);
    assert!(line.contains("the gate errors was crossed after"), "{line}");
    let observed: f64 = line
        .split("observed ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no observed value: {line}"));
    assert!((0.1..=0.25).contains(&observed), "about 20% of the answers fail: {observed}");
}
