//! The fault campaign (issue 12): pushes of a multi-layer image through fault proxies
//! injecting connection resets, 500s, 429 with `Retry-After`, stalled answers, stalled
//! uploads and truncated bodies, every one complete and digest-verified blob by blob; and a
//! stalled upload never outlives `--timeout`.
//!
//! The registry is one of the test's own (`docker-registry`, no auth), so the campaign
//! needs nothing else. The image's base lives there behind one proxy and the pushes go
//! through another, so the base's layers are streamed (not mounted) through faults too.
//! `SLIPWAY_FAULT_PUSHES` sets the number of pushes (10 by default, about half a minute;
//! `scripts/fault-campaign.sh` runs 50). Skips without `docker-registry` unless
//! SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use common::{Sizes, layout, push_image, top_digest};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use slipway_testkit::faults::{FaultPlan, FaultProxy, FaultStats};
use slipway_testkit::http::verify_image;
use slipway_testkit::registries::OpenRegistry;
use slipway_testkit::{StepRun, run_with_sinks};

/// The layer sizes this test pushes.
const SIZES: Sizes = Sizes { app_kib: 256, extra_kib: 128 };

fn push(layout: &Path, image: &str, extra: &[&str], sinks: &Path) -> StepRun {
    let mut command = push_image();
    command.arg("--layout").arg(layout).args(["--image", image, "--tag", "1"]).args(extra);
    run_with_sinks(command, sinks)
}

fn pushes() -> usize {
    std::env::var("SLIPWAY_FAULT_PUSHES").ok().and_then(|n| n.parse().ok()).unwrap_or(10)
}

fn summary(name: &str, stats: &FaultStats) -> String {
    let n = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    format!(
        "{name}: {} requests, {} x 500, {} x 429, {} resets, {} stalls, {} truncations",
        n(&stats.requests),
        n(&stats.errors_500),
        n(&stats.errors_429),
        n(&stats.resets),
        n(&stats.stalls),
        n(&stats.truncations)
    )
}

#[test]
fn every_push_through_faults_completes_digest_verified() {
    let Some(registry) = OpenRegistry::start() else { return };
    let work = tempfile::tempdir().unwrap();

    // The base: three layers, pushed without faults.
    let base_layout = layout(work.path(), "scratch", 2, SIZES);
    let base = push(&base_layout, &format!("{}/campaign/base", registry.host()), &[], work.path());
    assert_eq!(base.code, 0, "{}", base.stderr);

    let faults = FaultPlan {
        error_500: 60,
        error_429: 30,
        reset: 0,
        reset_mid_body: 150,
        stall: 40,
        stall_mid_body: 60,
        stall_for: Duration::from_secs(1),
        truncate: 250,
        seed: 0x5eed_0012,
    };
    let base_proxy = FaultProxy::start(registry.port, FaultPlan::calm(1)).unwrap();
    let destination = FaultProxy::start(registry.port, faults).unwrap();
    let count = pushes();
    let started = Instant::now();
    for round in 0..count {
        // containerize reads the base's manifest and config calmly; the push then streams
        // the base's layers through faults.
        base_proxy.set_plan(FaultPlan::calm(1));
        let layout = layout(work.path(), &format!("127.0.0.1:{}/campaign/base:1", base_proxy.port), 2, SIZES);
        base_proxy.set_plan(FaultPlan { seed: faults.seed + round as u64, ..faults });
        let repository = format!("campaign/app{round}");
        let run =
            push(&layout, &format!("127.0.0.1:{}/{repository}", destination.port), &["--timeout", "2m"], work.path());
        assert_eq!(run.code, 0, "push {round}: {}", run.stderr);
        assert_eq!(run.output("blobs-mounted"), Some("0"), "another registry's base is streamed, not mounted");
        let digest =
            verify_image(registry.port, &repository, "1", None).unwrap_or_else(|e| panic!("push {round}: {e}"));
        assert_eq!(digest, top_digest(&layout), "push {round}");
        std::fs::remove_dir_all(&layout).unwrap();
    }
    eprintln!(
        "fault campaign: {count} of {count} pushes complete and digest-verified in {:.1}s\n{}\n{}",
        started.elapsed().as_secs_f64(),
        summary("destination proxy", &destination.stats),
        summary("base proxy", &base_proxy.stats)
    );
    let all = |pick: fn(&FaultStats) -> &std::sync::atomic::AtomicU64| {
        pick(&destination.stats).load(Ordering::Relaxed) + pick(&base_proxy.stats).load(Ordering::Relaxed)
    };
    assert!(all(|s| &s.errors_500) > 0, "no 500 was injected");
    assert!(all(|s| &s.errors_429) > 0, "no 429 was injected");
    assert!(all(|s| &s.resets) > 0, "no reset was injected");
    assert!(all(|s| &s.stalls) > 0, "no stall was injected");
    assert!(all(|s| &s.truncations) > 0, "no truncation was injected");
}

#[test]
fn a_stalled_upload_never_outlives_the_timeout() {
    let Some(registry) = OpenRegistry::start() else { return };
    let work = tempfile::tempdir().unwrap();
    // Every upload stalls halfway for an hour; everything else goes through.
    let proxy = FaultProxy::start(
        registry.port,
        FaultPlan { stall_mid_body: 1000, stall_for: Duration::from_secs(3600), ..FaultPlan::calm(3) },
    )
    .unwrap();
    let layout = layout(work.path(), "scratch", 1, SIZES);
    let started = Instant::now();
    let run = push(&layout, &format!("127.0.0.1:{}/stalled/app", proxy.port), &["--timeout", "4s"], work.path());
    let elapsed = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(elapsed < Duration::from_secs(8), "the push ended {elapsed:?} after it started, with --timeout 4s");
    assert!(elapsed >= Duration::from_secs(3), "it waited for the stalled upload: {elapsed:?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("push-image: error: ")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("at the timeout"), "{}", errors[0]);
    assert!(proxy.stats.stalls.load(Ordering::Relaxed) > 0);
    assert!(run.stdout.is_empty(), "no outputs: {}", run.stdout);
}

#[test]
fn a_push_cancelled_mid_upload_ends_at_once_and_moves_no_tag() {
    let Some(registry) = OpenRegistry::start() else { return };
    let work = tempfile::tempdir().unwrap();
    // Every upload stalls halfway for an hour, so the job is cancelled mid-upload.
    let proxy = FaultProxy::start(
        registry.port,
        FaultPlan { stall_mid_body: 1000, stall_for: Duration::from_secs(3600), ..FaultPlan::calm(4) },
    )
    .unwrap();
    let layout = layout(work.path(), "scratch", 1, SIZES);
    let mut command = push_image();
    command.arg("--layout").arg(&layout).args(["--image", &format!("127.0.0.1:{}/cancelled/app", proxy.port)]);
    command.args(["--tag", "1", "--timeout", "10m"]);
    let cancelled = slipway_testkit::interrupt::run_interrupted(command, work.path(), "==> push", "TERM");
    let run = &cancelled.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ended_after = cancelled.ended_after.expect("the push started");
    assert!(ended_after < Duration::from_secs(3), "ended {ended_after:?} after SIGTERM, not at --timeout");
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("push-image: error: ")).collect();
    assert_eq!(
        errors,
        ["push-image: error: interrupted by SIGTERM (the job was cancelled); the step stopped before it finished"]
    );
    assert!(run.stdout.is_empty(), "no outputs: {}", run.stdout);
    // Nothing half done: the tag was never moved (a manifest goes up after its blobs).
    assert!(verify_image(registry.port, "cancelled/app", "1", None).is_err(), "the tag exists after a cancelled push");

    // And the next push, without faults, completes.
    proxy.set_plan(FaultPlan::calm(5));
    let next = push(&layout, &format!("127.0.0.1:{}/cancelled/app", proxy.port), &[], work.path());
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert_eq!(verify_image(registry.port, "cancelled/app", "1", None).unwrap(), top_digest(&layout));
}
