//! A canary or a blue-green switch behind the proxy judged by analysis: [`TrafficShift`]
//! over the app's Caddy routes. Each step is one configuration load of the weighted
//! route, with a probe route (a header only this run knows) that sends the analysis's
//! requests to the new version alone, so its gates judge it, not the mix. Blue-green is
//! the same walk with two weights: 0 (the green previewed, judged before the switch) and
//! 100 (the switch, watched). An abort routes the app to the old container again and
//! removes the new one; a promotion retires the old container as `--promote` does.

use std::time::Instant;

use bollard::Docker;
use slipway_contract::Console;

use super::super::caddy::{CaddyConfig, PROBE_HEADER};
use super::super::engine::remove_force;
use super::super::proxy;
use super::{AppContainer, DockerHost, Incoming, Roles};
use crate::analysis::{ProbeTarget, TrafficShift, retiring_failed, run_blue_green, run_canary, timeline_details};
use crate::rollout::Strategy;
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest};

/// The canary of one run, as the step loop moves it.
struct ProxiedCanary<'a> {
    host: &'a DockerHost,
    docker: &'a Docker,
    config: &'a mut CaddyConfig,
    live: &'a AppContainer,
    /// The stopped container kept for a rollback, removed when the canary is promoted.
    older: Option<&'a AppContainer>,
    live_dial: String,
    canary_dial: String,
    canary_id: String,
    /// The probe route's header value.
    token: String,
    /// How the analysis trusts the proxy's HTTPS, when it serves it.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    port: u16,
    /// The canary's share now.
    percent: u8,
}

impl ProxiedCanary<'_> {
    async fn load(&mut self, next: CaddyConfig, deadline: Instant) -> Result<(), String> {
        proxy::load(self.docker, &self.host.proxy.name, &next, deadline).await?;
        *self.config = next;
        Ok(())
    }
}

impl TrafficShift for ProxiedCanary<'_> {
    fn probe_target(&self) -> ProbeTarget {
        let mut headers = vec![format!("{PROBE_HEADER}:{}", self.token)];
        if !self.host.host.is_empty() {
            // The probe route answers the app's host only.
            headers.push(format!("Host:{}", self.host.host));
        }
        ProbeTarget { url: self.host.url(self.port), check: self.host.check.clone(), headers, tls: self.tls.clone() }
    }

    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String> {
        if percent == self.percent {
            return Ok(());
        }
        let app = &self.host.names.live;
        let mut next = self.config.clone();
        if percent >= 100 {
            next.set_app_route(app, &self.host.host, &self.canary_dial)?;
        } else {
            next.set_canary_route(app, &self.host.host, &self.live_dial, &self.canary_dial, percent)?;
        }
        next.set_probe_route(app, &self.host.host, &self.token, &self.canary_dial)?;
        self.load(next, deadline).await?;
        self.percent = percent;
        console.info(&format!("the new version {} takes {percent}% of {app}'s traffic", self.canary_dial));
        Ok(())
    }

    async fn abort(&mut self, deadline: Instant, console: &Console) -> Result<(), String> {
        let app = &self.host.names.live;
        let mut next = self.config.clone();
        next.set_app_route(app, &self.host.host, &self.live_dial)?;
        next.remove_probe_route(app)?;
        next.remove_preview_route(app);
        console.info(&format!("routing all of {app} to {} again", self.live.words()));
        self.load(next, deadline).await?;
        self.percent = 0;
        if let Err(error) = remove_force(self.docker, &self.canary_id).await {
            console.warning(&format!("cannot remove the canary {}: {error}", self.canary_dial));
        }
        Ok(())
    }

    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let app = &self.host.names.live;
        let mut next = self.config.clone();
        next.set_app_route(app, &self.host.host, &self.canary_dial).map_err(retiring_failed)?;
        next.remove_probe_route(app).map_err(retiring_failed)?;
        next.remove_preview_route(app);
        console.info(&format!("promoting the canary {}: it keeps all of {app}'s traffic", self.canary_dial));
        self.load(next, deadline).await.map_err(retiring_failed)?;
        self.percent = 100;
        self.host.retire(self.docker, Some(self.live), self.older, console).await;
        Ok(())
    }
}

impl DockerHost {
    /// Walks the canary's steps, or the blue-green switch, judged by the request's
    /// analysis (the canary already takes the first step's share, the green is previewed;
    /// either with the probe route of `token`, over HTTPS trusted by `tls` when the proxy
    /// serves it); promoted when every gate held.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn judge(
        &self,
        docker: &Docker,
        config: &mut CaddyConfig,
        roles: &Roles,
        incoming: &Incoming,
        (token, tls): (String, Option<std::sync::Arc<rustls::ClientConfig>>),
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let (Some(analysis), Some(live)) = (&request.analysis, roles.live.as_ref()) else {
            return Err(DeployError::failed("a judged rollout needs analysis and a live version", Status::Unknown));
        };
        let steps = request.rollout.steps_or_default();
        let blue_green = request.strategy() == Strategy::BlueGreen;
        let mut shift = ProxiedCanary {
            host: self,
            docker,
            config,
            live,
            older: roles.previous.as_ref(),
            live_dial: roles.live_dial.clone().unwrap_or_else(|| Self::dial(&live.name, request.port)),
            canary_dial: Self::dial(&incoming.name, request.port),
            canary_id: incoming.id.clone(),
            token,
            tls,
            port: request.port,
            // The green serves nothing until the switch.
            percent: if blue_green { 0 } else { steps.first().copied().unwrap_or(10) },
        };
        let judged = if blue_green {
            run_blue_green(&mut shift, request, analysis, deadline, console).await?
        } else {
            run_canary(&mut shift, request, analysis, deadline, console).await?
        };
        let mut outcome = self.outcome(
            request.port,
            request.version_label.clone(),
            live.version.clone(),
            incoming.id.clone(),
            Status::Promoted,
            "started",
        );
        outcome.details = timeline_details(&judged.records, steps.len());
        Ok(outcome)
    }
}
