//! Executing a plan: attempts under the overall timeout with backoff, then the
//! post-conditions of a healthy service (certificate lifetime, latency budget).

use std::time::{Duration, Instant};

use slipway_contract::Console;

use crate::error::VerifyError;
use crate::expect::evaluate;
use crate::latency::{LatencyStats, millis};
use crate::plan::{Check, Plan};
use crate::probe::{CertInfo, Client, humanize};

/// A request under way at the deadline still gets this long, so the last attempt is a
/// real one rather than an instant timeout.
const LAST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// What one check went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRecord {
    pub label: String,
    pub attempts: u32,
    pub passes: u32,
    pub last_status: Option<u16>,
    pub last_latency: Option<Duration>,
    pub last_failure: Option<String>,
}

/// The result of a healthy run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub base_url: String,
    /// Attempts, each running every check in order.
    pub attempts: u32,
    pub elapsed: Duration,
    pub checks: Vec<CheckRecord>,
    pub last_status: Option<u16>,
    pub version_seen: Option<String>,
    pub latency: Option<LatencyStats>,
    pub https: bool,
    pub cert: Option<CertInfo>,
}

/// The pause after the `failures`-th failure in a row: `interval` doubled each time,
/// capped at `max`, then "equal jitter" (half fixed, half random from `jitter` in
/// [0, 1)) so that many verifiers do not hit a recovering service in step.
pub fn backoff_delay(interval: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let base = interval.saturating_mul(1 << doublings).min(max);
    base / 2 + (base / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// Waits until every check passes `consecutive` attempts in a row, then checks the
/// certificate and measures latency.
pub async fn execute(plan: &Plan, client: &Client, console: &Console) -> Result<Verification, VerifyError> {
    let wait = &plan.wait;
    let started = Instant::now();
    let deadline = started + wait.timeout;
    let mut run = Verification {
        base_url: plan.base_url.to_string(),
        attempts: 0,
        elapsed: Duration::ZERO,
        checks: plan
            .checks
            .iter()
            .map(|check| CheckRecord { label: check.label.clone(), ..CheckRecord::default() })
            .collect(),
        last_status: None,
        version_seen: None,
        latency: None,
        https: plan.base_url.scheme() == "https",
        cert: None,
    };
    console.info(&format!(
        "verifying {} with {} check(s) for up to {} ({} success(es) in a row needed)",
        plan.base_url,
        plan.checks.len(),
        humanize(wait.timeout),
        wait.consecutive
    ));

    let mut streak = 0;
    let mut best_streak = 0;
    let mut failures_in_row = 0;
    let mut last_failure: Option<String> = None;
    loop {
        run.attempts += 1;
        let attempt = run.attempts;
        let outcome = run_round(plan, client, &mut run, deadline).await;
        let remaining = deadline.saturating_duration_since(Instant::now());
        match outcome {
            Ok(()) => {
                streak += 1;
                best_streak = best_streak.max(streak);
                failures_in_row = 0;
                if streak >= wait.consecutive {
                    console.info(&format!("attempt {attempt}: all {} check(s) passed", plan.checks.len()));
                    break;
                }
                let passed = format!(
                    "attempt {attempt}: all {} check(s) passed ({streak} of {} in a row)",
                    plan.checks.len(),
                    wait.consecutive
                );
                if remaining.is_zero() {
                    console.info(&passed);
                    break;
                }
                let pause = wait.interval.min(remaining);
                console.info(&format!("{passed}; next in {}", humanize(pause)));
                tokio::time::sleep(pause).await;
            }
            Err(reason) => {
                streak = 0;
                failures_in_row += 1;
                let pause =
                    backoff_delay(wait.interval, wait.max_interval, failures_in_row, fastrand::f64()).min(remaining);
                if remaining.is_zero() {
                    console.info(&format!("attempt {attempt} failed: {reason}"));
                } else {
                    console.info(&format!(
                        "attempt {attempt} failed: {reason}; retrying in {} ({} left)",
                        humanize(pause),
                        humanize(remaining)
                    ));
                }
                last_failure = Some(reason);
                if remaining.is_zero() {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
    run.elapsed = started.elapsed();
    if streak < wait.consecutive {
        let reason = match (last_failure, wait.consecutive) {
            (Some(failure), 1) => failure,
            (Some(failure), needed) => {
                format!("never {needed} successes in a row (at most {best_streak}); the last failure: {failure}")
            }
            (None, needed) => format!(
                "only {streak} of {needed} successes in a row before --timeout {}; raise --timeout",
                humanize(wait.timeout)
            ),
        };
        return Err(VerifyError::Unhealthy {
            attempts: run.attempts,
            elapsed: humanize(run.elapsed),
            reason,
            detail: detail_lines(&run.checks),
        });
    }
    if let Some(version) = &run.version_seen {
        console.info(&format!("the service serves version {version}"));
    }

    check_certificate(plan, &run, console)?;
    run.latency = measure_latency(plan, client, deadline, console).await?;
    Ok(run)
}

/// The flag that set a request's time limit: --request-timeout, or --timeout when the
/// time left of it was shorter.
fn limit_name(plan: &Plan, timeout: Duration) -> &'static str {
    if timeout < plan.wait.request_timeout { "the time left of --timeout" } else { "--request-timeout" }
}

/// One attempt: every check in order, stopping at the first that fails.
async fn run_round(plan: &Plan, client: &Client, run: &mut Verification, deadline: Instant) -> Result<(), String> {
    for (check, record) in plan.checks.iter().zip(run.checks.iter_mut()) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timeout = plan.wait.request_timeout.min(remaining.max(LAST_REQUEST_GRACE));
        record.attempts += 1;
        let failure = match client.probe_within(check, timeout, limit_name(plan, timeout)).await {
            Err(reason) => Some(reason),
            Ok(response) => {
                record.last_status = Some(response.status);
                record.last_latency = Some(response.latency);
                run.last_status = Some(response.status);
                if response.cert.is_some() {
                    run.cert = response.cert.clone();
                }
                let verdict = evaluate(&check.expect, response.status, &response.headers, &response.body);
                if verdict.version_seen.is_some() {
                    run.version_seen = verdict.version_seen;
                }
                verdict.failure
            }
        };
        if let Some(reason) = failure {
            record.last_failure = Some(reason.clone());
            return Err(format!("{}: {reason}", check.label));
        }
        record.passes += 1;
        record.last_failure = None;
    }
    Ok(())
}

fn check_certificate(plan: &Plan, run: &Verification, console: &Console) -> Result<(), VerifyError> {
    let host = plan.base_url.host_str().unwrap_or_default().to_owned();
    match (&run.cert, plan.tls.min_days) {
        (Some(cert), min_days) => {
            console.info(&format!(
                "the TLS certificate of {host} is valid for {} more day(s), until {}",
                cert.days_left, cert.not_after
            ));
            match min_days {
                Some(min_days) if cert.days_left < min_days => Err(VerifyError::TlsExpiresSoon {
                    host,
                    days_left: cert.days_left,
                    not_after: cert.not_after.clone(),
                    min_days,
                }),
                _ => Ok(()),
            }
        }
        (None, Some(_)) if run.https => Err(VerifyError::CertificateUnreadable { host }),
        _ => Ok(()),
    }
}

/// Sends the latency samples over the --check paths in turn, each bounded by the time
/// left before --timeout (a sample with none left fails), so a stalled answer never
/// outlives it.
async fn measure_latency(
    plan: &Plan,
    client: &Client,
    deadline: Instant,
    console: &Console,
) -> Result<Option<LatencyStats>, VerifyError> {
    let count = plan.latency.samples as usize;
    let sampled: Vec<&Check> = plan.checks.iter().filter(|check| !check.proves_version()).collect();
    if count == 0 || sampled.is_empty() {
        return Ok(None);
    }
    console.info(&format!("measuring latency with {count} request(s)"));
    let mut latencies = Vec::with_capacity(count);
    let mut failed = 0;
    let mut last_failure = String::new();
    for check in sampled.iter().cycle().take(count) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let answered = if remaining.is_zero() {
            Err(format!("--timeout {} ran out before this sample", humanize(plan.wait.timeout)))
        } else {
            let timeout = plan.wait.request_timeout.min(remaining);
            client.probe_within(check, timeout, limit_name(plan, timeout)).await
        };
        let failure = match answered {
            Err(reason) => Some(reason),
            Ok(response) => {
                latencies.push(response.latency);
                evaluate(&check.expect, response.status, &response.headers, &response.body).failure
            }
        };
        if let Some(reason) = failure {
            failed += 1;
            last_failure = format!("{}: {reason}", check.label);
        }
    }
    if failed > 0 {
        return Err(VerifyError::SamplesFailed { failed, samples: count, reason: last_failure });
    }
    let Some(stats) = LatencyStats::from_samples(&latencies) else {
        return Ok(None);
    };
    console.info(&format!(
        "latency over {} request(s): p50 {} ms, p95 {} ms, p99 {} ms",
        stats.samples,
        millis(stats.p50),
        millis(stats.p95),
        millis(stats.p99)
    ));
    if let Some(budget) = plan.latency.p95_budget
        && stats.p95 > budget
    {
        return Err(VerifyError::LatencyBudget {
            p50_ms: millis(stats.p50),
            p95_ms: millis(stats.p95),
            p99_ms: millis(stats.p99),
            budget: humanize(budget),
            samples: stats.samples,
        });
    }
    Ok(Some(stats))
}

/// One line per check, for the log and the failure summary of an unhealthy run.
pub fn detail_lines(checks: &[CheckRecord]) -> Vec<String> {
    checks
        .iter()
        .map(|record| {
            let status = record.last_status.map_or_else(|| "no response".to_owned(), |s| format!("last status {s}"));
            let last = match &record.last_failure {
                Some(failure) => format!("; last failure: {failure}"),
                None if record.attempts == 0 => "; not reached".to_owned(),
                None => String::new(),
            };
            format!("{}: {} attempt(s), {} passed, {status}{last}", record.label, record.attempts, record.passes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let second = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        assert_eq!(backoff_delay(second, max, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff_delay(second, max, 1, 1.0), second);
        assert_eq!(backoff_delay(second, max, 3, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(second, max, 3, 0.5), Duration::from_secs(3));
        assert_eq!(backoff_delay(second, max, 10, 1.0), max);
        assert_eq!(backoff_delay(second, max, u32::MAX, 0.0), max / 2);
    }

    #[test]
    fn detail_lines_say_what_each_check_saw() {
        let checks = [
            CheckRecord {
                label: "GET /health".to_owned(),
                attempts: 3,
                passes: 1,
                last_status: Some(200),
                last_latency: Some(Duration::from_millis(12)),
                last_failure: Some("status 503, expected 2xx".to_owned()),
            },
            CheckRecord { label: "GET /version".to_owned(), ..CheckRecord::default() },
        ];
        assert_eq!(
            detail_lines(&checks),
            [
                "GET /health: 3 attempt(s), 1 passed, last status 200; last failure: status 503, expected 2xx",
                "GET /version: 0 attempt(s), 0 passed, no response; not reached"
            ]
        );
    }
}
