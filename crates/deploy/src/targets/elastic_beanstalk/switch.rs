//! A blue-green CNAME swap judged by analysis ([`TrafficShift`], driven by
//! [`crate::analysis::run_blue_green`]). The new version runs on the idle environment,
//! Ready and healthy, before the loop starts; weight 0 is that environment judged on its
//! own URL, 100 the CNAMEs swapped.
//!
//! - Before the switch: the probes go to the idle environment (`--idle-environment-url`,
//!   default `http://<its CNAME>`), where the new version alone answers and no production
//!   request arrives. A crossed gate terminates it (`aborted`): the live environment was
//!   never touched, and the idle one ends as `--reject` leaves it.
//! - The switch: `SwapEnvironmentCNAMEs`, then the wait (by the run's deadline) until both
//!   environments are Ready and DescribeEnvironments reports the production CNAME on the
//!   new version's environment and the idle CNAME on the old one's.
//! - After the switch: the probes go to production (`--environment-url`, default
//!   `http://<the production CNAME>`), the hostname users resolve. The swap changes DNS
//!   records: a resolver that answered the production name before the swap may keep the old
//!   environment's address for the record's TTL (60s as observed; EB does not document it,
//!   and AWS warns some resolvers keep it longer). So the watch judges what a client
//!   resolving production now reaches: the new version, or for the TTL's first seconds
//!   possibly still the old one, which had passed before. A crossed gate swaps the CNAMEs
//!   back (`rolled-back`); the new version's environment is terminated once the TTL since
//!   the swap back has passed, so that clients still resolving to it are not cut off.
//! - Promote: `promoted` only when the production CNAME is on the new version's
//!   environment, Ready on the new version and healthy; the old environment is kept idle
//!   for a swap back, or with `--terminate-old` terminated once the TTL since the swap has
//!   passed (AWS's advice: not before the old records expire).

use std::time::{Duration, Instant};

use slipway_contract::{Console, interrupt};

use super::blue_green::cname_prefix;
use super::environment::{EnvState, aws_error, failed};
use super::{ElasticBeanstalk, ROLLBACK_BUDGET};
use crate::analysis::{ProbeTarget, TrafficShift, retiring_failed};
use crate::status::Status;
use crate::target::{DeployError, DeployRequest};

/// The least time putting production back gets, whatever is left of the run's deadline.
const LEAST_BUDGET: Duration = Duration::from_secs(30);

/// The pair of one judged blue-green run, as the analysis loop moves traffic between them.
pub(super) struct EbSwitch<'a> {
    eb: &'a ElasticBeanstalk,
    request: &'a DeployRequest,
    /// The environment serving production when the run began, on the old version.
    old: EnvState,
    /// The environment running the new version, Ready and healthy before the loop.
    new: EnvState,
    /// The production CNAME (the old environment's when the run began).
    production_cname: String,
    /// Before the switch: the idle environment as this runner reaches it.
    idle_url: String,
    /// After the switch: production as this runner reaches it.
    production_url: String,
    /// The production CNAME is on the new environment (as far as slipway swapped it).
    switched: bool,
    /// When the CNAMEs were last swapped: resolvers may answer the old target for the TTL.
    swapped_at: Option<Instant>,
    /// The new environment as the promotion found it.
    pub promoted: Option<EnvState>,
}

impl<'a> EbSwitch<'a> {
    pub fn new(eb: &'a ElasticBeanstalk, request: &'a DeployRequest, old: EnvState, new: EnvState) -> Self {
        let idle_url = eb.settings.idle_environment_url.clone().unwrap_or_else(|| new.url());
        let production_url = eb.settings.environment_url.clone().unwrap_or_else(|| old.url());
        Self {
            eb,
            request,
            production_cname: old.cname.clone(),
            old,
            new,
            idle_url,
            production_url,
            switched: false,
            swapped_at: None,
            promoted: None,
        }
    }

    /// Whether `state` holds the production CNAME the run began with.
    fn holds_production(&self, state: &EnvState) -> bool {
        !state.cname.is_empty() && cname_prefix(&state.cname) == cname_prefix(&self.production_cname)
    }

    /// Swaps the CNAMEs so that production lands on the new environment (`to_new`) or back
    /// on the old one, then waits until both are Ready and EB reports the CNAMEs swapped.
    /// `interruptible`: an interruption ends the wait (a cleanup's wait runs on).
    async fn swap(
        &mut self,
        to_new: bool,
        interruptible: bool,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), String> {
        let (taking, giving) =
            if to_new { (self.new.clone(), self.old.clone()) } else { (self.old.clone(), self.new.clone()) };
        self.eb
            .eb
            .swap_environment_cnames()
            .source_environment_name(&giving.name)
            .destination_environment_name(&taking.name)
            .send()
            .await
            .map_err(|e| aws_error("SwapEnvironmentCNAMEs", &e))?;
        // Asked for and accepted: an abort now has production to give back.
        self.switched = to_new;
        self.swapped_at = Some(Instant::now());
        console.info(&format!(
            "swapping the CNAMEs of {} and {}: {} ({}) takes production ({})",
            giving.name, taking.name, taking.name, taking.version, self.production_cname
        ));
        let mut said = String::new();
        loop {
            let (holder, other) =
                (self.eb.look(&taking.name, deadline).await?, self.eb.look(&giving.name, deadline).await?);
            if holder.is_ready() && other.is_ready() && self.holds_production(&holder) && !self.holds_production(&other)
            {
                console.info(&format!("{} serves production at {} with {}", holder.name, holder.cname, holder.version));
                return Ok(());
            }
            let now = format!(
                "{} is {} at {}; {} is {} at {}",
                holder.name, holder.status, holder.cname, other.name, other.status, other.cname
            );
            if now != said {
                console.info(&now);
                said.clone_from(&now);
            }
            if holder.is_gone() || other.is_gone() {
                return Err(format!("an environment went away during the swap: {now}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("the swap was not reported done by the deadline: {now}"));
            }
            let pause = self.eb.settings.poll_interval.min(left);
            if interruptible {
                interrupt::sleep(pause).await.map_err(|signal| format!("deploy was {signal} during the swap"))?;
            } else {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Waits out what is left of the CNAME's TTL since the last swap (by `deadline`; an
    /// interruption ends it), so that no client still resolving to `name` is cut off.
    async fn wait_for_ttl(&self, name: &str, deadline: Instant, console: &Console) {
        let Some(swapped_at) = self.swapped_at else { return };
        let left = self.eb.settings.cname_ttl.saturating_sub(swapped_at.elapsed());
        let left = left.min(deadline.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return;
        }
        console.info(&format!(
            "waiting {} before terminating {name}: resolvers may answer the CNAME's old target for its TTL",
            humantime::format_duration(Duration::from_secs(left.as_secs().max(1)))
        ));
        let _ = interrupt::sleep(left).await;
    }

    async fn terminate(&self, name: &str) -> Result<(), String> {
        self.eb
            .eb
            .terminate_environment()
            .environment_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("TerminateEnvironment", &e))
    }

    /// The new environment once EB is done with it (Ready), or as it stands at `deadline`.
    async fn settled(&self, deadline: Instant) -> Result<EnvState, String> {
        loop {
            let state = self.eb.look(&self.new.name, deadline).await?;
            if state.is_ready() || state.is_gone() || Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(self.eb.settings.poll_interval.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }
}

impl TrafficShift for EbSwitch<'_> {
    fn probe_target(&self) -> ProbeTarget {
        let url = if self.switched { self.production_url.clone() } else { self.idle_url.clone() };
        ProbeTarget { url, check: self.eb.settings.check.clone(), headers: Vec::new(), tls: None }
    }

    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String> {
        match percent {
            // Before the switch: the new version already runs alone on the idle environment.
            0 => Ok(()),
            100 if self.switched => Ok(()),
            100 => self.swap(true, true, deadline, console).await,
            other => Err(format!("a CNAME swap moves all traffic at once, not {other}%")),
        }
    }

    async fn abort(&mut self, _deadline: Instant, console: &Console) -> Result<(), String> {
        // Putting production back gets its own time: the run's deadline may be what ended it.
        let deadline = Instant::now() + ROLLBACK_BUDGET.min(self.request.timeout).max(LEAST_BUDGET);
        // Where production is as EB reports it: a swap may have been accepted and then not
        // seen through.
        let on_new = match self.eb.look(&self.new.name, deadline).await {
            Ok(state) => self.holds_production(&state),
            Err(_) => self.switched,
        };
        if on_new {
            console.info(&format!(
                "swapping the CNAMEs back: {} ({}) takes production again",
                self.old.name, self.old.version
            ));
            self.swap(false, false, deadline, console).await?;
            self.wait_for_ttl(&self.new.name, deadline, console).await;
        }
        self.terminate(&self.new.name).await.map_err(|error| {
            format!(
                "{} ({}) serves production, but {} ({}) was not terminated: {error}",
                self.old.name, self.old.version, self.new.name, self.new.version
            )
        })?;
        console.info(&format!(
            "terminating {} ({}); {} serves {} at {}",
            self.new.name, self.new.version, self.old.name, self.old.version, self.production_cname
        ));
        Ok(())
    }

    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let deadline = deadline.max(Instant::now() + LEAST_BUDGET);
        let label = self.request.version_label.clone();
        let state = self.settled(deadline).await.map_err(|error| {
            failed(format!("every window passed, but {} could not be read: {error}", self.new.name), Status::Unknown)
        })?;
        let holds = self.holds_production(&state);
        if !(holds && state.is_ready() && state.version == label && self.eb.healthy(&state.health)) {
            let why = format!(
                "every window passed, but {} is {} with health {} on {} at {}",
                state.name, state.status, state.health, state.version, state.cname
            );
            if !holds {
                return Err(failed(
                    format!("{why}: the production CNAME {} is not on it", self.production_cname),
                    Status::Unknown,
                ));
            }
            return Err(match self.abort(deadline, console).await {
                Ok(()) => failed(
                    format!("{why}; {} ({}) serves production again", self.old.name, self.old.version),
                    Status::RolledBack,
                ),
                Err(error) => failed(format!("{why}; swapping back failed: {error}"), Status::Unknown),
            });
        }
        console.info(&format!("{} serves {label} at {}, Ready and {}", state.name, state.cname, state.health));
        self.promoted = Some(state);
        if !self.eb.settings.terminate_old {
            console.info(&format!(
                "{} ({}) stays idle for a swap back (--terminate-old terminates it)",
                self.old.name, self.old.version
            ));
            return Ok(());
        }
        let old = self.old.name.clone();
        self.wait_for_ttl(&old, deadline, console).await;
        self.terminate(&old).await.map_err(retiring_failed)?;
        console.info(&format!("terminating the old environment {old}"));
        Ok(())
    }
}
