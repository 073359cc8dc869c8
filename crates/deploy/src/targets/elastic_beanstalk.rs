//! AWS Elastic Beanstalk (Docker platform): a `Dockerrun.aws.json` v1 bundle naming the
//! image by digest, an application version, and `UpdateEnvironment` with the strategy's
//! deployment policy; blue-green through a cloned environment and a CNAME swap. Done
//! only when the environment is Ready, on our version, and Green: Ready on another
//! version means Elastic Beanstalk rolled back, and that is a failure.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_elasticbeanstalk::Client as EbClient;
use aws_sdk_elasticbeanstalk::error::ProvideErrorMetadata;
use aws_sdk_elasticbeanstalk::primitives::DateTime;
use aws_sdk_elasticbeanstalk::types::{ConfigurationOptionSetting, EnvironmentDescription, S3Location};
use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;
use slipway_contract::Console;

use crate::args::DeployArgs;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Strategy, Target};

const COMMAND_NAMESPACE: &str = "aws:elasticbeanstalk:command";
const TRAFFIC_NAMESPACE: &str = "aws:elasticbeanstalk:trafficsplitting";
/// How long a `--rollback` after a failure or timeout may take on its own.
const ROLLBACK_BUDGET: Duration = Duration::from_secs(15 * 60);

/// `--batch-size`: a share of the instances or a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Percent(u8),
    Fixed(u32),
}

impl BatchSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let invalid = || format!("--batch-size `{text}` is neither a percentage (30%) nor an instance count (2)");
        match text.strip_suffix('%') {
            Some(percent) => match percent.trim().parse::<u8>() {
                Ok(value @ 1..=100) => Ok(Self::Percent(value)),
                _ => Err(invalid()),
            },
            None => match text.parse::<u32>() {
                Ok(value) if value >= 1 => Ok(Self::Fixed(value)),
                _ => Err(invalid()),
            },
        }
    }
}

/// The target's settings, from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub application: String,
    pub environment: String,
    pub bucket: Option<String>,
    pub batch_size: BatchSize,
    pub canary_percent: u8,
    pub canary_evaluation: Duration,
    pub green_environment: String,
    pub terminate_old: bool,
    pub allow_yellow: bool,
    /// Between two looks at the environment (tests shorten it).
    pub poll_interval: Duration,
}

impl Settings {
    pub fn from_args(args: &DeployArgs) -> Result<Self, DeployError> {
        let named = |value: &Option<String>, flag: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| DeployError::Usage(format!("--target elastic-beanstalk needs {flag}")))
        };
        let application = named(&args.application, "--application")?;
        let environment = named(&args.environment, "--environment")?;
        let green_environment = args
            .green_environment
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map_or_else(|| format!("{environment}-green"), str::to_owned);
        if green_environment == environment {
            return Err(DeployError::Usage("--green-environment must differ from --environment".to_owned()));
        }
        Ok(Self {
            application,
            environment,
            bucket: args.bucket.as_deref().map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned),
            batch_size: BatchSize::parse(&args.batch_size).map_err(DeployError::Usage)?,
            canary_percent: args.canary_percent,
            canary_evaluation: args.canary_evaluation,
            green_environment,
            terminate_old: args.terminate_old,
            allow_yellow: args.allow_yellow,
            poll_interval: Duration::from_secs(10),
        })
    }
}

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
    fn from(description: &EnvironmentDescription) -> Self {
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

    fn url(&self) -> String {
        if self.cname.is_empty() { String::new() } else { format!("http://{}", self.cname) }
    }

    fn is_ready(&self) -> bool {
        self.status == "Ready"
    }

    fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "Terminated" | "Terminating")
    }
}

/// Why waiting for an environment ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WaitFailure {
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

/// The Elastic Beanstalk target.
#[derive(Debug, Clone)]
pub struct ElasticBeanstalk {
    pub settings: Settings,
    eb: EbClient,
    s3: S3Client,
}

/// An SDK error in one line, with the service's code when there is one.
fn aws_error<E>(operation: &str, error: &aws_sdk_elasticbeanstalk::error::SdkError<E>) -> String
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

fn is_throttling<E: ProvideErrorMetadata>(error: &aws_sdk_elasticbeanstalk::error::SdkError<E>) -> bool {
    matches!(error.code(), Some("Throttling" | "ThrottlingException" | "TooManyRequestsException"))
}

fn failed(message: impl Into<String>, status: &str) -> DeployError {
    DeployError::failed(message, status)
}

impl ElasticBeanstalk {
    /// Builds the clients from AWS's default chain (environment, profile, web identity),
    /// refusing a missing region or missing credentials before anything is called.
    pub async fn from_args(
        args: &DeployArgs,
        _request: &DeployRequest,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DeployError> {
        let settings = Settings::from_args(args)?;
        let config = aws_config::load_from_env().await;
        if config.region().is_none() {
            return Err(DeployError::Usage(
                "no AWS region: set AWS_REGION (or a profile's region) for Elastic Beanstalk".to_owned(),
            ));
        }
        match config.credentials_provider() {
            Some(provider) => {
                use aws_sdk_elasticbeanstalk::config::ProvideCredentials;
                if let Err(error) = provider.provide_credentials().await {
                    return Err(DeployError::Usage(format!(
                        "no AWS credentials: {error} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or web identity for GitHub OIDC)"
                    )));
                }
            }
            None => return Err(DeployError::Usage("no AWS credentials provider is configured".to_owned())),
        }
        let eb = EbClient::new(&config);
        // S3 endpoints that are not AWS's own (a local test server) want path-style URLs.
        let custom_endpoint =
            env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")).is_some_and(|u| !u.is_empty());
        let s3_config = aws_sdk_s3::config::Builder::from(&config).force_path_style(custom_endpoint).build();
        Ok(Self::with_clients(settings, eb, S3Client::from_conf(s3_config)))
    }

    pub fn with_clients(settings: Settings, eb: EbClient, s3: S3Client) -> Self {
        Self { settings, eb, s3 }
    }

    /// The environment's current state, or `None` when it does not exist (or is terminated).
    async fn describe(&self, name: &str) -> Result<Option<EnvState>, DeployError> {
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
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
                Err(error) => return Err(failed(aws_error("DescribeEnvironments", &error), "unknown")),
            }
        }
    }

    /// The environment, which must exist; lists the application's environments otherwise.
    async fn require(&self, name: &str) -> Result<EnvState, DeployError> {
        if let Some(state) = self.describe(name).await? {
            return Ok(state);
        }
        let all = self
            .eb
            .describe_environments()
            .application_name(&self.settings.application)
            .include_deleted(false)
            .send()
            .await
            .map_err(|e| failed(aws_error("DescribeEnvironments", &e), "unknown"))?;
        let names: Vec<String> =
            all.environments().iter().filter_map(|e| e.environment_name()).map(str::to_owned).collect();
        Err(DeployError::Usage(format!(
            "Elastic Beanstalk application {} has no environment {name}; it has: {}",
            self.settings.application,
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )))
    }

    /// The environment once Ready: an update already in progress is waited for.
    async fn require_ready(&self, name: &str, deadline: Instant, console: &Console) -> Result<EnvState, DeployError> {
        let mut state = self.require(name).await?;
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
                    "busy",
                ));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
            state = self.require(name).await?;
        }
        Ok(state)
    }

    /// The application version `label` for `image`: reused when it exists for the same
    /// image, created (bundle to S3, processed) otherwise.
    async fn ensure_version(&self, request: &DeployRequest, console: &Console) -> Result<(), DeployError> {
        let label = &request.version_label;
        let description = format!("slipway: {}", request.image);
        let existing = self
            .eb
            .describe_application_versions()
            .application_name(&self.settings.application)
            .version_labels(label)
            .send()
            .await
            .map_err(|e| failed(aws_error("DescribeApplicationVersions", &e), "unknown"))?;
        if let Some(version) = existing.application_versions().first() {
            if version.description() == Some(description.as_str()) {
                console.info(&format!("application version {label} exists for this image; reusing it"));
                return self.wait_processed(label, request.timeout).await;
            }
            return Err(DeployError::Usage(format!(
                "application version {label} already exists for another image ({}); give a new --version-label",
                version.description().unwrap_or("unknown")
            )));
        }
        if request.dry_run {
            console.info(&format!(
                "plan: create application version {label} from a Dockerrun.aws.json naming {}",
                request.image
            ));
            return Ok(());
        }
        let bucket = match &self.settings.bucket {
            Some(bucket) => bucket.clone(),
            None => self
                .eb
                .create_storage_location()
                .send()
                .await
                .map_err(|e| failed(aws_error("CreateStorageLocation", &e), "unknown"))?
                .s3_bucket()
                .unwrap_or_default()
                .to_owned(),
        };
        let key = format!("{}/{label}/Dockerrun.aws.json", self.settings.application);
        let bundle = dockerrun(&request.image, request.port);
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(bundle.into_bytes()))
            .send()
            .await
            .map_err(|e| {
                failed(
                    format!(
                        "uploading the bundle to s3://{bucket}/{key} failed: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    ),
                    "unknown",
                )
            })?;
        console.info(&format!("bundle uploaded to s3://{bucket}/{key}"));
        let location = S3Location::builder().s3_bucket(&bucket).s3_key(&key).build();
        self.eb
            .create_application_version()
            .application_name(&self.settings.application)
            .version_label(label)
            .description(&description)
            .source_bundle(location)
            .process(true)
            .send()
            .await
            .map_err(|e| failed(aws_error("CreateApplicationVersion", &e), "unknown"))?;
        self.wait_processed(label, request.timeout).await
    }

    /// Waits until the version is Processed; Failed is a failure.
    async fn wait_processed(&self, label: &str, timeout: Duration) -> Result<(), DeployError> {
        let deadline = Instant::now() + timeout;
        loop {
            let output = self
                .eb
                .describe_application_versions()
                .application_name(&self.settings.application)
                .version_labels(label)
                .send()
                .await;
            let status = match output {
                Ok(output) => output
                    .application_versions()
                    .first()
                    .and_then(|v| v.status())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                Err(error) if is_throttling(&error) => String::new(),
                Err(error) => return Err(failed(aws_error("DescribeApplicationVersions", &error), "unknown")),
            };
            match status.as_str() {
                "Processed" => return Ok(()),
                "Failed" => {
                    return Err(failed(
                        format!(
                            "Elastic Beanstalk could not process application version {label} (its Dockerrun.aws.json)"
                        ),
                        "failed",
                    ));
                }
                _ if Instant::now() >= deadline => {
                    return Err(failed(
                        format!("application version {label} was not processed before the timeout"),
                        "failed",
                    ));
                }
                _ => tokio::time::sleep(self.settings.poll_interval).await,
            }
        }
    }

    /// The option settings that pick the strategy's deployment policy.
    pub fn option_settings(&self, strategy: Strategy) -> Vec<ConfigurationOptionSetting> {
        let setting = |namespace: &str, name: &str, value: String| {
            ConfigurationOptionSetting::builder().namespace(namespace).option_name(name).value(value).build()
        };
        let batch = |policy: &str| {
            let (kind, size) = match self.settings.batch_size {
                BatchSize::Percent(p) => ("Percentage", p.to_string()),
                BatchSize::Fixed(n) => ("Fixed", n.to_string()),
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
                let minutes = self.settings.canary_evaluation.as_secs().div_ceil(60).max(1);
                vec![
                    setting(COMMAND_NAMESPACE, "DeploymentPolicy", "TrafficSplitting".to_owned()),
                    setting(TRAFFIC_NAMESPACE, "NewVersionPercent", self.settings.canary_percent.to_string()),
                    setting(TRAFFIC_NAMESPACE, "EvaluationTime", minutes.to_string()),
                ]
            }
        }
    }

    async fn update(&self, environment: &str, version: &str, strategy: Strategy) -> Result<(), DeployError> {
        self.eb
            .update_environment()
            .environment_name(environment)
            .version_label(version)
            .set_option_settings(Some(self.option_settings(strategy)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(aws_error("UpdateEnvironment", &e), "unchanged"))
    }

    /// Waits until `environment` is Ready on `version` and healthy, streaming its events
    /// since `since`; ERROR and FATAL events fail at once.
    async fn wait_live(
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
                let state = self.describe(environment).await.ok().flatten().unwrap_or(state);
                return Err(WaitFailure::Failed { message: failure, state });
            }
            match self.describe(environment).await {
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
                let healthy = state.health == "Green" || (self.settings.allow_yellow && state.health == "Yellow");
                if healthy {
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
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// Logs the events since `since` not seen yet; returns the first ERROR or FATAL one.
    async fn stream_events(
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

    /// After a failure or timeout: abort the update when it can be aborted, then put
    /// `previous` back if the environment is not on it. Returns where it ended.
    async fn restore(&self, environment: &str, previous: &str, console: &Console) -> Result<EnvState, String> {
        let deadline = Instant::now() + ROLLBACK_BUDGET;
        if let Ok(Some(state)) = self.describe(environment).await
            && state.abortable
        {
            console.info(&format!("aborting the update of {environment}"));
            if let Err(error) = self.eb.abort_environment_update().environment_name(environment).send().await {
                console.warning(&aws_error("AbortEnvironmentUpdate", &error));
            }
        }
        let mut state = self.describe(environment).await.ok().flatten().unwrap_or_default();
        while !state.is_ready() && Instant::now() < deadline {
            tokio::time::sleep(self.settings.poll_interval).await;
            state = self.describe(environment).await.ok().flatten().unwrap_or(state);
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

    fn outcome(state: &EnvState, previous: &str, status: &str) -> DeployOutcome {
        DeployOutcome {
            url: state.url(),
            version_label: state.version.clone(),
            previous_version: previous.to_owned(),
            deployment_id: state.id.clone(),
            status: status.to_owned(),
            health: state.health.clone(),
        }
    }

    /// Turns a failed wait into the step's failure, restoring the previous version.
    async fn fail(
        &self,
        failure: WaitFailure,
        environment: &str,
        request: &DeployRequest,
        previous: &str,
        console: &Console,
    ) -> DeployError {
        let (why, status) = match &failure {
            WaitFailure::Failed { message, .. } => {
                (format!("the deployment of {} failed: {message}", request.version_label), "failed")
            }
            WaitFailure::RolledBack { state } => (
                format!(
                    "Elastic Beanstalk rolled back: {environment} is Ready on {}, not {}; the new version did not deploy",
                    state.version, request.version_label
                ),
                "rolled-back",
            ),
            WaitFailure::Timeout { state } => (
                format!(
                    "{environment} was not live on {} within {} (status {}, health {})",
                    request.version_label,
                    humantime::format_duration(request.timeout),
                    state.status,
                    state.health
                ),
                "timed-out",
            ),
        };
        if let WaitFailure::RolledBack { state } = &failure
            && state.version == previous
        {
            return failed(why, "rolled-back");
        }
        match self.restore(environment, previous, console).await {
            Ok(state) if state.version == previous => {
                failed(format!("{why}; {environment} is back on {previous}"), "rolled-back")
            }
            Ok(state) => failed(format!("{why}; {environment} is on {}", state.version), status),
            Err(error) => failed(format!("{why}; restoring {previous} failed too: {error}"), "unknown"),
        }
    }

    async fn deploy(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError> {
        let deadline = Instant::now() + request.timeout;
        let environment = &self.settings.environment;
        let live = self.require_ready(environment, deadline, console).await?;
        let previous = live.version.clone();
        if request.strategy == Strategy::BlueGreen {
            return self.deploy_green(request, &live, deadline, console).await;
        }
        self.ensure_version(request, console).await?;
        if request.dry_run {
            console.info(&format!(
                "plan: update {environment} from {previous} to {} with {}",
                request.version_label,
                policy_name(&self.option_settings(request.strategy))
            ));
            return Ok(Self::outcome(&live, &previous, "planned"));
        }
        let since = SystemTime::now();
        self.update(environment, &request.version_label, request.strategy).await?;
        if request.strategy == Strategy::Canary {
            // EB now sends the canary share of traffic to the new instances; verify judges
            // it through the environment's URL, then --promote or --reject finishes it.
            console.info(&format!(
                "canary started: {}% of {environment}'s traffic goes to {} for up to {}",
                self.settings.canary_percent,
                request.version_label,
                humantime::format_duration(self.settings.canary_evaluation)
            ));
            let state = self.describe(environment).await?.unwrap_or(live);
            let mut outcome = Self::outcome(&state, &previous, "canary");
            outcome.version_label.clone_from(&request.version_label);
            return Ok(outcome);
        }
        match self.wait_live(environment, &request.version_label, since, deadline, console).await {
            Ok(state) => Ok(Self::outcome(&state, &previous, "deployed")),
            Err(failure) => Err(self.fail(failure, environment, request, &previous, console).await),
        }
    }

    async fn deploy_green(
        &self,
        request: &DeployRequest,
        blue: &EnvState,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let green = &self.settings.green_environment;
        self.ensure_version(request, console).await?;
        let existing = self.describe(green).await?;
        if request.dry_run {
            let how = if existing.is_some() { "update" } else { "create from a template of" };
            console.info(&format!("plan: {how} {green} ({}) on {}", blue.name, request.version_label));
            return Ok(Self::outcome(blue, &blue.version, "planned"));
        }
        let since = SystemTime::now();
        match existing {
            Some(state) => {
                console.info(&format!("{green} exists ({}); updating it to {}", state.status, request.version_label));
                self.require_ready(green, deadline, console).await?;
                self.update(green, &request.version_label, Strategy::Direct).await?;
            }
            None => {
                let template = template_name(green, &request.version_label);
                self.eb
                    .create_configuration_template()
                    .application_name(&self.settings.application)
                    .template_name(&template)
                    .environment_id(&blue.id)
                    .send()
                    .await
                    .map_err(|e| failed(aws_error("CreateConfigurationTemplate", &e), "unchanged"))?;
                self.eb
                    .create_environment()
                    .application_name(&self.settings.application)
                    .environment_name(green)
                    .template_name(&template)
                    .version_label(&request.version_label)
                    .send()
                    .await
                    .map_err(|e| failed(aws_error("CreateEnvironment", &e), "unchanged"))?;
                console.info(&format!("creating {green} from {template} (a copy of {}'s configuration)", blue.name));
            }
        }
        match self.wait_live(green, &request.version_label, since, deadline, console).await {
            Ok(state) => Ok(Self::outcome(&state, &blue.version, "green-ready")),
            Err(failure) => {
                let reason = match failure {
                    WaitFailure::Failed { message, .. } => message,
                    WaitFailure::RolledBack { state } => {
                        format!("{green} is on {}, not {}", state.version, request.version_label)
                    }
                    WaitFailure::Timeout { state } => {
                        format!("{green} was {} ({}) at the timeout", state.status, state.health)
                    }
                };
                // Blue never stopped serving: nothing to restore. Green stays for inspection.
                Err(failed(
                    format!(
                        "the green environment {green} did not become healthy: {reason}; {} still serves {}; run --reject to remove {green}",
                        blue.name, blue.version
                    ),
                    "failed",
                ))
            }
        }
    }

    async fn promote(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError> {
        let deadline = Instant::now() + request.timeout;
        let environment = &self.settings.environment;
        if request.strategy == Strategy::Canary {
            let state = self.require(environment).await?;
            let version =
                if request.version_label.is_empty() { state.version.clone() } else { request.version_label.clone() };
            if request.dry_run {
                console.info(&format!("plan: wait for {environment}'s traffic split to finish on {version}"));
                return Ok(Self::outcome(&state, "", "planned"));
            }
            let since = SystemTime::now();
            return match self.wait_live(environment, &version, since, deadline, console).await {
                Ok(state) => Ok(Self::outcome(&state, "", "promoted")),
                Err(failure) => {
                    let mut request = request.clone();
                    request.version_label = version;
                    Err(self.fail(failure, environment, &request, "", console).await)
                }
            };
        }
        let green = &self.settings.green_environment;
        let blue = self.require_ready(environment, deadline, console).await?;
        let green_state = self.require_ready(green, deadline, console).await?;
        if request.dry_run {
            console.info(&format!("plan: swap the CNAMEs of {environment} and {green}"));
            return Ok(Self::outcome(&green_state, &blue.version, "planned"));
        }
        self.eb
            .swap_environment_cnames()
            .source_environment_name(environment)
            .destination_environment_name(green)
            .send()
            .await
            .map_err(|e| failed(aws_error("SwapEnvironmentCNAMEs", &e), "unchanged"))?;
        let swapped_green = self.require_ready(green, deadline, console).await?;
        let old_blue = self.require_ready(environment, deadline, console).await?;
        console.info(&format!("{green} now serves {} at {}", swapped_green.version, swapped_green.cname));
        if self.settings.terminate_old {
            self.eb
                .terminate_environment()
                .environment_name(environment)
                .send()
                .await
                .map_err(|e| failed(aws_error("TerminateEnvironment", &e), "promoted"))?;
            console.info(&format!("terminating the old environment {environment}"));
        }
        Ok(Self::outcome(&swapped_green, &old_blue.version, "promoted"))
    }

    async fn reject(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError> {
        let environment = &self.settings.environment;
        if request.strategy == Strategy::Canary {
            let state = self.require(environment).await?;
            if request.dry_run {
                console.info(&format!("plan: abort {environment}'s traffic split"));
                return Ok(Self::outcome(&state, "", "planned"));
            }
            let restored = self.restore(environment, "", console).await.map_err(|e| failed(e, "unknown"))?;
            return Ok(Self::outcome(&restored, &state.version, "rejected"));
        }
        let green = &self.settings.green_environment;
        let blue = self.require(environment).await?;
        let green_state = self.require(green).await?;
        if request.dry_run {
            console.info(&format!("plan: terminate {green}"));
            return Ok(Self::outcome(&blue, &green_state.version, "planned"));
        }
        self.eb
            .terminate_environment()
            .environment_name(green)
            .send()
            .await
            .map_err(|e| failed(aws_error("TerminateEnvironment", &e), "unchanged"))?;
        console.info(&format!("terminating {green}; {environment} keeps serving {}", blue.version));
        Ok(Self::outcome(&blue, &green_state.version, "rejected"))
    }

    async fn rollback(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError> {
        let deadline = Instant::now() + request.timeout;
        let environment = &self.settings.environment;
        let live = self.require_ready(environment, deadline, console).await?;
        let target = if request.version_label.is_empty() {
            self.version_before(&live.version).await?
        } else {
            request.version_label.clone()
        };
        if request.dry_run {
            console.info(&format!("plan: roll {environment} back from {} to {target}", live.version));
            return Ok(Self::outcome(&live, &live.version, "planned"));
        }
        let since = SystemTime::now();
        self.update(environment, &target, Strategy::Direct).await?;
        match self.wait_live(environment, &target, since, deadline, console).await {
            Ok(state) => Ok(Self::outcome(&state, &live.version, "rolled-back")),
            Err(failure) => {
                let mut request = request.clone();
                request.version_label = target;
                Err(self.fail(failure, environment, &request, &live.version, console).await)
            }
        }
    }

    /// The newest processed version older than `current`: what ran before it.
    async fn version_before(&self, current: &str) -> Result<String, DeployError> {
        let output = self
            .eb
            .describe_application_versions()
            .application_name(&self.settings.application)
            .send()
            .await
            .map_err(|e| failed(aws_error("DescribeApplicationVersions", &e), "unchanged"))?;
        let mut versions: Vec<_> = output
            .application_versions()
            .iter()
            .filter(|v| v.status().is_some_and(|s| s.as_str() == "Processed"))
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.date_created().map(|d| d.secs()).unwrap_or(0)));
        let position = versions.iter().position(|v| v.version_label() == Some(current));
        position
            .and_then(|p| versions.get(p + 1))
            .or_else(|| versions.iter().find(|v| v.version_label() != Some(current)))
            .and_then(|v| v.version_label())
            .map(str::to_owned)
            .ok_or_else(|| {
                DeployError::Usage(format!(
                    "no earlier version than {current} to roll back to; name one with --version-label"
                ))
            })
    }
}

fn policy_name(settings: &[ConfigurationOptionSetting]) -> String {
    settings
        .iter()
        .find(|s| s.option_name() == Some("DeploymentPolicy"))
        .and_then(|s| s.value())
        .unwrap_or("AllAtOnce")
        .to_owned()
}

/// A configuration template name for green (letters, digits, `-`; at most 100).
fn template_name(green: &str, version: &str) -> String {
    let raw = format!("slipway-{green}-{version}");
    let mut name: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    name.truncate(100);
    name
}

/// The Dockerrun.aws.json v1 bundle: the image by digest and the container port.
pub fn dockerrun(image: &str, port: u16) -> String {
    serde_json::json!({
        "AWSEBDockerrunVersion": "1",
        "Image": {"Name": image, "Update": "true"},
        "Ports": [{"ContainerPort": port}],
    })
    .to_string()
}

impl Target for ElasticBeanstalk {
    fn name(&self) -> &'static str {
        "elastic-beanstalk"
    }

    fn strategies(&self) -> &'static [Strategy] {
        &[
            Strategy::Direct,
            Strategy::Rolling,
            Strategy::RollingWithBatch,
            Strategy::Immutable,
            Strategy::Canary,
            Strategy::BlueGreen,
        ]
    }

    async fn run(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError> {
        match request.phase {
            Phase::Deploy => self.deploy(request, console).await,
            Phase::Promote => self.promote(request, console).await,
            Phase::Reject => self.reject(request, console).await,
            Phase::Rollback => self.rollback(request, console).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes() {
        assert_eq!(BatchSize::parse("30%"), Ok(BatchSize::Percent(30)));
        assert_eq!(BatchSize::parse("2"), Ok(BatchSize::Fixed(2)));
        for bad in ["0", "0%", "101%", "x", "-1", ""] {
            assert!(BatchSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dockerrun_names_the_image_by_digest_and_the_port() {
        let image = format!("1234.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:{}", "a".repeat(64));
        let bundle: serde_json::Value = serde_json::from_str(&dockerrun(&image, 8080)).unwrap();
        assert_eq!(bundle["AWSEBDockerrunVersion"], "1");
        assert_eq!(bundle["Image"]["Name"], image);
        assert_eq!(bundle["Ports"][0]["ContainerPort"], 8080);
    }

    #[test]
    fn template_names_are_safe() {
        assert_eq!(template_name("web-green", "v1.2.0-abc"), "slipway-web-green-v1-2-0-abc");
        assert!(template_name("g", &"x".repeat(200)).len() <= 100);
    }
}
