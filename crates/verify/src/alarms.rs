//! CloudWatch alarm gates (`--alarm NAME`): the named alarms' states, read with one
//! `cloudwatch:DescribeAlarms` call per analysis round. An alarm in ALARM crosses its gate;
//! INSUFFICIENT_DATA waits, and is inconclusive (a failure) if still so at the end of a
//! window; an AWS error is inconclusive at once. An alarm that does not exist is bad input,
//! refused before anything is probed or changed ([`Alarms::check_exist`]). A build
//! without the `aws` feature refuses `--alarm` when it parses the gates
//! ([`crate::gates::ALARMS_NOT_BUILT`]), so its [`Alarms`] is never asked.

use std::time::Duration;

#[cfg(feature = "aws")]
use aws_sdk_cloudwatch::error::DisplayErrorContext;
#[cfg(feature = "aws")]
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

#[cfg(feature = "aws")]
use crate::probe::humanize;

/// The IAM action the gates need, for messages.
pub const ACTION: &str = "cloudwatch:DescribeAlarms";

/// DescribeAlarms takes at most this many names per call.
#[cfg(feature = "aws")]
const NAMES_PER_CALL: usize = 100;

/// One alarm's state as CloudWatch reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state: String,
    /// CloudWatch's state reason ("Threshold Crossed: 1 datapoint ...").
    pub reason: String,
}

impl AlarmState {
    pub fn in_alarm(&self) -> bool {
        self.state == "ALARM"
    }

    pub fn ok(&self) -> bool {
        self.state == "OK"
    }
}

/// Why the alarms cannot be judged before a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmCheckError {
    /// No alarm has these names (bad input: exit 2).
    Missing(Vec<String>),
    /// The call failed (credentials, permissions, network).
    Aws(String),
}

impl std::fmt::Display for AlarmCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(names) => write!(
                f,
                "--alarm: no CloudWatch alarm is named {} in this account and region; check the name and AWS_REGION",
                names.join(", ")
            ),
            Self::Aws(error) => write!(f, "--alarm: cannot read the alarms: {error}"),
        }
    }
}

/// A CloudWatch client for the alarm gates.
#[derive(Debug, Clone)]
pub struct Alarms {
    #[cfg(feature = "aws")]
    client: aws_sdk_cloudwatch::Client,
}

#[cfg(not(feature = "aws"))]
impl Alarms {
    /// No client in a build without the AWS SDK (`--alarm` is refused before one is asked for).
    pub async fn from_env() -> Self {
        Self {}
    }

    /// Always refused: this build cannot read CloudWatch.
    pub async fn describe(&self, _names: &[String], _timeout: Duration) -> Result<Vec<AlarmState>, String> {
        Err(format!("--alarm: {}", crate::gates::ALARMS_NOT_BUILT))
    }

    /// Always refused: this build cannot read CloudWatch.
    pub async fn check_exist(&self, names: &[String], timeout: Duration) -> Result<Vec<AlarmState>, AlarmCheckError> {
        self.describe(names, timeout).await.map_err(AlarmCheckError::Aws)
    }
}

#[cfg(feature = "aws")]
impl Alarms {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }

    /// A client from the default credential chain and region, with the suite's HTTP client.
    pub async fn from_env() -> Self {
        let config = slipway_aws::config_loader().load().await;
        Self::new(aws_sdk_cloudwatch::Client::new(&config))
    }

    /// The states of the alarms named `names` that exist (metric and composite alarms),
    /// read within `timeout` (the SDK's retries of throttling included).
    pub async fn describe(&self, names: &[String], timeout: Duration) -> Result<Vec<AlarmState>, String> {
        tokio::time::timeout(timeout, self.describe_all(names))
            .await
            .unwrap_or_else(|_| Err(format!("{ACTION} gave no answer within {}", humanize(timeout))))
    }

    async fn describe_all(&self, names: &[String]) -> Result<Vec<AlarmState>, String> {
        let mut states = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut token = None;
            loop {
                let output = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|error| format!("{ACTION} failed: {}", DisplayErrorContext(&error)))?;
                let metric = output.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                let composite =
                    output.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
                for (name, state, reason) in metric.chain(composite) {
                    states.push(AlarmState {
                        name: name.unwrap_or_default().to_owned(),
                        state: state.map_or("unknown", StateValue::as_str).to_owned(),
                        reason: reason.unwrap_or_default().to_owned(),
                    });
                }
                token = output.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(states)
    }

    /// Refuses names no alarm has, before a window starts.
    pub async fn check_exist(&self, names: &[String], timeout: Duration) -> Result<Vec<AlarmState>, AlarmCheckError> {
        let states = self.describe(names, timeout).await.map_err(AlarmCheckError::Aws)?;
        let missing: Vec<String> =
            names.iter().filter(|name| !states.iter().any(|s| &s.name == *name)).cloned().collect();
        if missing.is_empty() { Ok(states) } else { Err(AlarmCheckError::Missing(missing)) }
    }
}
