//! What a check expects of a response, and the pure judgement of one response.

use std::fmt;

use regex::Regex;
use reqwest::header::{HeaderMap, HeaderName};
use serde_json::Value;

/// One accepted status: an exact code or a whole class (`2xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusMatcher {
    Code(u16),
    Class(u16),
}

/// The accepted statuses of a check (`--expect-status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<StatusMatcher>);

impl StatusSet {
    /// Any 2xx: the default.
    pub fn success() -> Self {
        Self(vec![StatusMatcher::Class(2)])
    }

    /// Parses `200`, `200,204`, `2xx`, `2XX, 301`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut matchers = Vec::new();
        for item in text.split([',', ' ', '\n', '\r', '\t']).filter(|item| !item.is_empty()) {
            matchers.push(parse_status_item(item)?);
        }
        if matchers.is_empty() {
            return Err("is empty; write a code or a class like 200 or 2xx".to_owned());
        }
        Ok(Self(matchers))
    }

    pub fn matches(&self, status: u16) -> bool {
        self.0.iter().any(|matcher| match *matcher {
            StatusMatcher::Code(code) => code == status,
            StatusMatcher::Class(class) => status / 100 == class,
        })
    }
}

fn parse_status_item(item: &str) -> Result<StatusMatcher, String> {
    let lower = item.to_ascii_lowercase();
    if let Some(digit) = lower.strip_suffix("xx") {
        return match digit.parse::<u16>() {
            Ok(class @ 1..=5) if digit.len() == 1 => Ok(StatusMatcher::Class(class)),
            _ => Err(format!("`{item}` is not a status class; HTTP classes are 1xx to 5xx")),
        };
    }
    match item.parse::<u16>() {
        Ok(code @ 100..=599) => Ok(StatusMatcher::Code(code)),
        Ok(_) => Err(format!("`{item}` is out of range; HTTP statuses are 100 to 599")),
        Err(_) => Err(format!("`{item}` is not an HTTP status; write a code or a class like 200 or 2xx")),
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|matcher| match matcher {
                StatusMatcher::Code(code) => code.to_string(),
                StatusMatcher::Class(class) => format!("{class}xx"),
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

/// `--expect-json POINTER=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonExpectation {
    pub pointer: String,
    /// VALUE as JSON when it parses as JSON, else as a JSON string.
    pub expected: Value,
    /// VALUE as written, which also matches a JSON string of the same text.
    pub text: String,
}

impl JsonExpectation {
    fn matches(&self, actual: &Value) -> bool {
        *actual == self.expected || actual.as_str() == Some(self.text.as_str())
    }
}

/// `--expect-header NAME=REGEX`.
#[derive(Debug, Clone)]
pub struct HeaderExpectation {
    pub name: HeaderName,
    pub pattern: Regex,
}

/// `--expect-version` with where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionExpectation {
    pub expected: String,
    /// Where the version sits when the body is a JSON object.
    pub pointer: String,
}

/// Everything one check expects of a response.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub status: StatusSet,
    pub body: Vec<Regex>,
    pub json: Vec<JsonExpectation>,
    pub headers: Vec<HeaderExpectation>,
    pub version: Option<VersionExpectation>,
}

impl Default for Expectations {
    fn default() -> Self {
        Self { status: StatusSet::success(), body: Vec::new(), json: Vec::new(), headers: Vec::new(), version: None }
    }
}

/// The judgement of one response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Why the response fails its check; `None` when it passes.
    pub failure: Option<String>,
    /// The version the service served, when the check reads one.
    pub version_seen: Option<String>,
}

/// The version a body announces: the field at `pointer` of a JSON object, else the
/// whole body trimmed.
pub fn served_version(body: &str, pointer: &str) -> Result<String, String> {
    match serde_json::from_str::<Value>(body) {
        Ok(document @ Value::Object(_)) => match document.pointer(pointer) {
            Some(Value::String(version)) => Ok(version.trim().to_owned()),
            Some(Value::Null) | None => {
                Err(format!("the JSON object has no {pointer} field (set --version-pointer); body: {}", excerpt(body)))
            }
            Some(other) => Ok(other.to_string()),
        },
        _ => Ok(body.trim().to_owned()),
    }
}

/// Judges a response against `expect`. Pure: the caller did the request.
pub fn evaluate(expect: &Expectations, status: u16, headers: &HeaderMap, body: &str) -> Verdict {
    let mut verdict = Verdict::default();
    verdict.failure = judge(expect, status, headers, body, &mut verdict.version_seen).err();
    verdict
}

fn judge(
    expect: &Expectations,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    version_seen: &mut Option<String>,
) -> Result<(), String> {
    if !expect.status.matches(status) {
        return Err(format!("status {status}, expected {}; body: {}", expect.status, excerpt(body)));
    }
    if let Some(version) = &expect.version {
        let served = served_version(body, &version.pointer)?;
        *version_seen = Some(served.clone());
        if served != version.expected {
            let shown = if served.is_empty() { "an empty version".to_owned() } else { served };
            return Err(format!("version mismatch: expected {}, the service serves {shown}", version.expected));
        }
    }
    for expectation in &expect.headers {
        let name = &expectation.name;
        let Some(value) = headers.get(name) else {
            return Err(format!("header {name} is missing"));
        };
        let value = String::from_utf8_lossy(value.as_bytes());
        if !expectation.pattern.is_match(&value) {
            return Err(format!("header {name}: `{value}` does not match /{}/", expectation.pattern));
        }
    }
    for pattern in &expect.body {
        if !pattern.is_match(body) {
            return Err(format!("body does not match /{pattern}/; body: {}", excerpt(body)));
        }
    }
    if !expect.json.is_empty() {
        let document: Value = serde_json::from_str(body)
            .map_err(|error| format!("body is not JSON ({error}); body: {}", excerpt(body)))?;
        for expectation in &expect.json {
            let pointer = &expectation.pointer;
            match document.pointer(pointer) {
                None => return Err(format!("JSON field {pointer} is missing")),
                Some(actual) if !expectation.matches(actual) => {
                    return Err(format!("JSON field {pointer} is {actual}, expected {}", expectation.text));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// The start of a body on one line, for failure reasons.
pub fn excerpt(body: &str) -> String {
    const LIMIT: usize = 160;
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return "(empty)".to_owned();
    }
    match flat.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn expect_version(expected: &str) -> Expectations {
        Expectations {
            version: Some(VersionExpectation { expected: expected.to_owned(), pointer: "/version".to_owned() }),
            ..Expectations::default()
        }
    }

    #[test]
    fn status_sets_parse_codes_lists_and_classes() {
        let set = StatusSet::parse("200, 3XX").unwrap();
        assert!(set.matches(200) && set.matches(301) && !set.matches(204));
        assert_eq!(set.to_string(), "200,3xx");
        assert!(StatusSet::parse("2xx").unwrap().matches(204));
        assert!(StatusSet::parse("7xx").unwrap_err().contains("not a status class"));
        assert!(StatusSet::parse("abc").unwrap_err().contains("not an HTTP status"));
        assert!(StatusSet::parse("22xx").is_err());
        assert!(StatusSet::parse("99").unwrap_err().contains("out of range"));
        assert!(StatusSet::parse(" , ").unwrap_err().contains("empty"));
    }

    #[test]
    fn status_failure_names_status_expectation_and_body() {
        let verdict = evaluate(&Expectations::default(), 503, &HeaderMap::new(), "warming\nup");
        assert_eq!(verdict.failure.as_deref(), Some("status 503, expected 2xx; body: warming up"));
    }

    #[test]
    fn version_from_json_object_or_plain_text() {
        assert_eq!(served_version(r#"{"name":"app","version":"1.0.0"}"#, "/version"), Ok("1.0.0".to_owned()));
        assert_eq!(served_version(r#"{"build":{"v":7}}"#, "/build/v"), Ok("7".to_owned()));
        assert_eq!(served_version(" 2.1.0\n", "/version"), Ok("2.1.0".to_owned()));
        assert_eq!(served_version("\"1.0\"", "/version"), Ok("\"1.0\"".to_owned()));
        assert!(served_version(r#"{"name":"app"}"#, "/version").unwrap_err().contains("no /version field"));
    }

    #[test]
    fn version_mismatch_names_both_versions_and_is_seen() {
        let verdict = evaluate(&expect_version("1.1.0"), 200, &HeaderMap::new(), r#"{"version":"1.0.0"}"#);
        assert_eq!(verdict.failure.as_deref(), Some("version mismatch: expected 1.1.0, the service serves 1.0.0"));
        assert_eq!(verdict.version_seen.as_deref(), Some("1.0.0"));
        let ok = evaluate(&expect_version("1.0.0"), 200, &HeaderMap::new(), "1.0.0");
        assert_eq!(ok.failure, None);
        assert_eq!(ok.version_seen.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn body_json_and_header_expectations() {
        let expect = Expectations {
            body: vec![Regex::new("UP").unwrap()],
            json: vec![
                JsonExpectation { pointer: "/status".into(), expected: Value::String("UP".into()), text: "UP".into() },
                JsonExpectation { pointer: "/replicas".into(), expected: Value::from(3), text: "3".into() },
            ],
            headers: vec![HeaderExpectation {
                name: HeaderName::from_static("content-type"),
                pattern: Regex::new("^application/json").unwrap(),
            }],
            ..Expectations::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
        let pass = evaluate(&expect, 200, &headers, r#"{"status":"UP","replicas":3}"#);
        assert_eq!(pass.failure, None);

        let wrong = evaluate(&expect, 200, &headers, r#"{"status":"UP","replicas":2}"#);
        assert_eq!(wrong.failure.as_deref(), Some("JSON field /replicas is 2, expected 3"));
        let missing = evaluate(&expect, 200, &HeaderMap::new(), r#"{"status":"UP"}"#);
        assert_eq!(missing.failure.as_deref(), Some("header content-type is missing"));
        let not_json = evaluate(&expect, 200, &headers, "UP but not json");
        assert!(not_json.failure.unwrap().starts_with("body is not JSON"));
        let no_body_match = evaluate(&expect, 200, &headers, "DOWN");
        assert_eq!(no_body_match.failure.as_deref(), Some("body does not match /UP/; body: DOWN"));
    }

    #[test]
    fn json_text_value_matches_a_string_that_looks_like_json() {
        let expectation = JsonExpectation { pointer: "/v".into(), expected: Value::from(1.0), text: "1.0".into() };
        assert!(expectation.matches(&Value::String("1.0".into())));
        assert!(expectation.matches(&Value::from(1.0)));
        assert!(!expectation.matches(&Value::String("1".into())));
    }

    #[test]
    fn excerpts_are_short_single_lines() {
        assert_eq!(excerpt(""), "(empty)");
        let long = "x".repeat(500);
        let cut = excerpt(&long);
        assert!(cut.ends_with('…') && cut.chars().count() == 161);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn status_sets_round_trip_and_match_what_they_name(
            codes in proptest::collection::vec(prop_oneof![(100u16..600).prop_map(StatusMatcher::Code), (1u16..=5).prop_map(StatusMatcher::Class)], 1..5),
            upper in any::<bool>(),
            status in 100u16..600,
        ) {
            let set = StatusSet(codes.clone());
            let written = set.to_string();
            let written = if upper { written.replace("xx", "XX").replace(',', ", ") } else { written };
            prop_assert_eq!(StatusSet::parse(&written), Ok(set.clone()));
            let named = codes.iter().any(|m| match *m {
                StatusMatcher::Code(code) => code == status,
                StatusMatcher::Class(class) => status >= class * 100 && status < class * 100 + 100,
            });
            prop_assert_eq!(set.matches(status), named);
        }

        #[test]
        fn any_status_text_is_a_set_or_one_error(text in "[0-9xX, ]{0,12}|.{0,12}") {
            match StatusSet::parse(&text) {
                Ok(set) => prop_assert_eq!(StatusSet::parse(&set.to_string()), Ok(set)),
                Err(message) => prop_assert!(!message.is_empty()),
            }
        }

        #[test]
        fn excerpts_are_short_single_lines(body in any::<String>()) {
            let shown = excerpt(&body);
            prop_assert!(!shown.contains('\n') && shown.chars().count() <= 161);
        }
    }
}
