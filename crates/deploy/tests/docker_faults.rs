//! deploy's pulls through the fault proxy of `slipway_testkit::faults` (issue 12): the
//! Docker Engine pulls the image from the loopback registry through a proxy that answers
//! 500s and 429s (with `Retry-After`), closes connections unanswered, holds answers back
//! and cuts bodies short. Every deployment completes within `--timeout` (the engine
//! retries layers itself; deploy retries the pull); a pull that stalls ends at
//! `--timeout` with one line and `status=unchanged`. The proxy listens on 127.0.0.1,
//! which the engine reaches as an insecure registry (127.0.0.0/8 is one by default).
//! `SLIPWAY_FAULT_PULLS` sets the number of deployments (5 by default). Skips without
//! Docker, the registry or Maven unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Containers, deploy_command, error_line, fresh_image, inspect, run, sample_jar, unique_name};
use slipway_testkit::faults::{FaultPlan, FaultProxy, FaultStats};
use slipway_testkit::{LocalImage, docker_ready, free_port, test_registry, wait_for_http};

fn count(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn registry_port(registry: &str) -> u16 {
    registry.rsplit(':').next().unwrap().parse().unwrap()
}

fn pulls() -> usize {
    std::env::var("SLIPWAY_FAULT_PULLS").ok().and_then(|n| n.parse().ok()).unwrap_or(5)
}

fn summary(stats: &FaultStats) -> String {
    format!(
        "{} requests, {} x 500, {} x 429, {} closed unanswered, {} stalls, {} truncations",
        count(&stats.requests),
        count(&stats.errors_500),
        count(&stats.errors_429),
        count(&stats.resets),
        count(&stats.stalls),
        count(&stats.truncations)
    )
}

#[test]
fn every_deploy_pulling_through_faults_completes_within_its_timeout() {
    if !docker_ready() {
        return;
    }
    let Some(registry) = test_registry() else { return };
    let Some(jar) = sample_jar() else { return };
    let faults = FaultPlan {
        error_500: 150,
        error_429: 100,
        reset: 100,
        reset_mid_body: 0,
        stall: 60,
        stall_mid_body: 0,
        stall_for: Duration::from_secs(2),
        truncate: 300,
        seed: 0x5eed_0012_d0c4,
    };
    let proxy = FaultProxy::start(registry_port(&registry), FaultPlan::calm(1)).unwrap();
    let through_proxy = format!("127.0.0.1:{}", proxy.port);
    let count_pulls = pulls();
    let started = Instant::now();
    let mut retried = 0;
    for round in 0..count_pulls {
        // Pushed straight to the registry; only the engine's pull goes through the faults.
        let (reference, repository) = fresh_image(&registry, &registry, jar, 256);
        let digest = reference.rsplit_once('@').unwrap().1.to_owned();
        let image = format!("{through_proxy}/{repository}@{digest}");
        let _image = LocalImage(image.clone());
        let name = unique_name(&format!("faults{round}"));
        let _cleanup = Containers(name.clone());
        let port = free_port();
        proxy.set_plan(FaultPlan { seed: faults.seed + round as u64, ..faults });
        let mut command = deploy_command();
        command.args(["--target", "docker", "--strategy", "direct", "--name", &name, "--timeout", "3m"]).args([
            "--publish",
            &format!("127.0.0.1:{port}:8080"),
            "--image",
            &image,
            "--version-label",
            "v1",
        ]);
        let began = Instant::now();
        let deployed = run(command);
        let took = began.elapsed();
        proxy.set_plan(FaultPlan::calm(1));
        assert_eq!(deployed.code, 0, "deploy {round}: {}", deployed.stderr);
        assert!(took < Duration::from_secs(180), "deploy {round} took {took:?}, past --timeout 3m");
        assert_eq!(deployed.output("status"), Some("deployed"), "{}", deployed.stdout);
        assert_eq!(inspect(&name, "{{.Config.Image}}").as_deref(), Some(image.as_str()));
        assert!(wait_for_http(port, "/health", Duration::from_secs(30)).unwrap().contains("UP"));
        for line in deployed.stderr.lines().filter(|line| line.contains("pull attempt ")) {
            eprintln!("deploy {round}: {line}");
            retried += 1;
        }
        eprintln!("deploy {round}: {:.1}s, {} so far", took.as_secs_f64(), summary(&proxy.stats));
    }
    eprintln!(
        "pull faults: {count_pulls} of {count_pulls} deployments complete in {:.1}s; deploy retried {retried} pull(s); {}",
        started.elapsed().as_secs_f64(),
        summary(&proxy.stats)
    );
    let stats = &proxy.stats;
    assert!(count(&stats.errors_500) + count(&stats.errors_429) > 0, "no 500 or 429 was injected");
    assert!(count(&stats.truncations) > 0, "no body was cut short");
}

#[test]
fn a_pull_that_stalls_ends_at_the_timeout_with_one_line() {
    if !docker_ready() {
        return;
    }
    let Some(registry) = test_registry() else { return };
    let Some(jar) = sample_jar() else { return };
    let (reference, repository) = fresh_image(&registry, &registry, jar, 64);
    let digest = reference.rsplit_once('@').unwrap().1.to_owned();
    // Every answer is held back for an hour.
    let proxy = FaultProxy::start(
        registry_port(&registry),
        FaultPlan { stall: 1000, stall_for: Duration::from_secs(3600), ..FaultPlan::calm(2) },
    )
    .unwrap();
    let image = format!("127.0.0.1:{}/{repository}@{digest}", proxy.port);
    let _image = LocalImage(image.clone());
    let name = unique_name("stalled-pull");
    let _cleanup = Containers(name.clone());
    let mut command = deploy_command();
    command.args(["--target", "docker", "--strategy", "direct", "--name", &name, "--timeout", "8s"]).args([
        "--image",
        &image,
        "--version-label",
        "v1",
    ]);
    let began = Instant::now();
    let stalled = run(command);
    let took = began.elapsed();
    eprintln!("a stalled pull with --timeout 8s: ended after {:.1}s", took.as_secs_f64());
    assert_eq!(stalled.code, 1, "{}", stalled.stderr);
    assert!(took < Duration::from_secs(11), "the stalled pull outlived --timeout 8s: {took:?}");
    let errors: Vec<&str> = stalled.stderr.lines().filter(|l| l.starts_with("deploy: error: ")).collect();
    assert_eq!(errors.len(), 1, "{}", stalled.stderr);
    assert!(error_line(&stalled).contains("took longer than --timeout"), "{}", stalled.stderr);
    assert_eq!(stalled.output("status"), Some("unchanged"), "{}", stalled.stdout);
    assert!(count(&proxy.stats.stalls) > 0);
    assert_eq!(inspect(&name, "{{.Id}}"), None, "no container was created");
}
