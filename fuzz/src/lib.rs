//! The checks each fuzz target runs on one input, shared with the suite's replay of the
//! inputs kept in `fuzz/regressions/` and `fuzz/seeds/` (`tests/fuzz_regressions.rs`
//! includes this file): a crash the fuzzer finds stays a test.
//!
//! Each check takes the raw input, never panics on a valid parse, and asserts what must
//! hold of what parsed (a canonical form that parses the same, a value that writes back).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use slipway_artifact::{class_file_release, parse_manifest};
use slipway_containerize::base::{BaseSource, Platform};
use slipway_containerize::plan::{creation_time, format_time};
use slipway_contract::CiMode;
use slipway_contract::Outputs;
use slipway_contract::cli::{parse_duration, parse_list, parse_size};
use slipway_contract::console::CapturedLog;
use slipway_contract::outputs::{
    dotenv_key, render_dotenv, render_github_output, render_stdout_json, render_stdout_text,
};
use slipway_contract::{redact_url, redact_urls};
use slipway_deploy::Amount;
use slipway_deploy::rollout::parse_steps;
use slipway_deploy::targets::docker::{Engine, PortMapping, parse_env};
use slipway_deploy::targets::kubernetes::flags::Quantity;
use slipway_registry::auth::from_docker_config_text;
use slipway_registry::retry::parse_retry_after;
use slipway_registry::token::parse_challenges;
use slipway_registry::{ImageReference, is_loopback_registry};
use slipway_verify::StatusSet;
use slipway_verify::gates::{GateInputs, Gates, MetricGate, number};
use slipway_verify::prometheus::parse_answer;

/// Image references: never a panic; what parses has a stable canonical form.
pub fn image_reference(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let _ = is_loopback_registry(text);
    if let Ok(reference) = ImageReference::parse(text) {
        let again = ImageReference::parse(&reference.to_string());
        assert_eq!(again.as_ref(), Ok(&reference), "`{text}` -> `{reference}`");
    }
}

/// `WWW-Authenticate` challenges (a registry's answer): never a panic, schemes are tokens.
pub fn www_authenticate(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    for challenge in parse_challenges(text) {
        assert!(!challenge.scheme.is_empty());
        let _ = challenge.param("realm");
    }
    if let Some(delay) = parse_retry_after(Some(text)) {
        assert!(delay.as_secs() <= 300);
    }
}

/// docker's config.json: never a panic, at most one warning line. Credential helpers
/// (`credsStore`, `credHelpers`) are taken out first: the fuzzer must not run programs.
pub fn docker_config(bytes: &[u8]) {
    let config = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.remove("credsStore");
            object.remove("credHelpers");
            serde_json::Value::Object(object).to_string().into_bytes()
        }
        Ok(_) => bytes.to_vec(),
        Err(_) if bytes.windows(4).any(|w| w.eq_ignore_ascii_case(b"cred")) => return,
        Err(_) => bytes.to_vec(),
    };
    let log = CapturedLog::default();
    let console = log.console("push-image", CiMode::Plain);
    for registry in ["docker.io", "registry.example.com:5000", "ghcr.io"] {
        let _ = from_docker_config_text(&config, registry, &console);
    }
    assert!(log.text().lines().count() <= 3);
}

/// JAR manifests and class file headers: never a panic; attributes are single trimmed lines.
pub fn jar_manifest(bytes: &[u8]) {
    for (name, value) in parse_manifest(bytes) {
        assert!(!name.contains(['\r', '\n']) && !value.contains(['\r', '\n']));
        assert_eq!(value.trim(), value);
    }
    if let Some(release) = class_file_release(bytes) {
        assert!(release >= 1);
    }
}

/// The output writers: from any values, each sink is rendered or refused, never corrupt.
/// Input: lines `key=value`, values with `\n` written `\x1f` (a unit separator).
pub fn step_outputs(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let mut outputs = Outputs::new();
    for (index, line) in text.lines().enumerate().take(16) {
        let value = line.split_once('=').map_or(line, |(_, value)| value).replace('\u{1f}', "\n");
        outputs.set(format!("key-{index}"), value);
    }
    let count = outputs.iter().count();
    if let Ok(github) = render_github_output(&outputs, "ghadelimiter_fuzz") {
        for (key, value) in outputs.iter() {
            if value.contains(['\n', '\r']) {
                assert!(github.contains(&format!("{key}<<ghadelimiter_fuzz\n{value}\nghadelimiter_fuzz\n")));
                assert!(!value.ends_with('\r'));
            } else {
                assert!(github.contains(&format!("{key}={value}\n")));
            }
        }
    }
    if let Ok(dotenv) = render_dotenv(&outputs) {
        assert_eq!(dotenv.lines().count(), count);
        for ((key, value), line) in outputs.iter().zip(dotenv.lines()) {
            assert_eq!(line, format!("{}={value}", dotenv_key(key)));
            assert_eq!(value.trim_matches(|c: char| c.is_whitespace() || c == '\0'), value);
        }
    }
    assert_eq!(render_stdout_text(&outputs).lines().count(), count);
    let json: serde_json::Value = serde_json::from_str(&render_stdout_json(&outputs)).expect("valid JSON");
    assert_eq!(json.as_object().map(serde_json::Map::len), Some(count));
}

/// The contract's value syntaxes (durations, sizes, lists) and URL redaction: never a
/// panic; a parsed duration's canonical form parses the same; redacting text without a
/// `'` again changes nothing.
pub fn contract_values(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(duration) = parse_duration(text) {
        let canonical = format!("{}s", duration.as_secs());
        if duration.subsec_nanos() == 0 && duration.as_secs() > 0 {
            assert_eq!(parse_duration(&canonical), Ok(duration));
        }
    }
    let _ = parse_size(text);
    for item in parse_list(&[text.to_owned()]) {
        assert!(!item.is_empty() && item.trim() == item && !item.contains('\n'));
    }
    let once = redact_urls(text);
    // Where a `'` ends a URL depends on what follows it (a later `@` makes it user info),
    // which redaction removes: idempotence holds for text without one.
    if !text.contains('\'') {
        assert_eq!(redact_urls(&once), once);
    }
    let url = redact_url(text);
    assert_eq!(redact_url(&url), url);
}

/// deploy's value flags: `--publish`, `--env`, rollout amounts and steps, Kubernetes
/// quantities. Never a panic; what parses writes back to the same value.
pub fn deploy_flags(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(mapping) = PortMapping::parse(text) {
        assert_eq!(PortMapping::parse(&mapping.to_string()), Ok(mapping));
    }
    if let Ok(env) = parse_env(text) {
        assert_eq!(env, text);
    }
    for allow_zero in [false, true] {
        if let Ok(amount) = Amount::parse("--max-surge", text, allow_zero) {
            assert_eq!(Amount::parse("--max-surge", &amount.to_string(), allow_zero), Ok(amount));
        }
    }
    if let Ok(steps) = parse_steps(text) {
        assert!(steps.0.iter().all(|s| (1..=99).contains(s)));
    }
    if let Ok(quantity) = Quantity::parse("--memory-limit", text) {
        assert!(quantity.value > 0);
        assert_eq!(Quantity::parse("--memory-limit", &quantity.text).map(|q| q.value), Ok(quantity.value));
    }
    let _ = Engine::from_docker_host(Some(text));
}

/// verify's gates (`--metric NAME:PROMQL<=THRESHOLD`, `--max-error-rate`, `--prometheus`),
/// `--expect-status`, and Prometheus's answers. Never a panic; a gate writes back to itself.
pub fn verify_gates(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(gate) = MetricGate::parse(text) {
        assert!(gate.threshold.is_finite());
        let again = format!("{}:{}{}{}", gate.name, gate.query, gate.comparison.symbol(), gate.threshold);
        assert_eq!(MetricGate::parse(&again).ok(), Some(gate.clone()));
        assert!(number(gate.threshold).parse::<f64>().is_ok_and(f64::is_finite));
    }
    let metrics = [text.to_owned()];
    let _ = Gates::parse(&GateInputs {
        max_error_rate: Some(text),
        latency_p95: Some(text),
        latency_p99: None,
        prometheus: Some(text),
        metrics: &metrics,
        alarms: &metrics,
    });
    if let Ok(set) = StatusSet::parse(text) {
        assert_eq!(StatusSet::parse(&set.to_string()), Ok(set));
    }
    let _ = parse_answer(200, text);
}

/// containerize's platform, base and creation-time values: never a panic; a platform
/// writes back to itself; an accepted creation time can be written as RFC 3339.
pub fn containerize_flags(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(platform) = Platform::parse(text) {
        assert_eq!(Platform::parse(&platform.to_string()), Ok(platform));
    }
    let _ = BaseSource::parse(text);
    if let Ok(seconds) = creation_time(Some(text), None) {
        assert_eq!(creation_time(Some(&format_time(seconds)), None).ok(), Some(seconds));
    }
}
