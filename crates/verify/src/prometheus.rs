//! Prometheus's HTTP API, as far as a gate needs it: an instant query
//! (`GET /api/v1/query?query=...`) and its answer, a scalar or a vector of samples.
//! Anything else (an error answer, a range result, an empty vector, a NaN) is said as
//! such: the analysis counts it as inconclusive, never as a pass.

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use crate::gates::number;

/// What one query of a gate gave.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// One value per series (a scalar is one value); never empty, never NaN.
    Values(Vec<(String, f64)>),
    /// The query ran but gave nothing to judge (an empty vector, NaN): why.
    Inconclusive(String),
    /// The query did not run (unreachable server, bad PromQL): why.
    Error(String),
}

/// A client of one Prometheus server.
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
}

impl Prometheus {
    pub fn new(base: Url, timeout: Duration) -> Result<Self, String> {
        // reqwest is built without its default crypto: use ring (an error only means a
        // provider is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot build the Prometheus client: {error}"))?;
        Ok(Self { base, http, timeout })
    }

    /// The server, for messages.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Runs `query` as an instant query now.
    pub async fn query(&self, query: &str) -> QueryResult {
        let mut url = self.base.clone();
        url.set_path(&format!("{}/api/v1/query", self.base.path().trim_end_matches('/')));
        url.query_pairs_mut().append_pair("query", query);
        let exchange = async {
            let response = self.http.get(url).send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                QueryResult::Error(format!("Prometheus at {} gave no answer within {:?}", self.base, self.timeout))
            }
            Ok(Err(error)) => QueryResult::Error(format!("Prometheus at {} cannot be queried: {error}", self.base)),
            Ok(Ok((status, body))) => parse_answer(status, &body),
        }
    }
}

/// Reads an answer of `/api/v1/query` (its HTTP status and body).
pub fn parse_answer(status: u16, body: &str) -> QueryResult {
    let Ok(document) = serde_json::from_str::<Value>(body) else {
        return QueryResult::Error(format!(
            "Prometheus answered HTTP {status} with no JSON: {}",
            crate::expect::excerpt(body)
        ));
    };
    if document["status"] != "success" {
        let kind = document["errorType"].as_str().unwrap_or("error");
        let error = document["error"].as_str().unwrap_or("no reason given");
        return QueryResult::Error(format!("the query failed ({kind}, HTTP {status}): {error}"));
    }
    let data = &document["data"];
    match data["resultType"].as_str() {
        Some("scalar") => match sample_value(&data["result"]) {
            Some(value) if !value.is_nan() => QueryResult::Values(vec![(String::new(), value)]),
            Some(_) => QueryResult::Inconclusive("the query gave NaN".to_owned()),
            None => QueryResult::Error("the scalar answer holds no number".to_owned()),
        },
        Some("vector") => {
            let Some(samples) = data["result"].as_array() else {
                return QueryResult::Error("the vector answer holds no samples list".to_owned());
            };
            if samples.is_empty() {
                return QueryResult::Inconclusive("the query gave an empty vector (no series matched yet)".to_owned());
            }
            let mut values = Vec::with_capacity(samples.len());
            for sample in samples {
                let labels = series_name(&sample["metric"]);
                match sample_value(&sample["value"]) {
                    Some(value) if value.is_nan() => {
                        return QueryResult::Inconclusive(format!("the query gave NaN for {}", shown(&labels)));
                    }
                    Some(value) => values.push((labels, value)),
                    None => return QueryResult::Error(format!("a sample of {} holds no number", shown(&labels))),
                }
            }
            QueryResult::Values(values)
        }
        other => QueryResult::Error(format!(
            "the query gave a {} result; a gate needs an instant vector or a scalar",
            other.unwrap_or("missing")
        )),
    }
}

/// `[timestamp, "value"]` -> the value (Prometheus writes floats as strings: "NaN", "+Inf").
fn sample_value(pair: &Value) -> Option<f64> {
    pair.get(1)?.as_str()?.parse::<f64>().ok()
}

/// `{code="500",job="app"}`: a series' labels as PromQL writes them.
fn series_name(metric: &Value) -> String {
    let Some(labels) = metric.as_object() else { return String::new() };
    let parts: Vec<String> =
        labels.iter().map(|(name, value)| format!("{name}=\"{}\"", value.as_str().unwrap_or_default())).collect();
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn shown(labels: &str) -> &str {
    if labels.is_empty() { "the result" } else { labels }
}

/// One value, or the worst of several, as the summary shows it.
pub fn describe_values(values: &[(String, f64)]) -> String {
    match values {
        [(_, value)] => number(*value),
        many => many
            .iter()
            .map(|(labels, value)| format!("{} {}", shown(labels), number(*value)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_scalars_give_values() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"code":"500","job":"app"},"value":[1700000000.1,"0.25"]},
            {"metric":{},"value":[1700000000.1,"+Inf"]}]}}"#;
        assert_eq!(
            parse_answer(200, vector),
            QueryResult::Values(vec![("{code=\"500\",job=\"app\"}".to_owned(), 0.25), (String::new(), f64::INFINITY)])
        );
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#;
        assert_eq!(parse_answer(200, scalar), QueryResult::Values(vec![(String::new(), 3.0)]));
        assert_eq!(describe_values(&[(String::new(), 0.5)]), "0.5");
        assert_eq!(
            describe_values(&[("{a=\"1\"}".into(), 1.0), ("{a=\"2\"}".into(), 2.0)]),
            "{a=\"1\"} 1, {a=\"2\"} 2"
        );
    }

    #[test]
    fn empty_vectors_and_nan_are_inconclusive() {
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(parse_answer(200, empty), QueryResult::Inconclusive(why) if why.contains("empty vector")));
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"NaN"]}]}}"#;
        assert!(
            matches!(parse_answer(200, nan), QueryResult::Inconclusive(why) if why.contains("NaN for {job=\"a\"}"))
        );
        let scalar_nan = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#;
        assert!(matches!(parse_answer(200, scalar_nan), QueryResult::Inconclusive(_)));
    }

    #[test]
    fn errors_say_what_prometheus_said() {
        let bad =
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#;
        assert_eq!(
            parse_answer(400, bad),
            QueryResult::Error(
                "the query failed (bad_data, HTTP 400): invalid parameter \"query\": 1:5: parse error".to_owned()
            )
        );
        assert!(
            matches!(parse_answer(502, "<html>bad gateway</html>"), QueryResult::Error(why) if why.contains("no JSON"))
        );
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(parse_answer(200, matrix), QueryResult::Error(why) if why.contains("a matrix result")));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A sample's value as Prometheus writes it (Go's `FormatFloat(v, 'f', -1, 64)`, or
    /// `NaN`, `+Inf`, `-Inf`) and what it means.
    fn sample() -> impl Strategy<Value = (String, f64)> {
        prop_oneof![
            8 => any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(|v| (format!("{v}"), v)),
            2 => (-1e6..1e6f64).prop_map(|v| (format!("{v:e}"), format!("{v:e}").parse().unwrap_or(v))),
            1 => Just(("NaN".to_owned(), f64::NAN)),
            1 => Just(("+Inf".to_owned(), f64::INFINITY)),
            1 => Just(("-Inf".to_owned(), f64::NEG_INFINITY)),
        ]
    }

    fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(("[a-z_]{1,8}", any::<String>()), 0..3).prop_map(|mut labels| {
            labels.sort();
            labels.dedup_by(|a, b| a.0 == b.0);
            labels
        })
    }

    proptest! {
        #[test]
        fn vector_answers_give_their_samples(samples in proptest::collection::vec((labels(), sample()), 0..5)) {
            let result: Vec<Value> = samples
                .iter()
                .map(|(labels, (written, _))| {
                    let metric: serde_json::Map<String, Value> =
                        labels.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
                    serde_json::json!({"metric": metric, "value": [1_700_000_000.123, written]})
                })
                .collect();
            let body = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}}).to_string();
            let answer = parse_answer(200, &body);
            if samples.is_empty() {
                prop_assert!(matches!(answer, QueryResult::Inconclusive(_)));
            } else if samples.iter().any(|(_, (_, value))| value.is_nan()) {
                prop_assert!(matches!(answer, QueryResult::Inconclusive(ref why) if why.contains("NaN")), "{:?}", answer);
            } else {
                let QueryResult::Values(values) = answer else {
                    return Err(TestCaseError::fail(format!("{answer:?}")));
                };
                let read: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
                let expected: Vec<f64> = samples.iter().map(|(_, (_, v))| *v).collect();
                prop_assert_eq!(read, expected);
                for ((name, _), (labels, _)) in values.iter().zip(&samples) {
                    prop_assert_eq!(name.is_empty(), labels.is_empty());
                }
            }
        }

        #[test]
        fn scalar_answers_give_their_value((written, value) in sample()) {
            let body = serde_json::json!({"status": "success", "data": {"resultType": "scalar", "result": [1.5, written]}}).to_string();
            match parse_answer(200, &body) {
                QueryResult::Values(values) => prop_assert_eq!(values, vec![(String::new(), value)]),
                QueryResult::Inconclusive(_) => prop_assert!(value.is_nan()),
                QueryResult::Error(why) => prop_assert!(false, "{}", why),
            }
        }

        #[test]
        fn any_body_is_read_without_panic(status in any::<u16>(), body in any::<String>()) {
            if let QueryResult::Error(why) | QueryResult::Inconclusive(why) = parse_answer(status, &body) {
                prop_assert!(!why.is_empty() && why.chars().count() < 400);
            }
        }
    }
}
