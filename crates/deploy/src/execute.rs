//! The side effects, the same for every target: check, plan (printed), then apply,
//! recorded as a GitHub deployment when asked. Every wait ends by one deadline.

use std::time::Instant;

use slipway_contract::Console;

#[cfg(feature = "github")]
use crate::github::GithubDeployment;
use crate::github::GithubSettings;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Target};

/// The environment variables, as a function (tests pass their own).
pub type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// One run of deploy on whichever target.
pub struct Deployment<'a> {
    pub request: &'a DeployRequest,
    /// Every wait of the run ends by this.
    pub deadline: Instant,
    pub github: Option<&'a GithubSettings>,
    /// The GitHub environment a recorded deployment goes to.
    pub environment_name: &'a str,
    pub env: &'a Env<'a>,
    pub console: &'a Console,
}

impl std::fmt::Debug for Deployment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment").field("request", self.request).finish_non_exhaustive()
    }
}

impl Deployment<'_> {
    /// Checks, plans and (unless a dry run) applies on `target`.
    pub async fn run<T: Target>(&self, target: &T) -> Result<DeployOutcome, DeployError> {
        let (request, console) = (self.request, self.console);
        T::check(request)?;
        // Reads only: the --alarm names must exist before anything changes.
        crate::analysis::check_alarms(request, self.deadline, console).await?;
        console.info(&format!(
            "{} {} to {} with strategy {}{}",
            request.phase.as_str(),
            if request.image.is_empty() { "(what is there)" } else { &request.image },
            T::NAME,
            request.rollout.describe(),
            if request.dry_run { " (dry run)" } else { "" }
        ));
        let plan = target.plan(request, self.deadline, console).await?;
        refuse_rollback_to_live(request, &plan.outcome)?;
        console.info(&plan.render());
        if request.dry_run {
            return Ok(plan.outcome);
        }
        // Without the `github` feature there are no settings: --github-deployment was refused.
        #[cfg(feature = "github")]
        let recorded = match self.github {
            Some(settings) if request.phase != Phase::Reject => {
                Some(GithubDeployment::start(settings, self.environment_name, request, console).await?)
            }
            _ => None,
        };
        let result = target.apply(plan, request, self.deadline, console).await;
        #[cfg(feature = "github")]
        if let Some(deployment) = &recorded {
            let status = match &result {
                Ok(outcome) => Some(outcome.status),
                Err(DeployError::Failed { status, .. }) => Some(*status),
                Err(DeployError::Usage(_)) => None,
            };
            let record = status.and_then(|status| crate::analysis::run_record(T::NAME, request, status, None));
            let brief = record.as_ref().map(crate::analysis::record_brief);
            deployment.finish_judged(&result, brief.as_deref(), console).await;
        }
        result
    }
}

/// A rollback whose target is the version live now would change nothing and report
/// `rolled-back`: refused (exit 2). In a GitLab pipeline the usual cause is an earlier deploy
/// job's dotenv report, which sets SLIPWAY_VERSION_LABEL (`--version-label`) to the version
/// that job deployed.
fn refuse_rollback_to_live(request: &DeployRequest, planned: &DeployOutcome) -> Result<(), DeployError> {
    let live = &planned.previous_version;
    if request.phase != Phase::Rollback || live.is_empty() || planned.version_label != *live {
        return Ok(());
    }
    let why = if request.version_label.is_empty() {
        String::new()
    } else {
        "; --version-label (SLIPWAY_VERSION_LABEL) names it: leave it empty to put back the version before it \
         (in a GitLab pipeline, an earlier deploy job's dotenv report sets SLIPWAY_VERSION_LABEL to the version it deployed)"
            .to_owned()
    };
    Err(DeployError::Usage(format!("--rollback would put back {live}, the version live now, and change nothing{why}")))
}
