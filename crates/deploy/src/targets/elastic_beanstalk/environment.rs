//! An environment's state as Elastic Beanstalk reports it, and the waits on it: every
//! look, retry and wait ends by the run's deadline.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_elasticbeanstalk::error::ProvideErrorMetadata;
use aws_sdk_elasticbeanstalk::primitives::DateTime;
use aws_sdk_elasticbeanstalk::types::{ConfigurationOptionSetting, EnvironmentDescription, InstancesHealthAttribute};
use slipway_contract::{Console, interrupt};

use super::ElasticBeanstalk;
use crate::rollout::{Amount, Strategy};
use crate::status::Status;
use crate::target::DeployError;

const COMMAND_NAMESPACE: &str = "aws:elasticbeanstalk:command";
const TRAFFIC_NAMESPACE: &str = "aws:elasticbeanstalk:trafficsplitting";

/// What one look at an environment showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvState {
    pub id: String,
    pub name: String,
    pub status: String,
    pub health: String,
    pub version: String,
    pub cname: String,
    pub abortable: bool,
}

impl EnvState {
    pub(super) fn from(description: &EnvironmentDescription) -> Self {
        Self {
            id: description.environment_id().unwrap_or_default().to_owned(),
            name: description.environment_name().unwrap_or_default().to_owned(),
            status: description.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            health: description.health().map(|h| h.as_str().to_owned()).unwrap_or_default(),
            version: description.version_label().unwrap_or_default().to_owned(),
            cname: description.cname().unwrap_or_default().to_owned(),
            abortable: description.abortable_operation_in_progress().unwrap_or(false),
        }
    }

    pub fn url(&self) -> String {
        if self.cname.is_empty() { String::new() } else { format!("http://{}", self.cname) }
    }

    /// `shop-prod runs v1 (Ready, Green)`, for plans.
    pub fn describe(&self) -> String {
        format!("{} runs {} ({}, {})", self.name, self.version, self.status, self.health)
    }

    pub fn is_ready(&self) -> bool {
        self.status == "Ready"
    }

    pub fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "Terminated" | "Terminating")
    }
}

/// One instance as enhanced health reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InstanceState {
    pub id: String,
    /// The version label its latest deployment put on it.
    pub version: String,
    /// That deployment's status: `In Progress`, `Deployed` or `Failed`.
    pub deployment: String,
    /// `Green`, `Yellow`, `Red` or `Grey`.
    pub color: String,
}

/// Why waiting for an environment ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WaitFailure {
    /// An ERROR or FATAL event, or Red health.
    Failed {
        message: String,
        state: EnvState,
    },
    /// Ready, but on another version: Elastic Beanstalk rolled back.
    RolledBack {
        state: EnvState,
    },
    Timeout {
        state: EnvState,
    },
}

/// An SDK error in one line, with the service's code when there is one.
pub(super) fn aws_error<E>(operation: &str, error: &aws_sdk_elasticbeanstalk::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_elasticbeanstalk::error::DisplayErrorContext(error).to_string(),
    };
    format!("{operation} failed: {detail}")
}

pub(super) fn is_throttling<E: ProvideErrorMetadata>(error: &aws_sdk_elasticbeanstalk::error::SdkError<E>) -> bool {
    matches!(error.code(), Some("Throttling" | "ThrottlingException" | "TooManyRequestsException"))
}

pub(super) fn failed(message: impl Into<String>, status: Status) -> DeployError {
    DeployError::failed(message, status)
}

impl ElasticBeanstalk {
    /// The environment's current state, or `None` when it does not exist (or is terminated).
    /// Throttling is retried with backoff, never past `deadline`.
    pub(super) async fn describe(&self, name: &str, deadline: Instant) -> Result<Option<EnvState>, DeployError> {
        let mut delay = self.settings.poll_interval;
        loop {
            let result = self
                .eb
                .describe_environments()
                .application_name(&self.settings.application)
                .environment_names(name)
                .include_deleted(false)
                .send()
                .await;
            match result {
                Ok(output) => {
                    return Ok(output
                        .environments()
                        .iter()
                        .map(EnvState::from)
                        .find(|state| state.name == name && state.status != "Terminated"));
                }
                Err(error) if is_throttling(&error) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(failed(
                            format!(
                                "{} until the deadline; {name} was not seen since",
                                aws_error("DescribeEnvironments", &error)
                            ),
                            Status::Unknown,
                        ));
                    }
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
                Err(error) => return Err(failed(aws_error("DescribeEnvironments", &error), Status::Unknown)),
            }
        }
    }

    /// The environment, which must exist; lists the application's environments otherwise.
    pub(super) async fn require(&self, name: &str, deadline: Instant) -> Result<EnvState, DeployError> {
        if let Some(state) = self.describe(name, deadline).await? {
            return Ok(state);
        }
        let all = self
            .eb
            .describe_environments()
            .application_name(&self.settings.application)
            .include_deleted(false)
            .send()
            .await
            .map_err(|e| failed(aws_error("DescribeEnvironments", &e), Status::Unknown))?;
        let names: Vec<String> =
            all.environments().iter().filter_map(|e| e.environment_name()).map(str::to_owned).collect();
        Err(DeployError::Usage(format!(
            "Elastic Beanstalk application {} has no environment {name}; it has: {}",
            self.settings.application,
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )))
    }

    /// The environment once Ready: an update already in progress is waited for.
    pub(super) async fn require_ready(
        &self,
        name: &str,
        deadline: Instant,
        console: &Console,
    ) -> Result<EnvState, DeployError> {
        let mut state = self.require(name, deadline).await?;
        if !state.is_ready() {
            console.info(&format!("{name} is {}; waiting for it to be Ready before deploying", state.status));
        }
        while !state.is_ready() {
            if state.is_gone() {
                return Err(DeployError::Usage(format!("environment {name} is {}", state.status)));
            }
            if Instant::now() >= deadline {
                return Err(failed(
                    format!("environment {name} stayed {} until the timeout; nothing was deployed", state.status),
                    Status::Busy,
                ));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
            state = self.require(name, deadline).await?;
        }
        Ok(state)
    }

    /// The option settings that pick the strategy's deployment policy.
    pub fn option_settings(&self, strategy: Strategy) -> Vec<ConfigurationOptionSetting> {
        let setting = |namespace: &str, name: &str, value: String| {
            ConfigurationOptionSetting::builder().namespace(namespace).option_name(name).value(value).build()
        };
        let batch = |policy: &str| {
            let (kind, size) = match self.settings.batch_size {
                Amount::Percent(p) => ("Percentage", p.to_string()),
                Amount::Count(n) => ("Fixed", n.to_string()),
            };
            vec![
                setting(COMMAND_NAMESPACE, "DeploymentPolicy", policy.to_owned()),
                setting(COMMAND_NAMESPACE, "BatchSizeType", kind.to_owned()),
                setting(COMMAND_NAMESPACE, "BatchSize", size),
            ]
        };
        match strategy {
            Strategy::Direct | Strategy::BlueGreen => {
                vec![setting(COMMAND_NAMESPACE, "DeploymentPolicy", "AllAtOnce".to_owned())]
            }
            Strategy::Rolling => batch("Rolling"),
            Strategy::RollingWithBatch => batch("RollingWithAdditionalBatch"),
            Strategy::Immutable => vec![setting(COMMAND_NAMESPACE, "DeploymentPolicy", "Immutable".to_owned())],
            Strategy::Canary => {
                // Settings keep it in whole minutes within EB's range; this only states the unit.
                let minutes = self.settings.canary_evaluation.as_secs().div_ceil(60);
                vec![
                    setting(COMMAND_NAMESPACE, "DeploymentPolicy", "TrafficSplitting".to_owned()),
                    setting(TRAFFIC_NAMESPACE, "NewVersionPercent", self.settings.canary_percent.to_string()),
                    setting(TRAFFIC_NAMESPACE, "EvaluationTime", minutes.to_string()),
                ]
            }
        }
    }

    pub(super) async fn update(&self, environment: &str, version: &str, strategy: Strategy) -> Result<(), DeployError> {
        self.eb
            .update_environment()
            .environment_name(environment)
            .version_label(version)
            .set_option_settings(Some(self.option_settings(strategy)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(aws_error("UpdateEnvironment", &e), Status::Unchanged))
    }

    /// Waits until `environment` is Ready on `version` and healthy, streaming its events
    /// since `since`; ERROR and FATAL events fail at once.
    pub(super) async fn wait_live(
        &self,
        environment: &str,
        version: &str,
        since: SystemTime,
        deadline: Instant,
        console: &Console,
    ) -> Result<EnvState, WaitFailure> {
        let mut seen: HashSet<(i64, String)> = HashSet::new();
        let mut state = EnvState::default();
        loop {
            if let Some(failure) = self.stream_events(environment, since, &mut seen, console).await {
                let state = self.describe(environment, deadline).await.ok().flatten().unwrap_or(state);
                return Err(WaitFailure::Failed { message: failure, state });
            }
            match self.describe(environment, deadline).await {
                Ok(Some(current)) => state = current,
                Ok(None) => {
                    return Err(WaitFailure::Failed {
                        message: format!("environment {environment} disappeared"),
                        state,
                    });
                }
                Err(_) => {}
            }
            if state.is_ready() {
                if state.version != version {
                    return Err(WaitFailure::RolledBack { state });
                }
                if self.healthy(&state.health) {
                    return Ok(state);
                }
                if state.health == "Red" {
                    return Err(WaitFailure::Failed {
                        message: format!("{environment} is Ready on {version} but its health is Red"),
                        state,
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(WaitFailure::Timeout { state });
            }
            if let Err(interrupted) = interrupt::sleep(self.settings.poll_interval).await {
                return Err(WaitFailure::Failed { message: format!("deploy was {interrupted} mid-update"), state });
            }
        }
    }

    /// Logs the events since `since` not seen yet; returns the first ERROR or FATAL one.
    pub(super) async fn stream_events(
        &self,
        environment: &str,
        since: SystemTime,
        seen: &mut HashSet<(i64, String)>,
        console: &Console,
    ) -> Option<String> {
        let output = self
            .eb
            .describe_events()
            .application_name(&self.settings.application)
            .environment_name(environment)
            .start_time(DateTime::from(since))
            .send()
            .await
            .ok()?;
        let mut events: Vec<_> = output.events().iter().collect();
        // EB lists the newest first; the log reads oldest first.
        events.sort_by_key(|e| e.event_date().map(|d| d.secs()).unwrap_or(0));
        let mut failure = None;
        for event in events {
            let when = event.event_date().map(|d| d.secs()).unwrap_or(0);
            let message = event.message().unwrap_or_default().to_owned();
            if !seen.insert((when, message.clone())) {
                continue;
            }
            let severity = event.severity().map(|s| s.as_str().to_owned()).unwrap_or_else(|| "INFO".to_owned());
            console.info(&format!("{environment} [{severity}] {message}"));
            if failure.is_none() && matches!(severity.as_str(), "ERROR" | "FATAL") {
                failure = Some(message);
            }
        }
        failure
    }

    /// Every instance of `environment` as enhanced health reports it
    /// (DescribeInstancesHealth): the version deployed on it, that deployment's status, and
    /// its health colour. An error (enhanced health off, no permission) is the caller's.
    pub(super) async fn instances(&self, environment: &str) -> Result<Vec<InstanceState>, String> {
        let mut instances = Vec::new();
        let mut token: Option<String> = None;
        // A bounded number of pages: a fleet of thousands is not an environment slipway deploys.
        for _ in 0..20 {
            let page = self
                .eb
                .describe_instances_health()
                .environment_name(environment)
                .attribute_names(InstancesHealthAttribute::Color)
                .attribute_names(InstancesHealthAttribute::Deployment)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("DescribeInstancesHealth", &e))?;
            instances.extend(page.instance_health_list().iter().map(|instance| {
                let deployment = instance.deployment();
                InstanceState {
                    id: instance.instance_id().unwrap_or_default().to_owned(),
                    version: deployment.and_then(|d| d.version_label()).unwrap_or_default().to_owned(),
                    deployment: deployment.and_then(|d| d.status()).unwrap_or_default().to_owned(),
                    color: instance.color().unwrap_or_default().to_owned(),
                }
            }));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(instances)
    }

    /// Asks Elastic Beanstalk to abort the update under way (a refusal is only a warning:
    /// the wait that follows tells where the environment ended).
    pub(super) async fn abort_update(&self, environment: &str, console: &Console) {
        console.info(&format!("aborting the update of {environment}"));
        if let Err(error) = self.eb.abort_environment_update().environment_name(environment).send().await {
            console.warning(&aws_error("AbortEnvironmentUpdate", &error));
        }
    }

    /// After a failure or timeout: abort the update when it can be aborted, then put
    /// `previous` back if the environment is not on it, by `deadline`. Returns where it ended.
    pub(super) async fn restore(
        &self,
        environment: &str,
        previous: &str,
        deadline: Instant,
        console: &Console,
    ) -> Result<EnvState, String> {
        if let Ok(Some(state)) = self.describe(environment, deadline).await
            && state.abortable
        {
            self.abort_update(environment, console).await;
        }
        let mut state = self.describe(environment, deadline).await.ok().flatten().unwrap_or_default();
        while !state.is_ready() && Instant::now() < deadline {
            tokio::time::sleep(self.settings.poll_interval).await;
            state = self.describe(environment, deadline).await.ok().flatten().unwrap_or(state);
        }
        if !state.is_ready() {
            return Err(format!("{environment} is still {} after the abort", state.status));
        }
        if state.version == previous || previous.is_empty() {
            return Ok(state);
        }
        console.info(&format!("rolling {environment} back to {previous}"));
        let since = SystemTime::now();
        self.update(environment, previous, Strategy::Direct).await.map_err(|e| e.to_string())?;
        match self.wait_live(environment, previous, since, deadline, console).await {
            Ok(state) => Ok(state),
            Err(WaitFailure::Failed { message, .. }) => Err(message),
            Err(WaitFailure::RolledBack { state } | WaitFailure::Timeout { state }) => {
                Err(format!("{environment} is {} on {}", state.status, state.version))
            }
        }
    }
}
