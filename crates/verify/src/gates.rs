//! The analysis gates as data: what a window of observations must stay within (error
//! ratio, latency percentiles, Prometheus metrics), parsed from the flags verify and
//! deploy share. Pure: every bad gate is refused here (exit 2), before any request.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use slipway_contract::cli::parse_positive_duration;

use crate::error::PlanError;

/// A comparison a metric's value must satisfy against its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
            Self::Equal => "==",
        }
    }

    /// Whether `observed` keeps the gate (a NaN never does).
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Self::Less => observed < threshold,
            Self::LessOrEqual => observed <= threshold,
            Self::Greater => observed > threshold,
            Self::GreaterOrEqual => observed >= threshold,
            Self::Equal => observed == threshold,
        }
    }
}

/// `--metric NAME:PROMQL<=THRESHOLD`: a Prometheus query whose every sample must
/// satisfy the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGate {
    pub name: String,
    pub query: String,
    pub comparison: Comparison,
    pub threshold: f64,
}

impl MetricGate {
    /// Parses `NAME:PROMQL<=THRESHOLD`; the comparison is the last one in the text, so
    /// the query may hold comparisons and label matchers of its own.
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let text = text.trim();
        let invalid = |why: String| PlanError::invalid("--metric", why);
        let shape = "write it NAME:PROMQL<=THRESHOLD, like error_ratio:sum(rate(http_errors_total[1m]))<=0.05";
        let Some((name, rest)) = text.split_once(':') else {
            return Err(invalid(format!("`{text}` has no `NAME:`; {shape}")));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(invalid(format!("`{name}` is not a gate name (letters, digits, _ - .); {shape}")));
        }
        let no_comparison = || {
            invalid(format!("the gate {name} has no comparison with a number at its end (<, <=, >, >=, ==); {shape}"))
        };
        let at = rest.rfind(['<', '>', '=']).ok_or_else(no_comparison)?;
        let threshold_text = rest[at + 1..].trim();
        let before = &rest[..at];
        let (comparison, query) = match (before.chars().last(), &rest[at..=at]) {
            (Some('<'), "=") => (Comparison::LessOrEqual, &before[..before.len() - 1]),
            (Some('>'), "=") => (Comparison::GreaterOrEqual, &before[..before.len() - 1]),
            (Some('='), "=") => (Comparison::Equal, &before[..before.len() - 1]),
            (_, "<") => (Comparison::Less, before),
            (_, ">") => (Comparison::Greater, before),
            _ => return Err(no_comparison()),
        };
        let threshold =
            threshold_text.parse::<f64>().ok().filter(|value| value.is_finite()).ok_or_else(no_comparison)?;
        let query = query.trim();
        if query.is_empty() {
            return Err(invalid(format!("the gate {name} has no query before its comparison; {shape}")));
        }
        Ok(Self { name: name.to_owned(), query: query.to_owned(), comparison, threshold })
    }

    /// `<= 0.05`, as the summary shows the threshold.
    pub fn threshold_words(&self) -> String {
        format!("{} {}", self.comparison.symbol(), number(self.threshold))
    }
}

// Thresholds are finite (NaN is refused when parsing), so equality is an equivalence.
impl Eq for MetricGate {}
impl Eq for Gates {}

/// A number as people write it: `0.05`, `3`, not `3.0`.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    // Rounded to millionths, unless so large that scaling would overflow (nothing to round).
    let scaled = (value * 1e6).round() / 1e6;
    let rounded = if scaled.is_finite() { scaled } else { value };
    let text = format!("{rounded}");
    if text == "-0" { "0".to_owned() } else { text }
}

/// The gates a window is judged by. The error ratio always applies (default 0: every
/// probe passes); the others only when given.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    /// The largest share of failed probes, 0 to 1.
    pub max_error_rate: f64,
    pub latency_p95: Option<Duration>,
    pub latency_p99: Option<Duration>,
    /// The Prometheus server the metric gates query.
    pub prometheus: Option<Url>,
    pub metrics: Vec<MetricGate>,
    /// CloudWatch alarms that must stay out of ALARM (`--alarm`).
    pub alarms: Vec<String>,
}

impl Default for Gates {
    fn default() -> Self {
        Self {
            max_error_rate: 0.0,
            latency_p95: None,
            latency_p99: None,
            prometheus: None,
            metrics: Vec::new(),
            alarms: Vec::new(),
        }
    }
}

/// The gate flags as given, text (an empty value means "not set", as from an action input).
#[derive(Debug, Clone, Copy, Default)]
pub struct GateInputs<'a> {
    pub max_error_rate: Option<&'a str>,
    pub latency_p95: Option<&'a str>,
    pub latency_p99: Option<&'a str>,
    pub prometheus: Option<&'a str>,
    pub metrics: &'a [String],
    pub alarms: &'a [String],
}

impl GateInputs<'_> {
    /// Whether any gate flag is set (deploy refuses them on a strategy that cannot judge).
    pub fn any(&self) -> bool {
        [self.max_error_rate, self.latency_p95, self.latency_p99, self.prometheus]
            .into_iter()
            .any(|v| given(v).is_some())
            || !slipway_contract::parse_list(self.metrics).is_empty()
            || !slipway_contract::parse_list(self.alarms).is_empty()
    }

    /// The names of the gate flags that are set, for messages.
    pub fn given_flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        for (flag, value) in [
            ("--max-error-rate", self.max_error_rate),
            ("--latency-p95", self.latency_p95),
            ("--latency-p99", self.latency_p99),
            ("--prometheus", self.prometheus),
        ] {
            if given(value).is_some() {
                flags.push(flag);
            }
        }
        if !slipway_contract::parse_list(self.metrics).is_empty() {
            flags.push("--metric");
        }
        if !slipway_contract::parse_list(self.alarms).is_empty() {
            flags.push("--alarm");
        }
        flags
    }
}

fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl Gates {
    /// Validates the gate flags.
    pub fn parse(inputs: &GateInputs<'_>) -> Result<Self, PlanError> {
        let max_error_rate = given(inputs.max_error_rate).map(parse_rate).transpose()?.unwrap_or(0.0);
        let latency = |flag: &'static str, value: Option<&str>| {
            given(value)
                .map(|text| parse_positive_duration(text).map_err(|message| PlanError::invalid(flag, message)))
                .transpose()
        };
        let metrics: Vec<MetricGate> = slipway_contract::parse_list(inputs.metrics)
            .iter()
            .map(|text| MetricGate::parse(text))
            .collect::<Result<_, _>>()?;
        if let Some(pair) = metrics.iter().enumerate().find_map(|(index, gate)| {
            metrics[..index].iter().find(|earlier| earlier.name == gate.name).map(|_| gate.name.clone())
        }) {
            return Err(PlanError::invalid("--metric", format!("the gate name {pair} is given twice")));
        }
        let prometheus = given(inputs.prometheus).map(parse_prometheus_url).transpose()?;
        match (&prometheus, metrics.is_empty()) {
            (None, false) => {
                return Err(PlanError::invalid(
                    "--metric",
                    "needs --prometheus URL: the Prometheus server to query (http://prometheus:9090)",
                ));
            }
            (Some(_), true) => {
                return Err(PlanError::invalid(
                    "--prometheus",
                    "is set but no --metric gate queries it; add --metric NAME:PROMQL<=THRESHOLD",
                ));
            }
            _ => {}
        }
        Ok(Self {
            max_error_rate,
            latency_p95: latency("--latency-p95", inputs.latency_p95)?,
            latency_p99: latency("--latency-p99", inputs.latency_p99)?,
            prometheus,
            metrics,
            alarms: parse_alarms(inputs.alarms)?,
        })
    }
}

/// Why a build without the AWS SDK (`--no-default-features`) refuses `--alarm`.
pub const ALARMS_NOT_BUILT: &str =
    "this build has no CloudWatch client (built without the `aws` feature); use a full build of slipway";

/// `--alarm NAME`s: CloudWatch's names are 1 to 255 characters; each given once.
fn parse_alarms(values: &[String]) -> Result<Vec<String>, PlanError> {
    let names = slipway_contract::parse_list(values);
    if !names.is_empty() && !cfg!(feature = "aws") {
        return Err(PlanError::invalid("--alarm", ALARMS_NOT_BUILT.to_owned()));
    }
    for (index, name) in names.iter().enumerate() {
        if name.chars().count() > 255 || name.chars().any(char::is_control) {
            return Err(PlanError::invalid(
                "--alarm",
                format!("`{name}` is not a CloudWatch alarm name (1 to 255 characters, no control characters)"),
            ));
        }
        if names[..index].contains(name) {
            return Err(PlanError::invalid("--alarm", format!("the alarm {name} is given twice")));
        }
    }
    Ok(names)
}

/// `5%`, `0.5%` or `0.05`: a share from 0 to 1.
fn parse_rate(text: &str) -> Result<f64, PlanError> {
    let invalid = || {
        PlanError::invalid(
            "--max-error-rate",
            format!("`{text}` is not a share of failed probes from 0 to 1; write it like 5% or 0.05"),
        )
    };
    let rate = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map_err(|_| invalid())? / 100.0,
        None => text.parse::<f64>().map_err(|_| invalid())?,
    };
    if !(0.0..=1.0).contains(&rate) {
        return Err(invalid());
    }
    Ok(rate)
}

fn parse_prometheus_url(text: &str) -> Result<Url, PlanError> {
    let invalid = |why: String| PlanError::invalid("--prometheus", why);
    let shown = slipway_contract::redact_url(text);
    let url = Url::parse(text)
        .map_err(|error| invalid(format!("`{shown}` is not a URL ({error}); write it like http://prometheus:9090")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("`{shown}` is not an http(s) URL with a host")));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(invalid(format!("`{shown}` holds credentials or a query; give the server's base URL")));
    }
    Ok(url)
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(text: &str) -> MetricGate {
        MetricGate::parse(text).unwrap()
    }

    #[test]
    fn metric_gates_take_the_last_comparison() {
        let errors = gate(r#"errors: sum(rate(http_requests_total{code=~"5..",job!="x"}[1m])) <= 0.05"#);
        assert_eq!(errors.name, "errors");
        assert_eq!(errors.query, r#"sum(rate(http_requests_total{code=~"5..",job!="x"}[1m]))"#);
        assert_eq!((errors.comparison, errors.threshold), (Comparison::LessOrEqual, 0.05));
        assert_eq!(errors.threshold_words(), "<= 0.05");
        let filtered = gate("up:count(up > 0)>=3");
        assert_eq!(
            (filtered.query.as_str(), filtered.comparison, filtered.threshold),
            ("count(up > 0)", Comparison::GreaterOrEqual, 3.0)
        );
        assert_eq!(gate("a:x<1").comparison, Comparison::Less);
        assert_eq!(gate("a:x>-1").comparison, Comparison::Greater);
        assert_eq!(gate("a:x==0").comparison, Comparison::Equal);
        assert_eq!(gate("rule:job:errors:ratio5m < 1e-2").query, "job:errors:ratio5m");
    }

    #[test]
    fn a_gate_without_a_comparison_is_bad_input() {
        for bad in [
            "errors:sum(rate(x[1m]))",
            r#"errors:sum(rate(x{code!="200"}[1m]))"#,
            "errors:x<=",
            "errors:x<=abc",
            "errors:x=1",
            "errors:x<=NaN",
        ] {
            let error = MetricGate::parse(bad).unwrap_err().to_string();
            assert!(error.starts_with("--metric: the gate errors has no comparison"), "{bad}: {error}");
        }
        assert!(MetricGate::parse("sum(x):y<1").unwrap_err().to_string().contains("is not a gate name"));
        assert!(MetricGate::parse("noname").unwrap_err().to_string().contains("has no `NAME:`"));
        assert!(MetricGate::parse("e: <= 1").unwrap_err().to_string().contains("no query"));
    }

    #[test]
    fn comparisons_hold_or_not_and_nan_never_holds() {
        assert!(Comparison::LessOrEqual.holds(0.05, 0.05));
        assert!(!Comparison::Less.holds(0.05, 0.05));
        assert!(Comparison::GreaterOrEqual.holds(3.0, 3.0));
        assert!(!Comparison::Greater.holds(f64::NAN, 0.0) && !Comparison::LessOrEqual.holds(f64::NAN, 1.0));
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(3.0), "3");
    }

    #[test]
    fn gates_parse_from_flags() {
        let metrics = vec!["errors:sum(x)<=0.1\nlatency:max(y)<0.5".to_owned()];
        let gates = Gates::parse(&GateInputs {
            max_error_rate: Some("5%"),
            latency_p95: Some("250ms"),
            latency_p99: Some(" "),
            prometheus: Some("http://127.0.0.1:9090"),
            metrics: &metrics,
            alarms: &["shop-5xx\n shop-latency ".to_owned()],
        })
        .unwrap();
        assert_eq!(gates.alarms, ["shop-5xx", "shop-latency"], "one per line, trimmed");
        assert_eq!(gates.max_error_rate, 0.05);
        assert_eq!(gates.latency_p95, Some(Duration::from_millis(250)));
        assert_eq!(gates.latency_p99, None);
        assert_eq!(gates.metrics.len(), 2);
        assert_eq!(Gates::parse(&GateInputs::default()).unwrap(), Gates::default());
        assert!(!GateInputs::default().any());
        assert!(GateInputs { metrics: &metrics, ..GateInputs::default() }.any());
    }

    #[test]
    fn bad_gate_flags_are_named() {
        let error = |inputs: GateInputs<'_>| Gates::parse(&inputs).unwrap_err().to_string();
        assert!(
            error(GateInputs { max_error_rate: Some("150%"), ..GateInputs::default() })
                .starts_with("--max-error-rate: `150%` is not a share")
        );
        assert!(error(GateInputs { max_error_rate: Some("lots"), ..GateInputs::default() }).contains("5% or 0.05"));
        assert!(error(GateInputs { latency_p99: Some("0s"), ..GateInputs::default() }).starts_with("--latency-p99:"));
        let metrics = vec!["e:x<1".to_owned()];
        assert!(error(GateInputs { metrics: &metrics, ..GateInputs::default() }).contains("needs --prometheus"));
        assert!(
            error(GateInputs { prometheus: Some("http://p:9090"), ..GateInputs::default() }).contains("no --metric")
        );
        assert!(
            error(GateInputs { prometheus: Some("ftp://p"), metrics: &metrics, ..GateInputs::default() })
                .starts_with("--prometheus:")
        );
        let twice = vec!["e:x<1".to_owned(), "e:y<1".to_owned()];
        assert!(
            error(GateInputs { prometheus: Some("http://p:9090"), metrics: &twice, ..GateInputs::default() })
                .contains("given twice")
        );
        let alarms = ["a".to_owned(), "a".to_owned()];
        assert_eq!(
            error(GateInputs { alarms: &alarms, ..GateInputs::default() }),
            "--alarm: the alarm a is given twice"
        );
        let long = ["x".repeat(256)];
        assert!(error(GateInputs { alarms: &long, ..GateInputs::default() }).contains("1 to 255 characters"));
        let alarms = ["shop-5xx".to_owned()];
        assert_eq!(GateInputs { alarms: &alarms, ..GateInputs::default() }.given_flags(), ["--alarm"]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const COMPARISONS: [Comparison; 5] =
        [Comparison::Less, Comparison::LessOrEqual, Comparison::Greater, Comparison::GreaterOrEqual, Comparison::Equal];

    /// PromQL as people write gates: selectors with every matcher (whose values may hold
    /// `<`, `>`, `=`), range vectors, subqueries, aggregations, recording-rule names with
    /// colons, arithmetic and filtering comparisons inside.
    fn promql() -> impl Strategy<Value = String> {
        let metric = "[a-z_][a-z0-9_]{0,10}(:[a-z0-9_]{1,6}){0,2}";
        let matcher =
            ("[a-z_]{1,6}", prop_oneof![Just("="), Just("!="), Just("=~"), Just("!~")], "[a-z0-9.<>=!~ ]{0,8}")
                .prop_map(|(label, op, value)| format!("{label}{op}\"{value}\""));
        let selector =
            (metric, proptest::collection::vec(matcher, 0..3), prop_oneof![Just(""), Just("[1m]"), Just("[5m:30s]")])
                .prop_map(|(metric, matchers, range)| {
                    let labels =
                        if matchers.is_empty() { String::new() } else { format!("{{{}}}", matchers.join(",")) };
                    format!("{metric}{labels}{range}")
                });
        let leaf = selector.prop_map(|s| if s.ends_with(']') { format!("sum(rate({s}))") } else { s });
        leaf.prop_recursive(3, 8, 2, |inner| {
            prop_oneof![
                (
                    inner.clone(),
                    prop_oneof![Just(" / "), Just(" * "), Just(" > "), Just(" >= bool "), Just(" and "), Just(" == ")],
                    inner.clone()
                )
                    .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
                (prop_oneof![Just("sum"), Just("max"), Just("histogram_quantile(0.95, ")], inner)
                    .prop_map(|(f, e)| if f.ends_with(", ") { format!("{f}{e})") } else { format!("{f}({e})") }),
            ]
        })
    }

    fn threshold() -> impl Strategy<Value = f64> {
        prop_oneof![-1e6..1e6f64, Just(0.0), Just(0.05), any::<f64>().prop_filter("finite", |v| v.is_finite())]
    }

    proptest! {
        #[test]
        fn gates_round_trip(
            name in "[A-Za-z0-9_.-]{1,12}",
            query in promql(),
            comparison in 0..COMPARISONS.len(),
            threshold in threshold(),
            spaced in any::<bool>(),
        ) {
            let comparison = COMPARISONS[comparison];
            let gap = if spaced { " " } else { "" };
            let text = format!("{name}:{query}{gap}{}{gap}{threshold}", comparison.symbol());
            let gate = MetricGate::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(gate, MetricGate { name, query, comparison, threshold });
        }

        #[test]
        fn any_gate_text_is_a_gate_or_one_error(text in any::<String>()) {
            match MetricGate::parse(&text) {
                Ok(gate) => {
                    prop_assert!(gate.threshold.is_finite() && !gate.query.is_empty());
                    let again = format!("{}:{}{}{}", gate.name, gate.query, gate.comparison.symbol(), gate.threshold);
                    prop_assert_eq!(MetricGate::parse(&again).ok(), Some(gate));
                }
                Err(error) => prop_assert!(error.to_string().contains("--metric")),
            }
        }

        #[test]
        fn numbers_are_shown_close_to_their_value(value in threshold()) {
            let shown = number(value);
            let read: f64 = shown.parse().map_err(|_| TestCaseError::fail(format!("{value} shown as {shown}")))?;
            prop_assert!(read.is_finite(), "{} shown as {}", value, shown);
            prop_assert!((read - value).abs() <= 5e-7 * value.abs().max(1.0), "{} shown as {}", value, shown);
        }

        #[test]
        fn rates_in_both_spellings(permille in 0u32..=1000) {
            let share = f64::from(permille) / 1000.0;
            prop_assert_eq!(parse_rate(&share.to_string()).ok(), Some(share));
            let percent = parse_rate(&format!("{}%", f64::from(permille) / 10.0)).ok();
            prop_assert!(percent.is_some_and(|p| (p - share).abs() < 1e-12));
        }

        #[test]
        fn rates_outside_zero_to_one_are_refused(value in prop_oneof![1.000_001..1e9f64, -1e9..-0.000_001f64]) {
            prop_assert!(parse_rate(&value.to_string()).is_err());
            let percent = format!("{}%", value * 100.0);
            prop_assert!(parse_rate(&percent).is_err());
        }
    }

    #[test]
    fn huge_thresholds_are_shown_as_numbers() {
        // Found by `numbers_are_shown_close_to_their_value`: rounding to millionths
        // multiplied 1e303 past f64's range, and the summary said `inf`.
        assert_eq!(number(1e303).parse::<f64>(), Ok(1e303));
        assert_eq!(number(-1.7e308).parse::<f64>(), Ok(-1.7e308));
        assert_eq!(number(0.05), "0.05");
    }
}
