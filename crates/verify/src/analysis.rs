//! Analysis: verify's checks run over a window and judged against [`Gates`]: the share
//! of failed probes, p95/p99 latency, the version served staying the expected one, and
//! Prometheus metrics and CloudWatch alarms. A crossed gate ends the window at once, naming the gate, what
//! was observed and the threshold; data that cannot be judged (no samples, a query
//! that errors, an empty vector) is a failure too, never a pass.
//!
//! `verify --watch` runs one window; deploy's canary runs one per step (its step loop
//! lives in the deploy crate and calls [`Analysis::run`]).

use std::fmt;
use std::time::{Duration, Instant};

use slipway_contract::Console;

use crate::alarms::{AlarmState, Alarms};
use crate::expect::evaluate;
use crate::gates::{Gates, MetricGate, number};
use crate::latency::{LatencyStats, millis};
use crate::plan::{Check, Plan};
use crate::probe::{Client, humanize};
use crate::prometheus::{Prometheus, QueryResult, describe_values};

/// Ratios and percentiles are judged mid-window only once this many probes answered,
/// so that one early failure does not end a window; at its end, all samples count.
pub const MIN_SAMPLES: usize = 10;
/// A request under way when the window ends still gets this long.
const LAST_REQUEST_GRACE: Duration = Duration::from_secs(1);
/// How many rows the timeline keeps over a window (plus the last).
const CHECKPOINTS: u32 = 10;

/// What a window probes and how it judges.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The requests of one round (the version check among them when one is expected).
    pub checks: Vec<Check>,
    pub gates: Gates,
    /// The pause between rounds.
    pub interval: Duration,
    pub request_timeout: Duration,
    prometheus: Option<Prometheus>,
    /// The client of the alarm gates ([`Analysis::with_alarms`]).
    alarms: Option<Alarms>,
}

/// How one gate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateState {
    /// Within its threshold so far.
    Holding,
    /// Not enough data yet (mid-window only).
    Waiting,
    Crossed,
    /// Nothing to judge: a failure.
    Inconclusive,
}

impl GateState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Holding => "ok",
            Self::Waiting => "waiting",
            Self::Crossed => "crossed",
            Self::Inconclusive => "inconclusive",
        }
    }
}

/// One gate's observed value against its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// `error rate`, `p95`, `version`, or a metric gate's name.
    pub gate: String,
    pub observed: String,
    /// `<= 5%`, `<= 250ms`, `== 1.2.0`.
    pub threshold: String,
    pub state: GateState,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.gate, self.observed, self.threshold)?;
        if self.state != GateState::Holding {
            write!(f, " {}", self.state.as_str())?;
        }
        Ok(())
    }
}

/// The readings at one moment of a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Since the window started.
    pub at: Duration,
    pub readings: Vec<Reading>,
}

/// How a window ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every gate held for the whole window.
    Passed,
    /// A gate was crossed (the window ended then).
    Crossed { gate: String, observed: String, threshold: String, at: Duration },
    /// A gate had nothing to judge, or its query failed.
    Inconclusive { gate: String, reason: String, at: Duration },
}

impl Decision {
    pub fn passed(&self) -> bool {
        matches!(self, Self::Passed)
    }

    /// The failed gate's name.
    pub fn gate(&self) -> Option<&str> {
        match self {
            Self::Passed => None,
            Self::Crossed { gate, .. } | Self::Inconclusive { gate, .. } => Some(gate),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passed => f.write_str("every gate held"),
            Self::Crossed { gate, observed, threshold, at } => {
                write!(
                    f,
                    "the gate {gate} was crossed after {}: observed {observed}, threshold {threshold}",
                    humanize(*at)
                )
            }
            Self::Inconclusive { gate, reason, at } => {
                write!(
                    f,
                    "the gate {gate} is inconclusive after {} ({reason}), which counts as a failure",
                    humanize(*at)
                )
            }
        }
    }
}

/// What a window saw and decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowReport {
    pub window: Duration,
    pub elapsed: Duration,
    /// Requests sent, and how many failed their check (no answer, or an unmet expectation).
    pub probes: usize,
    pub failed: usize,
    pub latency: Option<LatencyStats>,
    pub version_seen: Option<String>,
    pub last_status: Option<u16>,
    pub last_failure: Option<String>,
    /// The readings over the window, the last one at its end.
    pub timeline: Vec<Checkpoint>,
    pub decision: Decision,
}

impl WindowReport {
    /// The readings when the window ended.
    pub fn final_readings(&self) -> &[Reading] {
        self.timeline.last().map_or(&[], |checkpoint| &checkpoint.readings)
    }
}

/// What a metric gate's queries gave so far.
#[derive(Debug, Clone)]
enum MetricSeen {
    NotYet,
    Result(QueryResult),
}

/// What the alarm gates' last DescribeAlarms gave.
#[derive(Debug, Clone)]
enum AlarmsSeen {
    NotYet,
    States(Vec<AlarmState>),
    Error(String),
}

/// The running tally of a window.
#[derive(Debug)]
struct Tally {
    probes: usize,
    failed: usize,
    latencies: Vec<Duration>,
    version_seen: Option<String>,
    /// The first version that was not the expected one.
    wrong_version: Option<String>,
    last_status: Option<u16>,
    last_failure: Option<String>,
    metrics: Vec<MetricSeen>,
    alarms: AlarmsSeen,
}

impl Analysis {
    /// The analysis of `plan`'s checks (its --check paths and version check, its
    /// headers and TLS settings are the client's) against `gates`, a round every
    /// `plan.wait.interval`.
    pub fn new(plan: &Plan, gates: Gates) -> Result<Self, String> {
        Self::with_checks(plan.checks.clone(), gates, plan.wait.interval, plan.wait.request_timeout)
    }

    pub fn with_checks(
        checks: Vec<Check>,
        gates: Gates,
        interval: Duration,
        request_timeout: Duration,
    ) -> Result<Self, String> {
        let prometheus = gates.prometheus.clone().map(|url| Prometheus::new(url, request_timeout)).transpose()?;
        Ok(Self { checks, gates, interval, request_timeout, prometheus, alarms: None })
    }

    /// The CloudWatch client the `--alarm` gates read (without one, they are
    /// inconclusive: nothing could be read).
    pub fn with_alarms(mut self, alarms: Alarms) -> Self {
        self.alarms = Some(alarms);
        self
    }

    /// The expected version, when a check proves one.
    fn expected_version(&self) -> Option<&str> {
        self.checks.iter().find_map(|check| check.expect.version.as_ref()).map(|v| v.expected.as_str())
    }

    /// Probes and queries every `interval` for `window` (or until a gate is crossed).
    pub async fn run(&self, client: &Client, window: Duration, console: &Console) -> WindowReport {
        let started = Instant::now();
        let end = started + window;
        let mut tally = Tally {
            probes: 0,
            failed: 0,
            latencies: Vec::new(),
            version_seen: None,
            wrong_version: None,
            last_status: None,
            last_failure: None,
            metrics: vec![MetricSeen::NotYet; self.gates.metrics.len()],
            alarms: AlarmsSeen::NotYet,
        };
        let mut timeline = Vec::new();
        let checkpoint_every = (window / CHECKPOINTS).max(self.interval);
        let mut next_checkpoint = started + checkpoint_every;
        console.info(&format!(
            "analysing for {}: a round of {} probe(s){} every {}; gates: {}",
            humanize(window),
            self.checks.len(),
            self.sources(),
            humanize(self.interval),
            self.readings(&tally, false)
                .iter()
                .map(|r| format!("{} {}", r.gate, r.threshold))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let decision = loop {
            self.round(client, &mut tally, end).await;
            let now = Instant::now();
            let at_end = now >= end;
            let readings = self.readings(&tally, at_end);
            let at = now.duration_since(started).min(window);
            if let Some(decision) = decide(&readings, &tally, at) {
                console.info(&format!("{}: {}", humanize(at), line(&readings)));
                timeline.push(Checkpoint { at, readings });
                break decision;
            }
            if at_end {
                console.info(&format!("{}: {}", humanize(at), line(&readings)));
                timeline.push(Checkpoint { at, readings });
                break Decision::Passed;
            }
            if now >= next_checkpoint {
                console.info(&format!("{}: {}", humanize(at), line(&readings)));
                timeline.push(Checkpoint { at, readings });
                next_checkpoint = now + checkpoint_every;
            }
            tokio::time::sleep(self.interval.min(end.saturating_duration_since(now))).await;
        };
        WindowReport {
            window,
            elapsed: started.elapsed(),
            probes: tally.probes,
            failed: tally.failed,
            latency: LatencyStats::from_samples(&tally.latencies),
            version_seen: tally.version_seen,
            last_status: tally.last_status,
            last_failure: tally.last_failure,
            timeline,
            decision,
        }
    }

    /// ` and 2 Prometheus quer(ies) and 1 CloudWatch alarm(s)`: what a round reads besides probes.
    fn sources(&self) -> String {
        let mut words = String::new();
        if !self.gates.metrics.is_empty() {
            words.push_str(&format!(" and {} Prometheus quer(ies)", self.gates.metrics.len()));
        }
        if !self.gates.alarms.is_empty() {
            words.push_str(&format!(" and {} CloudWatch alarm(s)", self.gates.alarms.len()));
        }
        words
    }

    /// One round: every check once, then every metric gate's query.
    async fn round(&self, client: &Client, tally: &mut Tally, end: Instant) {
        for check in &self.checks {
            let remaining = end.saturating_duration_since(Instant::now());
            let timeout = self.request_timeout.min(remaining.max(LAST_REQUEST_GRACE));
            tally.probes += 1;
            // A probe cut short by the window's end says so, not that --request-timeout did.
            let limit =
                if timeout < self.request_timeout { "the time left of the window" } else { "--request-timeout" };
            let failure = match client.probe_within(check, timeout, limit).await {
                Err(reason) => Some(reason),
                Ok(response) => {
                    tally.last_status = Some(response.status);
                    if !check.proves_version() {
                        tally.latencies.push(response.latency);
                    }
                    let verdict = evaluate(&check.expect, response.status, &response.headers, &response.body);
                    if let (Some(seen), Some(expected)) = (&verdict.version_seen, &check.expect.version) {
                        if *seen != expected.expected && tally.wrong_version.is_none() {
                            tally.wrong_version = Some(seen.clone());
                        }
                        tally.version_seen = Some(seen.clone());
                    }
                    verdict.failure
                }
            };
            if let Some(reason) = failure {
                tally.failed += 1;
                tally.last_failure = Some(format!("{}: {reason}", check.label));
            }
        }
        if let Some(prometheus) = &self.prometheus {
            for (gate, seen) in self.gates.metrics.iter().zip(tally.metrics.iter_mut()) {
                *seen = MetricSeen::Result(prometheus.query(&gate.query).await);
            }
        }
        if !self.gates.alarms.is_empty() {
            tally.alarms = match &self.alarms {
                // Bounded like a probe, so a stalled call cannot outlive the window.
                Some(alarms) => match alarms.describe(&self.gates.alarms, self.request_timeout).await {
                    Ok(states) => AlarmsSeen::States(states),
                    Err(error) => AlarmsSeen::Error(error),
                },
                None => AlarmsSeen::Error("no CloudWatch client was given to read the alarms".to_owned()),
            };
        }
    }

    /// Every gate's reading now; `at_end` judges what mid-window would still wait for.
    fn readings(&self, tally: &Tally, at_end: bool) -> Vec<Reading> {
        let enough = |count: usize| count >= MIN_SAMPLES || (at_end && count > 0);
        let mut readings = Vec::new();
        let rate = if tally.probes == 0 { 0.0 } else { tally.failed as f64 / tally.probes as f64 };
        readings.push(Reading {
            gate: "error rate".to_owned(),
            observed: if tally.probes == 0 {
                "no probes".to_owned()
            } else {
                // One decimal: 11.8%, not 11.764706%.
                format!("{}% ({} of {})", number((rate * 1000.0).round() / 10.0), tally.failed, tally.probes)
            },
            threshold: format!("<= {}%", number(self.gates.max_error_rate * 100.0)),
            state: match (enough(tally.probes), rate > self.gates.max_error_rate) {
                (false, _) if at_end => GateState::Inconclusive,
                (false, _) => GateState::Waiting,
                (true, true) => GateState::Crossed,
                (true, false) => GateState::Holding,
            },
        });
        let mut sorted = tally.latencies.clone();
        sorted.sort_unstable();
        for (gate, percent, budget) in [("p95", 95, self.gates.latency_p95), ("p99", 99, self.gates.latency_p99)] {
            let Some(budget) = budget else { continue };
            let observed = crate::latency::percentile(&sorted, percent);
            readings.push(Reading {
                gate: gate.to_owned(),
                observed: observed.map_or_else(|| "no samples".to_owned(), |p| format!("{} ms", millis(p))),
                threshold: format!("<= {}", humanize(budget)),
                state: match observed {
                    None if at_end => GateState::Inconclusive,
                    Some(_) if !enough(sorted.len()) => GateState::Waiting,
                    None => GateState::Waiting,
                    Some(p) if p > budget => GateState::Crossed,
                    Some(_) => GateState::Holding,
                },
            });
        }
        if let Some(expected) = self.expected_version() {
            let (observed, state) = match (&tally.wrong_version, &tally.version_seen) {
                (Some(wrong), _) => (wrong.clone(), GateState::Crossed),
                (None, Some(seen)) => (seen.clone(), GateState::Holding),
                (None, None) if at_end => ("none served".to_owned(), GateState::Inconclusive),
                (None, None) => ("none yet".to_owned(), GateState::Waiting),
            };
            readings.push(Reading { gate: "version".to_owned(), observed, threshold: format!("== {expected}"), state });
        }
        for (gate, seen) in self.gates.metrics.iter().zip(&tally.metrics) {
            readings.push(metric_reading(gate, seen, at_end));
        }
        for name in &self.gates.alarms {
            readings.push(alarm_reading(name, &tally.alarms, at_end));
        }
        readings
    }
}

fn metric_reading(gate: &MetricGate, seen: &MetricSeen, at_end: bool) -> Reading {
    let (observed, state) = match seen {
        MetricSeen::NotYet => {
            ("not queried".to_owned(), if at_end { GateState::Inconclusive } else { GateState::Waiting })
        }
        // A query that cannot run will not start to: fail now.
        MetricSeen::Result(QueryResult::Error(reason)) => (reason.clone(), GateState::Inconclusive),
        MetricSeen::Result(QueryResult::Inconclusive(reason)) => {
            (reason.clone(), if at_end { GateState::Inconclusive } else { GateState::Waiting })
        }
        MetricSeen::Result(QueryResult::Values(values)) => {
            let crossing: Vec<(String, f64)> =
                values.iter().filter(|(_, value)| !gate.comparison.holds(*value, gate.threshold)).cloned().collect();
            if crossing.is_empty() {
                (describe_values(values), GateState::Holding)
            } else {
                (describe_values(&crossing), GateState::Crossed)
            }
        }
    };
    Reading { gate: gate.name.clone(), observed, threshold: gate.threshold_words(), state }
}

/// What an alarm gate shows: the state and CloudWatch's reason for it.
fn alarm_reading(name: &str, seen: &AlarmsSeen, at_end: bool) -> Reading {
    let later = if at_end { GateState::Inconclusive } else { GateState::Waiting };
    let (observed, state) = match seen {
        AlarmsSeen::NotYet => ("not read".to_owned(), later),
        // Permissions or credentials will not mend within the window: fail now.
        AlarmsSeen::Error(error) => (error.clone(), GateState::Inconclusive),
        AlarmsSeen::States(states) => match states.iter().find(|s| s.name == name) {
            None => ("the alarm no longer exists".to_owned(), GateState::Inconclusive),
            Some(alarm) => {
                let words = if alarm.reason.is_empty() {
                    alarm.state.clone()
                } else {
                    format!("{} ({})", alarm.state, alarm.reason)
                };
                let state = if alarm.in_alarm() {
                    GateState::Crossed
                } else if alarm.ok() {
                    GateState::Holding
                } else {
                    later
                };
                (words, state)
            }
        },
    };
    Reading { gate: format!("alarm {name}"), observed, threshold: "not ALARM".to_owned(), state }
}

/// The decision the readings force now, if any: the first crossed or inconclusive gate.
fn decide(readings: &[Reading], tally: &Tally, at: Duration) -> Option<Decision> {
    let failed = readings.iter().find(|r| matches!(r.state, GateState::Crossed | GateState::Inconclusive))?;
    Some(match failed.state {
        GateState::Crossed => {
            let observed = match (&tally.last_failure, failed.gate.as_str()) {
                (Some(last), "error rate") => format!("{}; the last failure: {last}", failed.observed),
                _ => failed.observed.clone(),
            };
            Decision::Crossed { gate: failed.gate.clone(), observed, threshold: failed.threshold.clone(), at }
        }
        _ => Decision::Inconclusive { gate: failed.gate.clone(), reason: failed.observed.clone(), at },
    })
}

/// The readings on one log line.
fn line(readings: &[Reading]) -> String {
    readings.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The timeline as a table: a row per checkpoint, a column per gate (`observed (threshold)`).
pub fn timeline_table(timeline: &[Checkpoint]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut headers = vec!["at".to_owned()];
    if let Some(first) = timeline.first() {
        headers.extend(first.readings.iter().map(|r| format!("{} ({})", r.gate, r.threshold)));
    }
    let rows = timeline
        .iter()
        .map(|checkpoint| {
            let mut row = vec![humanize(checkpoint.at)];
            row.extend(checkpoint.readings.iter().map(|r| match r.state {
                GateState::Holding => r.observed.clone(),
                state => format!("{} **{}**", r.observed, state.as_str()),
            }));
            row
        })
        .collect();
    (headers, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::Comparison;

    fn tally(probes: usize, failed: usize, latencies_ms: &[u64]) -> Tally {
        Tally {
            probes,
            failed,
            latencies: latencies_ms.iter().copied().map(Duration::from_millis).collect(),
            version_seen: None,
            wrong_version: None,
            last_status: Some(200),
            last_failure: (failed > 0).then(|| "GET /: status 500, expected 2xx; body: boom".to_owned()),
            metrics: Vec::new(),
            alarms: AlarmsSeen::NotYet,
        }
    }

    fn analysis(gates: Gates) -> Analysis {
        Analysis::with_checks(Vec::new(), gates, Duration::from_millis(100), Duration::from_secs(1)).unwrap()
    }

    fn states(readings: &[Reading]) -> Vec<(&str, GateState)> {
        readings.iter().map(|r| (r.gate.as_str(), r.state)).collect()
    }

    #[test]
    fn ratios_wait_for_enough_samples_mid_window_but_not_at_its_end() {
        let gates = Gates { max_error_rate: 0.05, ..Gates::default() };
        let analysis = analysis(gates);
        let early = tally(3, 1, &[5, 5, 5]);
        assert_eq!(states(&analysis.readings(&early, false)), [("error rate", GateState::Waiting)]);
        assert_eq!(states(&analysis.readings(&early, true)), [("error rate", GateState::Crossed)]);
        let later = tally(40, 2, &[5; 40]);
        let readings = analysis.readings(&later, false);
        assert_eq!(readings[0].observed, "5% (2 of 40)");
        assert_eq!(readings[0].threshold, "<= 5%");
        assert_eq!(readings[0].state, GateState::Holding, "at the threshold holds");
        let crossed = tally(40, 3, &[5; 40]);
        let decision = decide(&analysis.readings(&crossed, false), &crossed, Duration::from_secs(4)).unwrap();
        assert_eq!(
            decision.to_string(),
            "the gate error rate was crossed after 4s: observed 7.5% (3 of 40); the last failure: GET /: status 500, expected 2xx; body: boom, threshold <= 5%"
        );
        assert_eq!(
            states(&analysis.readings(&tally(0, 0, &[]), true)),
            [("error rate", GateState::Inconclusive)],
            "a window without a probe judged nothing"
        );
    }

    #[test]
    fn latency_budgets_judge_percentiles() {
        let gates = Gates {
            latency_p95: Some(Duration::from_millis(100)),
            latency_p99: Some(Duration::from_millis(300)),
            ..Gates::default()
        };
        let analysis = analysis(gates);
        let mut latencies = vec![10; 18];
        latencies.extend([200, 250]);
        let readings = analysis.readings(&tally(20, 0, &latencies), false);
        assert_eq!(
            states(&readings),
            [("error rate", GateState::Holding), ("p95", GateState::Crossed), ("p99", GateState::Holding)]
        );
        assert_eq!((readings[1].observed.as_str(), readings[1].threshold.as_str()), ("200 ms", "<= 100ms"));
        let none = analysis.readings(&tally(0, 0, &[]), true);
        assert_eq!(none[1].state, GateState::Inconclusive);
    }

    #[test]
    fn metric_readings_cross_wait_or_fail_as_inconclusive() {
        let gate = MetricGate {
            name: "errors".into(),
            query: "x".into(),
            comparison: Comparison::LessOrEqual,
            threshold: 0.05,
        };
        let values =
            |v: &[f64]| MetricSeen::Result(QueryResult::Values(v.iter().map(|x| (String::new(), *x)).collect()));
        assert_eq!(metric_reading(&gate, &values(&[0.01]), false).state, GateState::Holding);
        let crossed = metric_reading(&gate, &values(&[0.2]), false);
        assert_eq!(
            (crossed.state, crossed.observed.as_str(), crossed.threshold.as_str()),
            (GateState::Crossed, "0.2", "<= 0.05")
        );
        let empty = MetricSeen::Result(QueryResult::Inconclusive("the query gave an empty vector".into()));
        assert_eq!(metric_reading(&gate, &empty, false).state, GateState::Waiting, "data may still come");
        assert_eq!(metric_reading(&gate, &empty, true).state, GateState::Inconclusive, "it never came");
        let error = MetricSeen::Result(QueryResult::Error("the query failed (bad_data)".into()));
        assert_eq!(metric_reading(&gate, &error, false).state, GateState::Inconclusive, "an error fails at once");
        assert_eq!(metric_reading(&gate, &MetricSeen::NotYet, true).state, GateState::Inconclusive);
    }

    #[test]
    fn alarm_readings_cross_on_alarm_and_wait_on_insufficient_data() {
        let seen = |state: &str| {
            AlarmsSeen::States(vec![AlarmState { name: "a".into(), state: state.into(), reason: "why".into() }])
        };
        assert_eq!(alarm_reading("a", &seen("OK"), false).state, GateState::Holding);
        let crossed = alarm_reading("a", &seen("ALARM"), false);
        assert_eq!((crossed.gate.as_str(), crossed.observed.as_str()), ("alarm a", "ALARM (why)"));
        assert_eq!(crossed.state, GateState::Crossed);
        assert_eq!(alarm_reading("a", &seen("INSUFFICIENT_DATA"), false).state, GateState::Waiting);
        assert_eq!(alarm_reading("a", &seen("INSUFFICIENT_DATA"), true).state, GateState::Inconclusive);
        assert_eq!(alarm_reading("b", &seen("OK"), false).state, GateState::Inconclusive, "deleted mid-window");
        let error = AlarmsSeen::Error("cloudwatch:DescribeAlarms failed: AccessDenied".into());
        assert_eq!(alarm_reading("a", &error, false).state, GateState::Inconclusive, "an error fails at once");
        assert_eq!(alarm_reading("a", &AlarmsSeen::NotYet, true).state, GateState::Inconclusive);
    }

    #[test]
    fn the_timeline_is_a_table_of_readings() {
        let reading = |observed: &str, state| Reading {
            gate: "error rate".into(),
            observed: observed.into(),
            threshold: "<= 5%".into(),
            state,
        };
        let timeline = vec![
            Checkpoint { at: Duration::from_secs(1), readings: vec![reading("0% (0 of 10)", GateState::Holding)] },
            Checkpoint { at: Duration::from_secs(2), readings: vec![reading("50% (10 of 20)", GateState::Crossed)] },
        ];
        let (headers, rows) = timeline_table(&timeline);
        assert_eq!(headers, ["at", "error rate (<= 5%)"]);
        assert_eq!(rows, [vec!["1s", "0% (0 of 10)"], vec!["2s", "50% (10 of 20) **crossed**"]]);
    }
}
