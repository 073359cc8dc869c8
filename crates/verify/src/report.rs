//! A verification as the contract's outputs and summary section.

use slipway_contract::keys::verify as keys;
use slipway_contract::{Outputs, Summary};

use crate::analysis::{WindowReport, timeline_table};
use crate::execute::Verification;
use crate::latency::millis;
use crate::plan::Plan;
use crate::probe::humanize;

/// The outputs of a healthy run, in CONTRACT.md's order; empty when not measured. A
/// watched run reports what its window saw (its last status, version and percentiles).
pub fn outputs(run: &Verification, window: Option<&WindowReport>) -> Outputs {
    let mut outputs = Outputs::new();
    let latency = window.and_then(|w| w.latency).or(run.latency);
    let ms = |pick: fn(&crate::LatencyStats) -> std::time::Duration| {
        latency.as_ref().map(|stats| millis(pick(stats)).to_string()).unwrap_or_default()
    };
    let last_status = window.and_then(|w| w.last_status).or(run.last_status);
    let version_seen = window.and_then(|w| w.version_seen.clone()).or_else(|| run.version_seen.clone());
    outputs
        .set(keys::HEALTHY, "true")
        .set(keys::ATTEMPTS, run.attempts)
        .set(keys::HTTP_STATUS, last_status.map(|s| s.to_string()).unwrap_or_default())
        .set(keys::VERSION_SEEN, version_seen.unwrap_or_default())
        .set(keys::P50_MS, ms(|stats| stats.p50))
        .set(keys::P95_MS, ms(|stats| stats.p95))
        .set(keys::P99_MS, ms(|stats| stats.p99))
        .set(keys::TLS_DAYS_LEFT, run.cert.as_ref().map(|cert| cert.days_left.to_string()).unwrap_or_default());
    outputs
}

/// The window's timeline as log lines: `4s: error rate 0% (0 of 40) (<= 5%), ...`.
pub fn timeline_lines(window: &WindowReport) -> Vec<String> {
    window
        .timeline
        .iter()
        .map(|checkpoint| {
            let readings: Vec<String> = checkpoint.readings.iter().map(ToString::to_string).collect();
            format!("{}: {}", humanize(checkpoint.at), readings.join(", "))
        })
        .collect()
}

/// The Markdown section: one row per check, then what was proven and measured, then
/// the watch's timeline (each gate's observed value against its threshold).
pub fn summary(plan: &Plan, run: &Verification, window: Option<&WindowReport>) -> Summary {
    let mut summary = Summary::new(&format!("✅ verify: {} is healthy", plan.base_url));
    let rows: Vec<Vec<String>> = run
        .checks
        .iter()
        .map(|record| {
            vec![
                format!("`{}`", record.label),
                record.attempts.to_string(),
                record.last_status.map(|status| status.to_string()).unwrap_or_else(|| "-".to_owned()),
                record.last_latency.map(|latency| format!("{} ms", millis(latency))).unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    summary.table(&["check", "attempts", "status", "latency"], &rows);
    let mut facts = vec![("attempts", format!("{} in {}", run.attempts, humanize(run.elapsed)))];
    if let Some(version) = &run.version_seen {
        facts.push(("version", version.clone()));
    }
    if let Some(stats) = &run.latency {
        facts.push((
            "latency",
            format!(
                "p50 {} ms, p95 {} ms, p99 {} ms ({} samples)",
                millis(stats.p50),
                millis(stats.p95),
                millis(stats.p99),
                stats.samples
            ),
        ));
    }
    if let Some(cert) = &run.cert {
        facts.push(("TLS certificate", format!("{} day(s) left, until {}", cert.days_left, cert.not_after)));
    }
    if let Some(window) = window {
        facts.push((
            "watched",
            format!(
                "{} with {} probe(s), {} failed: {}",
                humanize(window.elapsed),
                window.probes,
                window.failed,
                window.decision
            ),
        ));
    }
    summary.facts(&facts);
    if let Some(window) = window {
        let (headers, rows) = timeline_table(&window.timeline);
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        summary.table(&headers, &rows);
    }
    summary
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LatencyStats;
    use crate::execute::CheckRecord;
    use crate::probe::CertInfo;

    fn healthy_run() -> Verification {
        Verification {
            base_url: "https://app.example.com/".to_owned(),
            attempts: 3,
            elapsed: Duration::from_millis(4200),
            checks: vec![
                CheckRecord {
                    label: "GET /health".to_owned(),
                    attempts: 3,
                    passes: 1,
                    last_status: Some(200),
                    last_latency: Some(Duration::from_millis(12)),
                    last_failure: None,
                },
                CheckRecord {
                    label: "GET /version".to_owned(),
                    attempts: 1,
                    passes: 1,
                    last_status: Some(200),
                    last_latency: Some(Duration::from_millis(3)),
                    last_failure: None,
                },
            ],
            last_status: Some(200),
            version_seen: Some("1.0.0".to_owned()),
            latency: Some(LatencyStats {
                samples: 20,
                p50: Duration::from_millis(4),
                p95: Duration::from_millis(9),
                p99: Duration::from_millis(15),
            }),
            https: true,
            cert: Some(CertInfo { days_left: 42, not_after: "2030-01-01".to_owned() }),
        }
    }

    #[test]
    fn outputs_follow_the_contract() {
        let outputs = outputs(&healthy_run(), None);
        let pairs: Vec<String> = outputs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            pairs,
            [
                "healthy=true",
                "attempts=3",
                "http-status=200",
                "version-seen=1.0.0",
                "p50-ms=4",
                "p95-ms=9",
                "p99-ms=15",
                "tls-days-left=42"
            ]
        );
    }

    #[test]
    fn summary_has_a_row_per_check_and_the_facts() {
        let log = slipway_contract::console::CapturedLog::default();
        let args = crate::VerifyArgs { url: "https://app.example.com".to_owned(), ..crate::VerifyArgs::default() };
        let plan = Plan::from_args(&args, &|_| None, &log.console("verify", slipway_contract::CiMode::Plain)).unwrap();
        insta::assert_snapshot!(summary(&plan, &healthy_run(), None).markdown(), @r"
        ### ✅ verify: https://app.example.com/ is healthy

        | check | attempts | status | latency |
        | --- | --- | --- | --- |
        | `GET /health` | 3 | 200 | 12 ms |
        | `GET /version` | 1 | 200 | 3 ms |

        |  |  |
        | --- | --- |
        | attempts | `3 in 4.2s` |
        | version | `1.0.0` |
        | latency | `p50 4 ms, p95 9 ms, p99 15 ms (20 samples)` |
        | TLS certificate | `42 day(s) left, until 2030-01-01` |
        ");
    }
}
