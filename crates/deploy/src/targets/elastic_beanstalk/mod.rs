//! AWS Elastic Beanstalk (Docker platform): a `Dockerrun.aws.json` v1 bundle naming the
//! image by digest, an application version, and `UpdateEnvironment` with the strategy's
//! deployment policy (canary: traffic splitting); blue-green through a second
//! environment and a CNAME swap. Done only when the environment is Ready, on our version,
//! and Green: Ready on another version means Elastic Beanstalk rolled back, and that is
//! a failure.
//!
//! - `environment`: what one look at an environment shows, and the waits on it.
//! - `version`: application versions and their bundles.
//! - `canary`: finishing a traffic split (promote, reject).
//! - `judged`: a traffic split judged by analysis (`--strategy canary` with analysis flags).
//! - `blue_green`: which of the pair is live, the idle one's update, the swap.
//! - `switch`: a CNAME swap judged by analysis (`--strategy blue-green` with analysis flags).

mod blue_green;
mod canary;
mod environment;
mod flags;
mod judged;
mod switch;
mod version;

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_elasticbeanstalk::Client as EbClient;
use aws_sdk_s3::Client as S3Client;
use slipway_contract::Console;

pub use self::environment::EnvState;
use self::environment::{WaitFailure, failed};
pub use self::flags::{EVALUATION_MINUTES, ElasticBeanstalkFlags, Settings};
use self::version::AppVersion;
pub use self::version::dockerrun;
use crate::analysis::{run_canary, timeline_details};
use crate::rollout::{Param, Strategy};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};

/// The longest putting the previous version back may take after a failed rollout (at
/// most `--timeout` again: the rollout's own deadline has usually passed by then).
const ROLLBACK_BUDGET: Duration = Duration::from_secs(15 * 60);

/// The Elastic Beanstalk target.
#[derive(Debug, Clone)]
pub struct ElasticBeanstalk {
    pub settings: Settings,
    eb: EbClient,
    s3: S3Client,
}

/// What the plan read, for the apply: one variant a kind of run.
#[derive(Debug)]
pub enum EbState {
    /// Update the environment to the request's version with the strategy's policy.
    Update {
        live: EnvState,
        version: AppVersion,
    },
    /// Put `target` back on the environment.
    Rollback {
        live: EnvState,
        target: String,
    },
    Canary(canary::Finish),
    BlueGreen(blue_green::Step),
}

impl ElasticBeanstalk {
    /// Builds the clients from AWS's default chain (environment, profile, web identity),
    /// refusing a missing region or missing credentials before anything is called.
    /// `check`: the path a judged canary's or blue-green's analysis probes.
    pub async fn from_flags(
        flags: &ElasticBeanstalkFlags,
        check: Option<&str>,
        request: &DeployRequest,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DeployError> {
        let judged = request.analysis.is_some() && request.phase == Phase::Deploy;
        // A blue-green judges each environment on its own URL, where one version answers.
        let judged_canary = judged && request.strategy() == Strategy::Canary;
        let mut settings = Settings::new(flags, &request.rollout, judged_canary)?;
        if let Some(check) = check {
            settings.check = check.to_owned();
        }
        if let Some(expected) = request.analysis.as_ref().and_then(|a| a.expect_version.as_deref())
            && judged_canary
        {
            return Err(DeployError::Usage(format!(
                "--expect-version {expected} cannot judge an Elastic Beanstalk canary: the environment's URL serves both versions during the traffic split, the old one most answers; judge the new version with a --metric or --alarm gate that selects it (verify --expect-version after the promotion)"
            )));
        }
        let config = slipway_aws::config_loader().load().await;
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

    /// The outcome a run reports when `state` is where it ended.
    fn outcome(state: &EnvState, previous: &str, status: Status) -> DeployOutcome {
        DeployOutcome {
            url: state.url(),
            version_label: state.version.clone(),
            previous_version: previous.to_owned(),
            deployment_id: state.id.clone(),
            status,
            health: state.health.clone(),
            details: Vec::new(),
        }
    }

    /// A dry run's outcome: `label` planned where `state` is.
    fn planned(state: &EnvState, label: &str, previous: &str) -> DeployOutcome {
        let mut outcome = Self::outcome(state, previous, Status::Planned);
        outcome.version_label = label.to_owned();
        outcome
    }

    async fn plan_update(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EbState>, DeployError> {
        let environment = &self.settings.environment;
        let live = self.require_ready(environment, deadline, console).await?;
        let version = self.find_version(request).await?;
        let label = &request.version_label;
        let settings = self.option_settings(request.strategy());
        let mut plan = Plan::new(Self::planned(&live, label, &live.version), ())
            .now(live.describe())
            .step(version_step(version, request));
        plan = plan.step(format!(
            "update {environment} from {} to {label} with {} ({})",
            live.version,
            policy_name(&settings),
            request.rollout.describe()
        ));
        plan = if let (Strategy::Canary, Some(analysis)) = (request.strategy(), &request.analysis) {
            if let Err(error) = self.instances(environment).await {
                return Err(DeployError::Usage(format!(
                    "{error}: a judged canary starts its window when enhanced health reports the new fleet deployed and healthy; enable enhanced health reporting on {environment} (and allow elasticbeanstalk:DescribeInstancesHealth)"
                )));
            }
            let url = self.settings.environment_url.clone().unwrap_or_else(|| live.url());
            let watch = match request.rollout.bake {
                Some(bake) => format!(
                    ", then watch {environment} for {} more (a crossed gate puts {} back)",
                    humantime::format_duration(bake),
                    live.version
                ),
                None => String::new(),
            };
            plan.step(format!(
                "once every instance on {label} is deployed and {}, judge {url}{} for {} ({}); its traffic mixes both versions, {}% on {label}; a crossed gate aborts the split (AbortEnvironmentUpdate) and waits until {environment} is Ready on {}",
                self.healthy_words(),
                self.settings.check,
                humantime::format_duration(request.rollout.bake_or_default()),
                analysis.describe(),
                self.settings.canary_percent,
                live.version
            ))
            .step(format!(
                "wait until Elastic Beanstalk ends the split after its evaluation time ({}) with {environment} Ready on {label} and {}{watch}; promoted only then",
                humantime::format_duration(self.settings.canary_evaluation),
                self.healthy_words()
            ))
        } else if request.strategy() == Strategy::Canary {
            plan.step(format!(
                "{}% of the traffic goes to {label} while Elastic Beanstalk evaluates it for {}; finish with --promote or --reject",
                self.settings.canary_percent,
                humantime::format_duration(self.settings.canary_evaluation)
            ))
        } else {
            plan.step(format!(
                "wait until {environment} is Ready on {label} and {}; else abort and put {} back",
                self.healthy_words(),
                live.version
            ))
        };
        Ok(plan.with_state(EbState::Update { live, version }))
    }

    async fn apply_update(
        &self,
        live: EnvState,
        version: AppVersion,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let environment = &self.settings.environment;
        let previous = live.version.clone();
        self.ensure_version(request, version, deadline, console).await?;
        let since = SystemTime::now();
        self.update(environment, &request.version_label, request.strategy()).await?;
        if let (Strategy::Canary, Some(analysis)) = (request.strategy(), &request.analysis) {
            let url = self.settings.environment_url.clone().unwrap_or_else(|| live.url());
            let mut shift = judged::EbCanary::new(self, request, previous.clone(), url, since);
            let judged = run_canary(&mut shift, request, analysis, deadline, console).await?;
            let state = shift.promoted.take().unwrap_or(live);
            let mut outcome = Self::outcome(&state, &previous, Status::Promoted);
            outcome.details.extend(timeline_details(&judged.records, 1));
            return Ok(outcome);
        }
        if request.strategy() == Strategy::Canary {
            // EB now sends the canary share of traffic to the new instances; verify judges
            // it through the environment's URL, then --promote or --reject finishes it.
            console.info(&format!(
                "canary started: {}% of {environment}'s traffic goes to {} for up to {}",
                self.settings.canary_percent,
                request.version_label,
                humantime::format_duration(self.settings.canary_evaluation)
            ));
            let state = self.describe(environment, deadline).await?.unwrap_or(live);
            let mut outcome = Self::outcome(&state, &previous, Status::Canary);
            outcome.version_label.clone_from(&request.version_label);
            return Ok(outcome);
        }
        match self.wait_live(environment, &request.version_label, since, deadline, console).await {
            Ok(state) => Ok(Self::outcome(&state, &previous, Status::Deployed)),
            Err(failure) => {
                Err(self.fail(failure, environment, &request.version_label, &previous, request, console).await)
            }
        }
    }

    async fn plan_rollback(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EbState>, DeployError> {
        let environment = &self.settings.environment;
        let live = self.require_ready(environment, deadline, console).await?;
        let target = if request.version_label.is_empty() {
            self.version_before(&live.version).await?
        } else {
            request.version_label.clone()
        };
        let plan = Plan::new(Self::planned(&live, &target, &live.version), ())
            .now(live.describe())
            .step(format!("update {environment} from {} back to {target} all at once", live.version))
            .step(format!("wait until {environment} is Ready on {target} and {}", self.healthy_words()));
        Ok(plan.with_state(EbState::Rollback { live, target }))
    }

    async fn apply_rollback(
        &self,
        live: EnvState,
        target: String,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let environment = &self.settings.environment;
        let since = SystemTime::now();
        self.update(environment, &target, Strategy::Direct).await?;
        match self.wait_live(environment, &target, since, deadline, console).await {
            Ok(state) => Ok(Self::outcome(&state, &live.version, Status::RolledBack)),
            Err(failure) => Err(self.fail(failure, environment, &target, &live.version, request, console).await),
        }
    }

    /// The environment `name` as EB reports it now; its absence is an error (the judged
    /// rollouts' waits, which started with it there).
    pub(super) async fn look(&self, name: &str, deadline: Instant) -> Result<EnvState, String> {
        self.describe(name, deadline)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("environment {name} disappeared"))
    }

    /// Whether an environment's or instance's health colour counts as healthy: Green, or
    /// Yellow with `--allow-yellow` (what [`Self::healthy_words`] says).
    pub(super) fn healthy(&self, color: &str) -> bool {
        color == "Green" || (self.settings.allow_yellow && color == "Yellow")
    }

    /// "Green" or "Green (or Yellow)".
    fn healthy_words(&self) -> &'static str {
        if self.settings.allow_yellow { "Green (or Yellow)" } else { "Green" }
    }

    /// Turns a failed wait for `label` into the step's failure, putting `previous` back
    /// (by its own deadline: the rollout's has usually passed).
    async fn fail(
        &self,
        failure: WaitFailure,
        environment: &str,
        label: &str,
        previous: &str,
        request: &DeployRequest,
        console: &Console,
    ) -> DeployError {
        let (why, status) = match &failure {
            WaitFailure::Failed { message, .. } => {
                (format!("the deployment of {label} failed: {message}"), Status::Failed)
            }
            WaitFailure::RolledBack { state } => (
                format!(
                    "Elastic Beanstalk rolled back: {environment} is Ready on {}, not {label}; the new version did not deploy",
                    state.version
                ),
                Status::RolledBack,
            ),
            WaitFailure::Timeout { state } => (
                format!(
                    "{environment} was not live on {label} within {} (status {}, health {})",
                    humantime::format_duration(request.timeout),
                    state.status,
                    state.health
                ),
                Status::TimedOut,
            ),
        };
        if let WaitFailure::RolledBack { state } = &failure
            && state.version == previous
        {
            return failed(why, Status::RolledBack);
        }
        let restore_deadline = Instant::now() + ROLLBACK_BUDGET.min(request.timeout);
        match self.restore(environment, previous, restore_deadline, console).await {
            Ok(state) if state.version == previous => {
                failed(format!("{why}; {environment} is back on {previous}"), Status::RolledBack)
            }
            Ok(state) => failed(format!("{why}; {environment} is on {}", state.version), status),
            Err(error) => failed(format!("{why}; restoring {previous} failed too: {error}"), Status::Unknown),
        }
    }
}

/// The plan's step for the application version.
fn version_step(version: AppVersion, request: &DeployRequest) -> String {
    match version {
        AppVersion::Exists => format!("reuse application version {} (made for this image)", request.version_label),
        AppVersion::Missing => format!(
            "upload a Dockerrun.aws.json naming {} to S3 and create application version {} from it",
            request.image, request.version_label
        ),
    }
}

/// The deployment policy among option settings (AllAtOnce when none is set).
fn policy_name(settings: &[aws_sdk_elasticbeanstalk::types::ConfigurationOptionSetting]) -> String {
    settings
        .iter()
        .find(|s| s.option_name() == Some("DeploymentPolicy"))
        .and_then(|s| s.value())
        .unwrap_or("AllAtOnce")
        .to_owned()
}

impl Target for ElasticBeanstalk {
    type State = EbState;

    const NAME: &'static str = "elastic-beanstalk";
    const STRATEGIES: &'static [Strategy] = &[
        Strategy::Direct,
        Strategy::Rolling,
        Strategy::RollingWithBatch,
        Strategy::Immutable,
        Strategy::Canary,
        Strategy::BlueGreen,
    ];
    const DEFAULT_STRATEGY: Strategy = Strategy::Direct;
    const JUDGED: &'static [Strategy] = &[Strategy::Canary, Strategy::BlueGreen];

    fn reads(strategy: Strategy) -> &'static [Param] {
        match strategy {
            Strategy::Rolling | Strategy::RollingWithBatch => &[Param::BatchSize],
            Strategy::Canary => &[Param::Steps, Param::Bake],
            Strategy::Direct | Strategy::Immutable | Strategy::BlueGreen => &[],
        }
    }

    async fn plan(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EbState>, DeployError> {
        match (request.phase, request.strategy()) {
            (Phase::Rollback, _) => self.plan_rollback(request, deadline, console).await,
            (_, Strategy::BlueGreen) => self.plan_blue_green(request, deadline, console).await,
            (Phase::Deploy, _) => self.plan_update(request, deadline, console).await,
            (Phase::Promote | Phase::Reject, _) => self.plan_canary(request, deadline, console).await,
        }
    }

    async fn apply(
        &self,
        plan: Plan<EbState>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        match plan.state {
            EbState::Update { live, version } => self.apply_update(live, version, request, deadline, console).await,
            EbState::Rollback { live, target } => self.apply_rollback(live, target, request, deadline, console).await,
            EbState::Canary(finish) => self.apply_canary(finish, request, deadline, console).await,
            EbState::BlueGreen(step) => self.apply_blue_green(step, request, deadline, console).await,
        }
    }
}
