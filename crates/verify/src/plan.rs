//! Flags -> a validated plan. Pure apart from masking secrets on the console: every
//! bad input is rejected here, before any request is sent.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use reqwest::Method;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use slipway_contract::cli::{parse_list, parse_positive_duration};
use slipway_contract::{Console, Secret};

use crate::VerifyArgs;
use crate::error::PlanError;
use crate::expect::{Expectations, HeaderExpectation, JsonExpectation, StatusSet, VersionExpectation};
use crate::gates::{GateInputs, Gates};

/// The longest pause between attempts, unless --interval itself is longer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Samples taken when --latency-p95 is set and --samples is not.
pub const DEFAULT_BUDGET_SAMPLES: u32 = 20;
const MAX_SAMPLES: u32 = 10_000;
const METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/// One request to repeat and what its response must be.
#[derive(Debug, Clone)]
pub struct Check {
    /// `GET /health`: how logs and the summary name the check.
    pub label: String,
    pub method: Method,
    pub url: Url,
    pub expect: Expectations,
}

impl Check {
    /// Whether this is the --expect-version check (not sampled for latency).
    pub fn proves_version(&self) -> bool {
        self.expect.version.is_some()
    }
}

/// A request header; secret ones are marked sensitive and masked on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub name: HeaderName,
    pub value: HeaderValue,
    pub secret: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    pub timeout: Duration,
    pub interval: Duration,
    pub max_interval: Duration,
    pub consecutive: u32,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyPolicy {
    pub samples: u32,
    pub p95_budget: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    pub min_days: Option<i64>,
    pub insecure: bool,
    pub ca_cert: Option<PathBuf>,
}

/// `--watch`: the analysis window after the service is healthy.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchPolicy {
    pub window: Duration,
    pub gates: Gates,
}

/// Everything `verify` will do, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub base_url: Url,
    /// The --check paths in order, then the version check when --expect-version is set.
    pub checks: Vec<Check>,
    pub headers: Vec<RequestHeader>,
    pub wait: WaitPolicy,
    pub latency: LatencyPolicy,
    pub tls: TlsPolicy,
    /// `--watch`, when given.
    pub watch: Option<WatchPolicy>,
}

impl Plan {
    /// Validates `args`; `env` reads the variables that secret headers name, and
    /// secrets read are masked on `console` at once.
    pub fn from_args(
        args: &VerifyArgs,
        env: &dyn Fn(&str) -> Option<String>,
        console: &Console,
    ) -> Result<Self, PlanError> {
        let base_url = parse_base_url(&args.url)?;
        let method = parse_method(&args.method)?;
        let expect = Expectations {
            status: StatusSet::parse(or_default(&args.expect_status, "2xx"))
                .map_err(|message| PlanError::invalid("--expect-status", message))?,
            body: parse_list(&args.expect_body)
                .iter()
                .map(|pattern| compile_regex("--expect-body", pattern))
                .collect::<Result<_, _>>()?,
            json: parse_list(&args.expect_json)
                .iter()
                .map(|item| parse_json_expectation(item))
                .collect::<Result<_, _>>()?,
            headers: parse_list(&args.expect_header)
                .iter()
                .map(|item| parse_header_expectation(item))
                .collect::<Result<_, _>>()?,
            version: None,
        };

        let mut paths = parse_list(&args.checks);
        if paths.is_empty() {
            paths.push("/".to_owned());
        }
        let mut checks = Vec::with_capacity(paths.len() + 1);
        for path in &paths {
            let (path, url) = join_path(&base_url, "--check", path)?;
            checks.push(Check {
                label: format!("{method} {}", slipway_contract::redact_url(&path)),
                method: method.clone(),
                url,
                expect: expect.clone(),
            });
        }

        // Validated even when unused, so a typo in a variable surfaces now.
        let (version_path, version_url) =
            join_path(&base_url, "--version-path", or_default(&args.version_path, "/version"))?;
        let version_pointer = or_default(&args.version_pointer, "/version");
        validate_pointer(version_pointer).map_err(|message| PlanError::invalid("--version-pointer", message))?;
        if let Some(expected) = non_empty(args.expect_version.as_deref()) {
            checks.push(Check {
                label: format!("GET {}", slipway_contract::redact_url(&version_path)),
                method: Method::GET,
                url: version_url,
                expect: Expectations {
                    version: Some(VersionExpectation {
                        expected: expected.to_owned(),
                        pointer: version_pointer.to_owned(),
                    }),
                    ..Expectations::default()
                },
            });
        }

        let headers = parse_list(&args.headers)
            .iter()
            .map(|item| parse_request_header(item, env, console))
            .collect::<Result<_, _>>()?;

        let interval = duration("--interval", or_default(&args.interval, "2s"))?;
        let wait = WaitPolicy {
            timeout: duration("--timeout", or_default(&args.timeout, "2m"))?,
            interval,
            max_interval: interval.max(MAX_BACKOFF),
            consecutive: count("--consecutive", or_default(&args.consecutive, "1"), 1, 1000)?,
            request_timeout: duration("--request-timeout", or_default(&args.request_timeout, "10s"))?,
        };

        let p95_budget =
            non_empty(args.latency_p95.as_deref()).map(|text| duration("--latency-p95", text)).transpose()?;
        let watch = non_empty(args.watch.as_deref()).map(|text| duration("--watch", text)).transpose()?;
        let gate_inputs = GateInputs {
            max_error_rate: args.max_error_rate.as_deref(),
            latency_p95: args.latency_p95.as_deref(),
            latency_p99: args.latency_p99.as_deref(),
            prometheus: args.prometheus.as_deref(),
            metrics: &args.metric,
            alarms: &args.alarms,
        };
        let gates = Gates::parse(&gate_inputs)?;
        if watch.is_none()
            && let Some(flag) = gate_inputs.given_flags().into_iter().find(|flag| *flag != "--latency-p95")
        {
            return Err(PlanError::invalid(
                flag,
                "judges a window of observations: give --watch DURATION (how long to watch the service)",
            ));
        }
        let samples = match non_empty(args.samples.as_deref()) {
            // Watching, the window's probes measure latency: no separate samples.
            None if watch.is_some() => 0,
            None if p95_budget.is_some() => DEFAULT_BUDGET_SAMPLES,
            None => 0,
            Some(text) => count("--samples", text, 0, MAX_SAMPLES)?,
        };
        if samples == 0 && p95_budget.is_some() && watch.is_none() {
            return Err(PlanError::invalid(
                "--samples",
                "is 0, but --latency-p95 needs samples to measure; omit --samples or give at least 1",
            ));
        }

        let tls = TlsPolicy {
            min_days: non_empty(args.tls_min_days.as_deref())
                .map(|text| count("--tls-min-days", text, 0, 3650).map(i64::from))
                .transpose()?,
            insecure: args.insecure,
            ca_cert: args.ca_cert.clone().filter(|path| !path.as_os_str().is_empty()),
        };
        if tls.min_days.is_some() && base_url.scheme() != "https" {
            return Err(PlanError::invalid("--tls-min-days", format!("needs an https --url, not {base_url}")));
        }

        let watch = watch.map(|window| WatchPolicy { window, gates });
        // Watching, --latency-p95 is the window's gate, not a budget of separate samples.
        let p95_budget = if watch.is_some() { None } else { p95_budget };
        Ok(Self { base_url, checks, headers, wait, latency: LatencyPolicy { samples, p95_budget }, tls, watch })
    }
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

/// An empty variable from an action input means "use the default".
fn or_default<'a>(text: &'a str, default: &'a str) -> &'a str {
    non_empty(Some(text)).unwrap_or(default)
}

fn duration(flag: &'static str, text: &str) -> Result<Duration, PlanError> {
    parse_positive_duration(text).map_err(|message| PlanError::invalid(flag, message))
}

fn count(flag: &'static str, text: &str, min: u32, max: u32) -> Result<u32, PlanError> {
    let text = text.trim();
    match text.parse::<u32>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(PlanError::invalid(flag, format!("`{text}` is not a whole number from {min} to {max}"))),
    }
}

fn parse_base_url(text: &str) -> Result<Url, PlanError> {
    let text = text.trim();
    // Messages show the URL without user info or query: either may be a credential.
    let shown = slipway_contract::redact_url(text);
    let invalid = |message: String| PlanError::invalid("--url", message);
    if text.is_empty() {
        return Err(invalid("is empty; give the service's base URL, like https://app.example.com".to_owned()));
    }
    let url = Url::parse(text)
        .map_err(|error| invalid(format!("`{shown}` is not a URL ({error}); write it like https://app.example.com")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "`{shown}` uses the scheme `{}`; verify speaks http and https only",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("`{shown}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "holds credentials, which would show in logs; send them with --header Authorization:$VAR".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("`{shown}` has a query or fragment; give a base URL and put queries on --check")));
    }
    Ok(url)
}

/// Appends a check path to the base URL, keeping the base's own path.
fn join_path(base: &Url, flag: &'static str, path: &str) -> Result<(String, Url), PlanError> {
    let path = path.trim();
    let shown = slipway_contract::redact_url(path);
    if path.contains("://") || path.starts_with("//") {
        return Err(PlanError::invalid(
            flag,
            format!("`{shown}` is not a path; give a path like /health, the host comes from --url"),
        ));
    }
    if path.chars().any(char::is_whitespace) {
        return Err(PlanError::invalid(flag, format!("`{shown}` holds white space; percent-encode it (%20)")));
    }
    let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
    let url = Url::parse(&joined).map_err(|error| {
        PlanError::invalid(flag, format!("`{}` does not make a URL ({error})", slipway_contract::redact_url(&path)))
    })?;
    Ok((path, url))
}

fn parse_method(text: &str) -> Result<Method, PlanError> {
    let upper = or_default(text, "GET").to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(PlanError::invalid("--method", format!("`{text}` is not one of {}", METHODS.join(", "))));
    }
    Method::from_bytes(upper.as_bytes()).map_err(|error| PlanError::invalid("--method", format!("`{text}`: {error}")))
}

fn compile_regex(flag: &'static str, pattern: &str) -> Result<Regex, PlanError> {
    Regex::new(pattern).map_err(|error| {
        // The regex crate's message spans lines with a caret diagram; keep its verdict.
        let text = error.to_string();
        let reason =
            text.lines().rev().find_map(|line| line.trim().strip_prefix("error: ")).unwrap_or(text.as_str()).to_owned();
        PlanError::invalid(flag, format!("`{pattern}` is not a valid regular expression ({reason})"))
    })
}

/// RFC 6901: empty, or `/`-separated tokens where `~` is only `~0` or `~1`.
fn validate_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.starts_with('/') {
        return Err(format!("`{pointer}` is not a JSON pointer; it starts with / as in /status or /build/version"));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("`{pointer}` has a bare ~; write ~0 for ~ and ~1 for / inside a name"));
        }
    }
    Ok(())
}

fn parse_json_expectation(item: &str) -> Result<JsonExpectation, PlanError> {
    let flag = "--expect-json";
    let Some((pointer, text)) = item.split_once('=') else {
        return Err(PlanError::invalid(flag, format!("`{item}` has no `=`; write POINTER=VALUE, like /status=UP")));
    };
    let pointer = pointer.trim();
    validate_pointer(pointer).map_err(|message| PlanError::invalid(flag, message))?;
    let text = text.trim();
    let expected = serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()));
    Ok(JsonExpectation { pointer: pointer.to_owned(), expected, text: text.to_owned() })
}

fn parse_header_name(flag: &'static str, name: &str) -> Result<HeaderName, PlanError> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| PlanError::invalid(flag, format!("`{}` is not a valid header name", name.trim())))
}

fn parse_header_expectation(item: &str) -> Result<HeaderExpectation, PlanError> {
    let flag = "--expect-header";
    let Some((name, pattern)) = item.split_once('=') else {
        return Err(PlanError::invalid(flag, format!("`{item}` has no `=`; write NAME=REGEX, like content-type=json")));
    };
    Ok(HeaderExpectation { name: parse_header_name(flag, name)?, pattern: compile_regex(flag, pattern.trim())? })
}

/// `NAME:VALUE`, with environment references for secrets (see --help).
fn parse_request_header(
    item: &str,
    env: &dyn Fn(&str) -> Option<String>,
    console: &Console,
) -> Result<RequestHeader, PlanError> {
    let flag = "--header";
    let Some((name, value)) = item.split_once(':') else {
        return Err(PlanError::invalid(
            flag,
            format!("`{item}` has no `:`; write NAME:VALUE, like Accept:application/json"),
        ));
    };
    let name = parse_header_name(flag, name)?;
    let value = value.trim();
    let mut read = |variable: &str| -> Result<String, PlanError> {
        let secret = env(variable)
            .filter(|value| !value.is_empty())
            .map(|value| Secret::new(value, console))
            .ok_or_else(|| PlanError::MissingSecret { name: name.to_string(), variable: variable.to_owned() })?;
        Ok(secret.expose().to_owned())
    };
    let (resolved, secret) = match value.strip_prefix("env:") {
        Some(variable) => {
            let variable = variable.trim();
            if !is_variable_name(variable) {
                return Err(PlanError::invalid(
                    flag,
                    format!("{name}: `{variable}` is not an environment variable name"),
                ));
            }
            (read(variable)?, true)
        }
        None => interpolate(value, &mut read)?,
    };
    let mut header_value = HeaderValue::from_str(&resolved).map_err(|_| {
        // Never print the value: it may hold a secret.
        PlanError::invalid(
            flag,
            format!("{name}: the value holds characters a header cannot carry (line breaks, controls)"),
        )
    })?;
    header_value.set_sensitive(secret);
    Ok(RequestHeader { name, value: header_value, secret })
}

/// Replaces `$VAR` and `${VAR}` with `read(VAR)` and `$$` with `$`; a lone `$` stays.
/// Returns the text and whether it read any variable.
fn interpolate(
    text: &str,
    read: &mut dyn FnMut(&str) -> Result<String, PlanError>,
) -> Result<(String, bool), PlanError> {
    let mut out = String::with_capacity(text.len());
    let mut used = false;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let Some(end) = braced.find('}') else {
                return Err(PlanError::invalid("--header", "an unclosed ${ in a value; write ${VAR}"));
            };
            let variable = &braced[..end];
            if !is_variable_name(variable) {
                return Err(PlanError::invalid(
                    "--header",
                    format!("`{variable}` is not an environment variable name"),
                ));
            }
            out.push_str(&read(variable)?);
            used = true;
            rest = &braced[end + 1..];
        } else {
            let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            let variable = &after[..len];
            if is_variable_name(variable) {
                out.push_str(&read(variable)?);
                used = true;
            } else {
                // A lone `$` (or `$1`) is text, as a shell would leave it.
                out.push('$');
                out.push_str(variable);
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok((out, used))
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_contract::CiMode;
    use slipway_contract::console::CapturedLog;

    fn args(url: &str) -> VerifyArgs {
        VerifyArgs {
            url: url.to_owned(),
            checks: vec!["/".to_owned()],
            method: "GET".to_owned(),
            expect_status: "2xx".to_owned(),
            version_path: "/version".to_owned(),
            version_pointer: "/version".to_owned(),
            timeout: "2m".to_owned(),
            interval: "2s".to_owned(),
            consecutive: "1".to_owned(),
            request_timeout: "10s".to_owned(),
            ..VerifyArgs::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn plan(args: &VerifyArgs) -> Result<Plan, PlanError> {
        let log = CapturedLog::default();
        Plan::from_args(args, &no_env, &log.console("verify", CiMode::Plain))
    }

    fn error(args: &VerifyArgs) -> String {
        plan(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults_make_one_get_of_the_root() {
        let plan = plan(&args("https://app.example.com")).unwrap();
        assert_eq!(plan.checks.len(), 1);
        assert_eq!(plan.checks[0].label, "GET /");
        assert_eq!(plan.checks[0].url.as_str(), "https://app.example.com/");
        assert_eq!(plan.wait.timeout, Duration::from_secs(120));
        assert_eq!(plan.wait.interval, Duration::from_secs(2));
        assert_eq!(plan.wait.max_interval, MAX_BACKOFF);
        assert_eq!(plan.wait.consecutive, 1);
        assert_eq!(plan.latency.samples, 0);
        assert!(!plan.tls.insecure);
    }

    #[test]
    fn empty_values_from_action_inputs_mean_defaults() {
        let mut args = args("http://127.0.0.1:8080");
        args.checks = vec!["\n".to_owned()];
        args.timeout = String::new();
        args.consecutive = " ".to_owned();
        args.expect_version = Some(String::new());
        args.samples = Some(String::new());
        let plan = plan(&args).unwrap();
        assert_eq!(plan.checks.len(), 1);
        assert_eq!(plan.wait.timeout, Duration::from_secs(120));
        assert_eq!(plan.wait.consecutive, 1);
    }

    #[test]
    fn checks_keep_the_base_path_and_version_check_comes_last() {
        let mut args = args("https://host:8443/app/");
        args.checks = vec!["/health\nready?deep=1".to_owned()];
        args.expect_version = Some("1.2.3".to_owned());
        args.method = "head".to_owned();
        let plan = plan(&args).unwrap();
        let urls: Vec<&str> = plan.checks.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(
            urls,
            ["https://host:8443/app/health", "https://host:8443/app/ready?deep=1", "https://host:8443/app/version"]
        );
        assert_eq!(plan.checks[1].label, "HEAD /ready?…", "a query may hold a token: labels are printed");
        assert_eq!(plan.checks[2].label, "GET /version");
        assert!(plan.checks[2].proves_version());
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        assert_eq!(
            error(&args("not a url")),
            "--url: `not a url` is not a URL (relative URL without a base); write it like https://app.example.com"
        );
        assert_eq!(
            error(&args("ftp://files.example.com")),
            "--url: `ftp://files.example.com` uses the scheme `ftp`; verify speaks http and https only"
        );
        assert!(error(&args("")).contains("is empty"));
        assert!(error(&args("https://u:p@host")).contains("credentials"));
        assert!(error(&args("https://host/?a=1")).contains("query"));
        let mut full = args("https://host");
        full.checks = vec!["https://other/health".to_owned()];
        assert!(error(&full).contains("is not a path"));
    }

    #[test]
    fn bad_expectations_are_usage_errors() {
        let mut bad = args("http://localhost");
        bad.expect_status = "7xx".to_owned();
        assert!(error(&bad).starts_with("--expect-status: `7xx` is not a status class"));

        let mut bad = args("http://localhost");
        bad.expect_body = vec!["(unclosed".to_owned()];
        assert_eq!(error(&bad), "--expect-body: `(unclosed` is not a valid regular expression (unclosed group)");

        let mut bad = args("http://localhost");
        bad.expect_json = vec!["status=UP".to_owned()];
        assert!(error(&bad).starts_with("--expect-json: `status` is not a JSON pointer"));

        let mut bad = args("http://localhost");
        bad.expect_json = vec!["/a~2b=1".to_owned()];
        assert!(error(&bad).contains("bare ~"));

        let mut bad = args("http://localhost");
        bad.expect_header = vec!["bad name=x".to_owned()];
        assert!(error(&bad).contains("not a valid header name"));

        let mut bad = args("http://localhost");
        bad.version_pointer = "version".to_owned();
        assert!(error(&bad).starts_with("--version-pointer:"));

        let mut bad = args("http://localhost");
        bad.method = "GTE".to_owned();
        assert!(error(&bad).starts_with("--method: `GTE` is not one of"));
    }

    #[test]
    fn expectations_are_parsed() {
        let mut args = args("http://localhost");
        args.expect_json = vec!["/status=UP\n/replicas = 3".to_owned()];
        args.expect_header = vec!["Content-Type=^application/json".to_owned()];
        args.expect_status = "200,204".to_owned();
        let plan = plan(&args).unwrap();
        let expect = &plan.checks[0].expect;
        assert_eq!(expect.status.to_string(), "200,204");
        assert_eq!(expect.json[0].expected, serde_json::json!("UP"));
        assert_eq!(expect.json[1].expected, serde_json::json!(3));
        assert_eq!(expect.headers[0].name.as_str(), "content-type");
    }

    #[test]
    fn durations_and_counts_are_validated() {
        let mut bad = args("http://localhost");
        bad.timeout = "0s".to_owned();
        assert_eq!(error(&bad), "--timeout: `0s` is zero; give a duration longer than that");
        bad.timeout = "-5s".to_owned();
        assert!(error(&bad).starts_with("--timeout: `-5s` is negative"));
        bad.timeout = "30".to_owned();
        assert!(error(&bad).contains("no unit"));

        let mut bad = args("http://localhost");
        bad.consecutive = "0".to_owned();
        assert_eq!(error(&bad), "--consecutive: `0` is not a whole number from 1 to 1000");

        let mut bad = args("http://localhost");
        bad.latency_p95 = Some("200ms".to_owned());
        bad.samples = Some("0".to_owned());
        assert!(error(&bad).starts_with("--samples: is 0, but --latency-p95"));

        let mut bad = args("http://localhost");
        bad.tls_min_days = Some("14".to_owned());
        assert!(error(&bad).starts_with("--tls-min-days: needs an https --url"));
    }

    #[test]
    fn a_latency_budget_implies_default_samples() {
        let mut args = args("http://localhost");
        args.latency_p95 = Some("250ms".to_owned());
        let plan = plan(&args).unwrap();
        assert_eq!(plan.latency.samples, DEFAULT_BUDGET_SAMPLES);
        assert_eq!(plan.latency.p95_budget, Some(Duration::from_millis(250)));
    }

    #[test]
    fn secret_headers_come_from_env_and_are_masked() {
        let log = CapturedLog::default();
        let console = log.console("verify", CiMode::GitHub);
        let env = |name: &str| match name {
            "TOKEN" => Some("s3cret".to_owned()),
            "KEY" => Some("k3y".to_owned()),
            _ => None,
        };
        let mut args = args("http://localhost");
        args.headers =
            vec!["Authorization: Bearer ${TOKEN}\nX-Api-Key:env:KEY\nX-Price:$$5 and $1\nAccept:text/plain".to_owned()];
        let plan = Plan::from_args(&args, &env, &console).unwrap();
        let values: Vec<(&str, &str, bool)> =
            plan.headers.iter().map(|h| (h.name.as_str(), h.value.to_str().unwrap(), h.secret)).collect();
        assert_eq!(
            values,
            [
                ("authorization", "Bearer s3cret", true),
                ("x-api-key", "k3y", true),
                ("x-price", "$5 and $1", false),
                ("accept", "text/plain", false),
            ]
        );
        assert!(plan.headers[0].value.is_sensitive());
        assert_eq!(log.text(), "::add-mask::s3cret\n::add-mask::k3y\n");

        args.headers = vec!["Authorization:$MISSING".to_owned()];
        let missing = Plan::from_args(&args, &env, &console).unwrap_err();
        assert_eq!(
            missing,
            PlanError::MissingSecret { name: "authorization".to_owned(), variable: "MISSING".to_owned() }
        );
        args.headers = vec!["no-colon".to_owned()];
        assert!(Plan::from_args(&args, &env, &console).unwrap_err().to_string().contains("has no `:`"));
    }
}
