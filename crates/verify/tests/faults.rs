//! verify's probes through the fault proxy of `slipway_testkit::faults` (issue 12): 500s,
//! 429s, connections closed before an answer, answers held back and bodies cut short are
//! retried by verify's own rules (backoff under `--timeout`) until the service is proven
//! healthy; a stalled answer never outlives `--timeout`, in the wait or in the latency
//! samples after it.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Reply, Request, TestServer, stderr, stdout, verify};
use slipway_testkit::faults::{FaultPlan, FaultProxy, FaultStats};

fn app(request: &Request) -> Reply {
    match request.path.as_str() {
        "/health" => Reply::json(r#"{"status":"UP"}"#),
        "/version" => Reply::json(r#"{"name":"sample-app","version":"1.2.3"}"#),
        _ => Reply::new(404, "no such page"),
    }
}

fn count(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn error_lines(output: &std::process::Output) -> Vec<String> {
    stderr(output).lines().filter(|line| line.starts_with("verify: error: ")).map(str::to_owned).collect()
}

#[test]
fn every_verify_through_faults_proves_the_service_healthy_within_its_timeout() {
    let server = TestServer::http(app);
    let faults = FaultPlan {
        error_500: 80,
        error_429: 60,
        reset: 60,
        reset_mid_body: 0,
        stall: 30,
        stall_mid_body: 0,
        stall_for: Duration::from_secs(3600),
        truncate: 100,
        seed: 0x5eed_0012_7e41,
    };
    let proxy = FaultProxy::start(server.port, faults).unwrap();
    let url = format!("http://127.0.0.1:{}", proxy.port);
    let runs = 20;
    let started = Instant::now();
    let mut attempts = 0;
    for run in 0..runs {
        let began = Instant::now();
        let output = verify()
            .args(["--url", &url, "--check", "/health", "--expect-json", "/status=UP", "--expect-version", "1.2.3"])
            .args(["--consecutive", "2", "--interval", "50ms", "--request-timeout", "1s", "--timeout", "30s"])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let took = began.elapsed();
        assert!(output.status.success(), "run {run}: {}", stderr(&output));
        assert!(took < Duration::from_secs(30), "run {run} took {took:?}, past --timeout 30s");
        let stdout = stdout(&output);
        assert!(stdout.contains("healthy=true\n") && stdout.contains("version-seen=1.2.3\n"), "run {run}: {stdout}");
        attempts += stdout.lines().find_map(|line| line.strip_prefix("attempts=")).unwrap().parse::<u64>().unwrap();
    }
    let stats: &FaultStats = &proxy.stats;
    eprintln!(
        "verify through faults: {runs} of {runs} runs healthy in {:.1}s, {attempts} attempts; {} requests, {} x 500, {} x 429, {} closed unanswered, {} stalls, {} truncations",
        started.elapsed().as_secs_f64(),
        count(&stats.requests),
        count(&stats.errors_500),
        count(&stats.errors_429),
        count(&stats.resets),
        count(&stats.stalls),
        count(&stats.truncations),
    );
    assert!(count(&stats.errors_500) > 0, "no 500 was injected");
    assert!(count(&stats.errors_429) > 0, "no 429 was injected");
    assert!(count(&stats.resets) > 0, "no connection was closed unanswered");
    assert!(count(&stats.stalls) > 0, "no answer was held back");
    assert!(count(&stats.truncations) > 0, "no body was cut short");
}

#[test]
fn a_stalled_answer_never_outlives_verifys_timeout() {
    let server = TestServer::http(app);
    let proxy = FaultProxy::start(
        server.port,
        FaultPlan { stall: 1000, stall_for: Duration::from_secs(3600), ..FaultPlan::calm(12) },
    )
    .unwrap();
    let began = Instant::now();
    let output = verify()
        .args(["--url", &format!("http://127.0.0.1:{}", proxy.port), "--check", "/health"])
        .args(["--request-timeout", "1m", "--timeout", "3s"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let took = began.elapsed();
    eprintln!("a stalled answer with --timeout 3s: ended after {:.1}s", took.as_secs_f64());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(took >= Duration::from_secs(3), "it gave up before --timeout: {took:?}");
    assert!(took < Duration::from_secs(5), "the stall outlived --timeout 3s: {took:?}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{}", stderr(&output));
    assert!(errors[0].contains("no complete answer within"), "{}", errors[0]);
    assert!(errors[0].contains("(the time left of --timeout)"), "{}", errors[0]);
    assert!(stdout(&output).contains("healthy=false\n"), "{}", stdout(&output));
    assert!(count(&proxy.stats.stalls) > 0);
}

#[test]
fn a_latency_sample_that_stalls_ends_at_the_timeout() {
    // Healthy at once, then every answer is held back: the latency samples stall.
    let server = TestServer::http(|request: &Request| {
        let reply = app(request);
        if request.index == 0 { reply } else { reply.after(Duration::from_secs(3600)) }
    });
    let began = Instant::now();
    let output = verify()
        .args(["--url", &server.url(), "--check", "/health", "--samples", "3"])
        .args(["--request-timeout", "1m", "--timeout", "3s"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let took = began.elapsed();
    eprintln!("a stalled latency sample with --timeout 3s: ended after {:.1}s", took.as_secs_f64());
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(took < Duration::from_secs(5), "a stalled sample outlived --timeout 3s: {took:?}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{}", stderr(&output));
    assert!(errors[0].contains("3 of 3 latency sample(s) failed"), "{}", errors[0]);
}

#[test]
fn a_watch_whose_probes_stall_ends_with_its_window() {
    // Healthy at once through a calm proxy; then, inside the window, every answer is held
    // back an hour: the watch must still end when its window does, judged, not hang on
    // the probes' own --request-timeout.
    let server = TestServer::http(app);
    let proxy = FaultProxy::start(server.port, FaultPlan::calm(13)).unwrap();
    let stalled = FaultPlan { stall: 1000, stall_for: Duration::from_secs(3600), ..FaultPlan::calm(13) };
    let url = format!("http://127.0.0.1:{}", proxy.port);
    let began = Instant::now();
    let output = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1000));
            proxy.set_plan(stalled);
        });
        verify()
            .args(["--url", &url, "--check", "/health", "--interval", "100ms"])
            .args(["--watch", "3s", "--request-timeout", "1m", "--timeout", "1m"])
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    });
    let took = began.elapsed();
    eprintln!("a watch whose probes stall, --watch 3s: ended after {:.1}s\n{}", took.as_secs_f64(), stderr(&output));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(took < Duration::from_secs(6), "a stalled probe outlived the 3s window: {took:?}");
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{}", stderr(&output));
    assert!(errors[0].contains("the gate error rate was crossed"), "{}", errors[0]);
    assert!(errors[0].contains("(the time left of the window)"), "{}", errors[0]);
    assert!(count(&proxy.stats.stalls) > 0);
}
