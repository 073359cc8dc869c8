//! Blue-green on Elastic Beanstalk: two environments, one holding the production CNAME.
//! Which one is live is found each run (the swap moves the CNAME, so the names take
//! turns): the one whose CNAME is `--cname`, or by default the one whose CNAME starts
//! with `--environment`'s name and not with the green one's. The new version goes to
//! the other (idle) one; `--promote` swaps the CNAMEs; `--reject` terminates the idle one,
//! never the live one. With analysis flags the swap is judged instead of stopping
//! (`switch`): the idle one on its own URL before it, production after it.

use std::time::{Instant, SystemTime};

use slipway_contract::Console;

use super::environment::{EnvState, WaitFailure, aws_error, failed};
use super::switch::EbSwitch;
use super::version::AppVersion;
use super::{EbState, ElasticBeanstalk, version_step};
use crate::analysis::{AnalysisRequest, run_blue_green, timeline_details};
use crate::rollout::Strategy;
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan};

/// The pair as found: the live environment, and the idle one's name and state.
#[derive(Debug, Clone)]
pub struct Pair {
    pub live: EnvState,
    pub idle_name: String,
    pub idle: Option<EnvState>,
}

/// One blue-green run.
#[derive(Debug)]
pub enum Step {
    /// Put the new version on the idle environment (created when missing).
    Deploy { pair: Pair, version: AppVersion },
    /// Swap the CNAMEs: the idle environment takes production.
    Swap { live: EnvState, idle: EnvState },
    /// Terminate the idle environment.
    Drop { live: EnvState, idle: EnvState },
}

/// The prefix of a CNAME (`shop-prod` of `shop-prod.eu-west-1.elasticbeanstalk.com`).
pub(super) fn cname_prefix(cname: &str) -> String {
    cname.split('.').next().unwrap_or_default().to_ascii_lowercase()
}

impl ElasticBeanstalk {
    /// Whether `state` holds the production CNAME.
    fn holds_production(&self, state: &EnvState) -> bool {
        let prefix = cname_prefix(&state.cname);
        match &self.settings.cname {
            Some(production) => prefix == *production,
            None => {
                prefix.starts_with(&self.settings.environment.to_ascii_lowercase())
                    && !prefix.starts_with(&self.settings.green_environment.to_ascii_lowercase())
            }
        }
    }

    /// Finds which of the pair is live.
    async fn pair(&self, deadline: Instant) -> Result<Pair, DeployError> {
        let names = [self.settings.environment.clone(), self.settings.green_environment.clone()];
        let first = self.describe(&names[0], deadline).await?;
        let second = self.describe(&names[1], deadline).await?;
        let holders: Vec<&EnvState> =
            [&first, &second].into_iter().flatten().filter(|s| self.holds_production(s)).collect();
        let live = match (holders.as_slice(), &first, &second) {
            ([live], _, _) => (*live).clone(),
            // A lone environment and no CNAME named: the one there serves.
            ([], Some(only), None) | ([], None, Some(only)) if self.settings.cname.is_none() => only.clone(),
            ([], None, None) => {
                // Lists the application's environments.
                self.require(&names[0], deadline).await?;
                return Err(DeployError::Usage(format!("neither {} nor {} exists", names[0], names[1])));
            }
            _ => {
                let cnames: Vec<String> = [&first, &second]
                    .into_iter()
                    .flatten()
                    .map(|s| format!("{} has {}", s.name, if s.cname.is_empty() { "no CNAME" } else { &s.cname }))
                    .collect();
                return Err(DeployError::Usage(format!(
                    "cannot tell which of {} and {} serves production ({}); name its CNAME with --cname",
                    names[0],
                    names[1],
                    cnames.join(", ")
                )));
            }
        };
        let idle_name = if live.name == names[0] { names[1].clone() } else { names[0].clone() };
        let idle = if idle_name == names[0] { first } else { second };
        Ok(Pair { live, idle_name, idle })
    }

    pub(super) async fn plan_blue_green(
        &self,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<Plan<EbState>, DeployError> {
        let mut pair = self.pair(deadline).await?;
        pair.live = self.require_ready(&pair.live.name.clone(), deadline, console).await?;
        let Pair { live, idle_name, idle } = &pair;
        let mut now = vec![format!("{} serves production at {} with {}", live.name, live.cname, live.version)];
        now.extend(idle.iter().map(|s| format!("{} is idle: {} ({}) on {}", s.name, s.status, s.health, s.version)));
        let plan = |planned: DeployOutcome| {
            let mut plan = Plan::new(planned, ());
            plan.now.clone_from(&now);
            plan
        };
        match request.phase {
            Phase::Deploy => {
                let version = self.find_version(request).await?;
                let label = &request.version_label;
                let at = idle.as_ref().unwrap_or(live);
                let mut planned = Self::planned(at, label, &live.version);
                if idle.is_none() {
                    planned.url = String::new();
                }
                let how = match idle {
                    Some(state) => format!("update {idle_name} ({}) to {label}", state.status),
                    None => {
                        format!("create {idle_name} on {label} from a configuration template copied from {}", live.name)
                    }
                };
                let mut plan = plan(planned).step(version_step(version, request)).step(how).step(format!(
                    "wait until {idle_name} is Ready on {label} and {}; {} keeps serving {}",
                    self.healthy_words(),
                    live.name,
                    live.version
                ));
                if let Some(analysis) = &request.analysis {
                    for step in self.judged_steps(&pair, analysis, request)? {
                        plan = plan.step(step);
                    }
                }
                Ok(plan.with_state(EbState::BlueGreen(Step::Deploy { pair, version })))
            }
            Phase::Promote => {
                let Some(idle) = idle else {
                    return Err(DeployError::Usage(format!("nothing to promote: {idle_name} does not exist")));
                };
                let idle = self.require_ready(&idle.name, deadline, console).await?;
                let mut plan = plan(Self::planned(&idle, &idle.version, &live.version)).step(format!(
                    "swap the CNAMEs of {} and {}: {} ({}) takes production",
                    live.name, idle.name, idle.name, idle.version
                ));
                if self.settings.terminate_old {
                    plan = plan.step(format!("terminate {} ({})", live.name, live.version));
                }
                Ok(plan.with_state(EbState::BlueGreen(Step::Swap { live: pair.live.clone(), idle })))
            }
            Phase::Reject | Phase::Rollback => {
                let Some(idle) = idle.clone() else {
                    return Err(DeployError::Usage(format!("nothing to reject: {idle_name} does not exist")));
                };
                let plan = plan(Self::planned(live, &live.version, &idle.version)).step(format!(
                    "terminate {} ({}); {} keeps serving {}",
                    idle.name, idle.version, live.name, live.version
                ));
                Ok(plan.with_state(EbState::BlueGreen(Step::Drop { live: pair.live.clone(), idle })))
            }
        }
    }

    pub(super) async fn apply_blue_green(
        &self,
        step: Step,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        match step {
            Step::Deploy { pair, version } => self.deploy_idle(pair, version, request, deadline, console).await,
            Step::Swap { live, idle } => self.swap(&live, &idle, deadline, console).await,
            Step::Drop { live, idle } => {
                self.eb
                    .terminate_environment()
                    .environment_name(&idle.name)
                    .send()
                    .await
                    .map_err(|e| failed(aws_error("TerminateEnvironment", &e), Status::Unchanged))?;
                console.info(&format!("terminating {}; {} keeps serving {}", idle.name, live.name, live.version));
                Ok(Self::outcome(&live, &idle.version, Status::Rejected))
            }
        }
    }

    async fn deploy_idle(
        &self,
        pair: Pair,
        version: AppVersion,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let Pair { live, idle_name, idle } = pair;
        let label = &request.version_label;
        self.ensure_version(request, version, deadline, console).await?;
        let since = SystemTime::now();
        match idle {
            Some(state) => {
                console.info(&format!("{idle_name} exists ({}); updating it to {label}", state.status));
                self.require_ready(&idle_name, deadline, console).await?;
                self.update(&idle_name, label, Strategy::Direct).await?;
            }
            None => {
                let template = template_name(&idle_name, label);
                self.eb
                    .create_configuration_template()
                    .application_name(&self.settings.application)
                    .template_name(&template)
                    .environment_id(&live.id)
                    .send()
                    .await
                    .map_err(|e| failed(aws_error("CreateConfigurationTemplate", &e), Status::Unchanged))?;
                self.eb
                    .create_environment()
                    .application_name(&self.settings.application)
                    .environment_name(&idle_name)
                    .template_name(&template)
                    .version_label(label)
                    .send()
                    .await
                    .map_err(|e| failed(aws_error("CreateEnvironment", &e), Status::Unchanged))?;
                console
                    .info(&format!("creating {idle_name} from {template} (a copy of {}'s configuration)", live.name));
            }
        }
        match self.wait_live(&idle_name, label, since, deadline, console).await {
            Ok(state) => match &request.analysis {
                Some(analysis) => self.judge_switch(live, state, analysis, request, deadline, console).await,
                None => Ok(Self::outcome(&state, &live.version, Status::GreenReady)),
            },
            Err(failure) => {
                let reason = match failure {
                    WaitFailure::Failed { message, .. } => message,
                    WaitFailure::RolledBack { state } => format!("{idle_name} is on {}, not {label}", state.version),
                    WaitFailure::Timeout { state } => {
                        format!("{idle_name} was {} ({}) at the deadline", state.status, state.health)
                    }
                };
                // The live one never stopped serving: nothing to restore. The idle one stays for inspection.
                Err(failed(
                    format!(
                        "the idle environment {idle_name} did not become healthy: {reason}; {} still serves {}; run --reject to remove {idle_name}",
                        live.name, live.version
                    ),
                    Status::Failed,
                ))
            }
        }
    }

    /// A judged run's plan after the idle environment is ready: the window before the
    /// swap, the swap and the window after it, the promotion. Refuses (exit 2) a
    /// production without a URL to watch.
    fn judged_steps(
        &self,
        pair: &Pair,
        analysis: &AnalysisRequest,
        request: &DeployRequest,
    ) -> Result<Vec<String>, DeployError> {
        let Pair { live, idle_name, idle } = pair;
        let (label, check) = (&request.version_label, &self.settings.check);
        let bake = humantime::format_duration(request.rollout.bake_or_default());
        let production_url = self.settings.environment_url.clone().unwrap_or_else(|| live.url());
        if production_url.is_empty() {
            return Err(DeployError::Usage(format!(
                "{} has no CNAME to watch after the swap (a worker environment?); give production's URL with --environment-url",
                live.name
            )));
        }
        let idle_url = self
            .settings
            .idle_environment_url
            .clone()
            .or_else(|| idle.as_ref().map(EnvState::url).filter(|url| !url.is_empty()))
            .unwrap_or_else(|| format!("http://<{idle_name}'s CNAME>"));
        let retire = if self.settings.terminate_old {
            format!("; then terminate {} once the CNAME's TTL since the swap has passed", live.name)
        } else {
            format!("; {} stays idle on {} for a swap back", live.name, live.version)
        };
        Ok(vec![
            format!(
                "judge {idle_name} at {idle_url}{check} for {bake} ({}); a crossed gate terminates {idle_name} ({} never stops serving {})",
                analysis.describe(),
                live.name,
                live.version
            ),
            format!(
                "swap the CNAMEs (SwapEnvironmentCNAMEs) and wait until both environments are Ready with {idle_name} holding {}; watch production at {production_url}{check} for {bake} more (resolvers may answer the old target for the CNAME's TTL, about {}); a crossed gate swaps them back and terminates {idle_name} once that TTL has passed",
                live.cname,
                humantime::format_duration(self.settings.cname_ttl)
            ),
            format!(
                "promoted only when {idle_name} holds {}, Ready on {label} and {}{retire}",
                live.cname,
                self.healthy_words()
            ),
        ])
    }

    /// The idle environment, Ready and healthy on the new version, judged before the swap
    /// and after it ([`run_blue_green`]).
    async fn judge_switch(
        &self,
        live: EnvState,
        ready: EnvState,
        analysis: &AnalysisRequest,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let previous = live.version.clone();
        let mut switch = EbSwitch::new(self, request, live, ready.clone());
        let judged = run_blue_green(&mut switch, request, analysis, deadline, console).await?;
        let promoted = switch.promoted.take().unwrap_or(ready);
        let mut outcome = Self::outcome(&promoted, &previous, Status::Promoted);
        outcome.details.extend(timeline_details(&judged.records, 0));
        Ok(outcome)
    }

    async fn swap(
        &self,
        live: &EnvState,
        idle: &EnvState,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        self.eb
            .swap_environment_cnames()
            .source_environment_name(&live.name)
            .destination_environment_name(&idle.name)
            .send()
            .await
            .map_err(|e| failed(aws_error("SwapEnvironmentCNAMEs", &e), Status::Unchanged))?;
        let promoted = self.require_ready(&idle.name, deadline, console).await?;
        let old = self.require_ready(&live.name, deadline, console).await?;
        if !self.holds_production(&promoted) {
            return Err(failed(
                format!(
                    "after the swap {} has {} and {} has {}: the production CNAME is not where it should be",
                    promoted.name, promoted.cname, old.name, old.cname
                ),
                Status::Unknown,
            ));
        }
        console.info(&format!("{} now serves {} at {}", promoted.name, promoted.version, promoted.cname));
        if self.settings.terminate_old {
            self.eb
                .terminate_environment()
                .environment_name(&old.name)
                .send()
                .await
                .map_err(|e| failed(aws_error("TerminateEnvironment", &e), Status::Promoted))?;
            console.info(&format!("terminating the old environment {}", old.name));
        }
        Ok(Self::outcome(&promoted, &old.version, Status::Promoted))
    }
}

/// A configuration template name for the idle environment (letters, digits, `-`; at most 100).
fn template_name(environment: &str, version: &str) -> String {
    let raw = format!("slipway-{environment}-{version}");
    let mut name: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    name.truncate(100);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_are_safe() {
        assert_eq!(template_name("web-green", "v1.2.0-abc"), "slipway-web-green-v1-2-0-abc");
        assert!(template_name("g", &"x".repeat(200)).len() <= 100);
    }

    #[test]
    fn cname_prefixes() {
        assert_eq!(cname_prefix("Shop-Prod.eu-west-1.elasticbeanstalk.com"), "shop-prod");
        assert_eq!(cname_prefix(""), "");
    }
}
