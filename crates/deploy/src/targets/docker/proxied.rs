//! `--strategy rolling`, `blue-green` and `canary` on a Docker host: no outage. A Caddy proxy ([`super::proxy`])
//! holds the published address; app containers run behind it on its network,
//! publishing nothing, each named `<name>-<8 hex>`.
//!
//! A deployment starts the new container beside the live one, waits until it answers
//! `--check` through a probe route of the proxy (a header only this run knows sends
//! requests to it alone), then switches the app's route to it in one configuration
//! load: requests in flight finish on the old container (Caddy drains the old
//! configuration for up to `--drain-timeout`), new ones go to the new. The old
//! container is then stopped and kept as the previous version for `--rollback`, which
//! brings it back the same way. A new container that never answers is removed and the
//! route never pointed at it: the live version serves throughout.
//!
//! Blue-green stops once the new container answers: a preview route on its own port
//! (`--preview-port`) sends requests to it alone, for verify to judge; `--promote` routes
//! the app to it, `--reject` removes it. Canary splits the app's route by weight, step
//! by step (`--steps`, `--bake` between them), and stops at the last step; `--promote`
//! gives the new container all traffic, `--reject` gives it back to the old one.
//!
//! What the proxy routes (its last loaded configuration) says which container is
//! live (the app route's first upstream) and which is a candidate (its second, or the
//! preview route's); the stopped app container that stopped last is the previous one. Anything
//! else an interrupted run left (a started container the route does not use, older
//! stopped ones, a probe route) is cleaned up by the next run, under the app's lock.

mod gated;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptions};
use slipway_contract::{Console, interrupt};
use slipway_registry::ImageReference;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::caddy::{AcmeIssuer, CaddyConfig, PROBE_HEADER, TlsFiles};
use super::engine::{
    LABEL_IMAGE, LABEL_MANAGED, LABEL_VERSION, describe, find, pull, remove_force, set_restart_policy, stop, tail_logs,
    version_of,
};
use super::lock::AppLock;
use super::proxy;
use super::{DockerHost, Pull};
use crate::rollout::Strategy;
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan};

/// Marks an app container with the app's `--name`.
pub const LABEL_APP: &str = "dev.slipway.app";

/// How often a starting container is inspected and probed: every poll of a JVM that is
/// already up is time the run waits for nothing.
const POLL: Duration = Duration::from_millis(100);
/// How long a new container must keep answering before traffic moves to it: long enough
/// for a few probes in a row (a process that answers once and dies shows it), short
/// because verify and `--bake` judge the version after the switch.
const SETTLE: Duration = Duration::from_millis(250);
/// The longest deploy waits for a new container to answer (within the deadline).
const READINESS_WINDOW: Duration = Duration::from_secs(5 * 60);

/// An app container as the plan found it.
#[derive(Debug, Clone)]
pub struct AppContainer {
    pub id: String,
    pub name: String,
    pub version: String,
    pub running: bool,
    /// When it last stopped (RFC 3339); the previous version is the one that stopped last.
    pub finished_at: String,
}

impl AppContainer {
    fn from_inspect(container: &ContainerInspectResponse) -> Self {
        let state = container.state.clone().unwrap_or_default();
        Self {
            id: container.id.clone().unwrap_or_default(),
            name: container.name.clone().unwrap_or_default().trim_start_matches('/').to_owned(),
            version: version_of(container),
            running: state.running == Some(true),
            finished_at: state.finished_at.unwrap_or_default(),
        }
    }

    fn words(&self) -> String {
        format!("{} ({})", self.name, self.version)
    }
}

/// A new version waiting for `--promote` or `--reject`.
#[derive(Debug, Clone)]
pub struct Candidate {
    container: AppContainer,
    /// A canary's share of traffic; `None` for a blue-green preview.
    canary_percent: Option<u32>,
}

impl Candidate {
    fn words(&self) -> String {
        match self.canary_percent {
            Some(percent) => format!("a canary of {} at {percent}%", self.container.words()),
            None => format!("a blue-green preview of {}", self.container.words()),
        }
    }
}

/// The app's containers by role.
#[derive(Debug, Default)]
struct Roles {
    live: Option<AppContainer>,
    /// Where the proxy sends the live container's traffic (`name:port`): its port may
    /// differ from this run's `--port`.
    live_dial: Option<String>,
    candidate: Option<Candidate>,
    previous: Option<AppContainer>,
    /// Left by interrupted runs: started but not routed, or older stopped ones.
    strays: Vec<AppContainer>,
}

/// What the plan read of the proxy and the app's containers.
#[derive(Debug)]
pub struct ProxiedState {
    proxy: Option<ContainerInspectResponse>,
    config: Option<CaddyConfig>,
    roles: Roles,
    action: ProxiedAction,
}

#[derive(Debug)]
enum ProxiedAction {
    Deploy(Box<Pull>, Strategy),
    Promote(Candidate),
    Reject(Candidate),
    Rollback(AppContainer),
}

/// The container that is to take the app's traffic.
struct Incoming {
    id: String,
    name: String,
    /// Removed when it fails (a new one), or stopped again (the previous one).
    remove_on_failure: bool,
    described_as: String,
}

/// HTTPS in this run: the certificate it gives the proxy (if any) and how its probe
/// trusts the proxy's (the one certificate the proxy serves the app with, or the
/// roots of the ACME CA that issues it).
#[derive(Default)]
struct RunTls {
    change: Option<TlsChange>,
    probe: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// The certificate a run gives the app.
enum TlsChange {
    /// From files in the proxy, with the name answered without SNI and whether the app
    /// answers every host (which sets that name).
    Files(TlsFiles, String, bool),
    /// From an ACME CA.
    Acme(AcmeIssuer),
}

/// What a probe through the proxy carries: the header value only this run knows, and
/// the TLS client when the proxy serves HTTPS.
#[derive(Clone, Copy)]
struct Probe<'a> {
    token: &'a str,
    tls: Option<&'a std::sync::Arc<rustls::ClientConfig>>,
}

impl RunTls {
    /// `config` serving the run's certificate, when it brings one.
    fn apply(&self, app: &str, config: &mut CaddyConfig) -> Result<(), String> {
        match &self.change {
            Some(TlsChange::Files(files, default_name, every_host)) => {
                config.set_tls(app, files, default_name, *every_host)
            }
            Some(TlsChange::Acme(issuer)) => config.set_acme(app, issuer),
            None => Ok(()),
        }
    }
}

impl DockerHost {
    /// The container names the route dials: `name:port`.
    fn dial(name: &str, port: u16) -> String {
        format!("{name}:{port}")
    }

    fn proxy_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .publish
            .iter()
            .filter(|m| m.protocol == "tcp" && Some(m.host_port) != self.preview_port)
            .map(|m| m.container_port)
            .collect();
        ports.dedup();
        ports
    }

    /// What the proxy publishes: `--publish`, and the preview port beside the main one.
    fn proxy_publish(&self) -> Vec<super::PortMapping> {
        let mut publish = self.publish.clone();
        if let Some(port) = self.preview_port
            && !publish.iter().any(|m| m.host_port == port)
        {
            let host_ip = self.main_mapping(0).and_then(|m| m.host_ip);
            publish.push(super::PortMapping { host_ip, host_port: port, container_port: port, protocol: "tcp" });
        }
        publish
    }

    /// Where the preview answers: the main address on the preview port.
    fn preview_url(&self, port: u16) -> String {
        let Some(preview) = self.preview_port else { return String::new() };
        let url = self.url(port);
        match url.rsplit_once(':') {
            Some((head, _)) => format!("{head}:{preview}"),
            None => url,
        }
    }

    /// Reads the proxy, its routes and the app's containers, changing nothing.
    async fn read_proxied(
        &self,
        docker: &Docker,
    ) -> Result<(Option<ContainerInspectResponse>, Option<CaddyConfig>, Vec<AppContainer>), DeployError> {
        let unchanged = |message: String| DeployError::failed(message, Status::Unchanged);
        let name = &self.names.live;
        let proxy_name = &self.proxy.name;
        let direct = find(docker, name).await?;
        if direct.is_some_and(|c| !c.config.and_then(|c| c.labels).is_some_and(|l| l.contains_key(LABEL_APP))) {
            return Err(DeployError::Usage(format!(
                "a container {name} runs outside the proxy (--strategy direct publishes its ports itself); remove it (docker rm -f {name}) for the proxy to take its address, or keep deploying it with --strategy direct"
            )));
        }
        let proxy = find(docker, proxy_name).await?;
        let config = match &proxy {
            None => None,
            Some(container) => {
                if !proxy::is_proxy(container) {
                    return Err(DeployError::Usage(format!(
                        "the container {proxy_name} is not a slipway proxy; name the proxy with --proxy-name"
                    )));
                }
                let mut theirs = proxy::published(container);
                let mut ours: Vec<_> = self.proxy_publish();
                theirs.sort_by_key(ToString::to_string);
                ours.sort_by_key(ToString::to_string);
                if let Some(preview) = self.preview_port
                    && !theirs.iter().any(|m| m.host_port == preview)
                {
                    return Err(DeployError::Usage(format!(
                        "the proxy {proxy_name} was created without the preview port {preview} (--preview-port); re-create it with it (docker rm -f {proxy_name}, an outage) or preview on a port it publishes"
                    )));
                }
                if self.publish_given && !ours.iter().all(|mapping| theirs.contains(mapping)) {
                    let words =
                        |m: &[super::PortMapping]| m.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                    return Err(DeployError::Usage(format!(
                        "the proxy {proxy_name} publishes {}, not {} (--publish): changing its ports means re-creating it, an outage; remove it (docker rm -f {proxy_name}) to do that",
                        words(&theirs),
                        words(&ours)
                    )));
                }
                proxy::read_config(docker, proxy_name).await.map_err(unchanged)?
            }
        };
        if let Some(config) = &config {
            let brings_tls = self.tls.is_some() || self.acme.is_some();
            if brings_tls && !config.serves_tls() && config.routes_other_apps(name) {
                return Err(DeployError::Usage(format!(
                    "the proxy {proxy_name} serves other apps over plain HTTP: HTTPS for {name} would move them too; give {name} its own proxy (--proxy-name) for --tls-cert"
                )));
            }
            let has_tls = config.tls_files(name).is_some() || config.serves_acme_for(&self.host);
            if !brings_tls && config.serves_tls() && !has_tls {
                return Err(DeployError::Usage(format!(
                    "the proxy {proxy_name} serves HTTPS: give {name} its certificate with --tls-cert and --tls-key, or --acme"
                )));
            }
        }
        if let Some(config) = &config
            && let Some(other) = config.host_taken_by(name, &self.host)
        {
            let host = if self.host.is_empty() { "every host".to_owned() } else { self.host.clone() };
            return Err(DeployError::Usage(format!(
                "the proxy {proxy_name} already routes {host} to the app {other}; give each app its own --host"
            )));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), vec![format!("{LABEL_APP}={name}")])])),
            ..ListContainersOptions::default()
        };
        let listed = docker.list_containers(Some(options)).await.map_err(|e| {
            DeployError::failed(format!("cannot list the containers of {name}: {}", describe(&e)), Status::Unchanged)
        })?;
        let mut containers = Vec::new();
        for summary in listed {
            let Some(id) = summary.id else { continue };
            if let Some(container) = find(docker, &id).await? {
                containers.push(AppContainer::from_inspect(&container));
            }
        }
        Ok((proxy, config, containers))
    }

    /// Sorts the app's containers by what the proxy routes to them. A container is known
    /// by its name in a route, whatever port the route dials: a run with another `--port`
    /// must still see the live container as live (not as a stray to remove).
    fn sort_containers(&self, config: Option<&CaddyConfig>, containers: Vec<AppContainer>) -> Roles {
        let app = &self.names.live;
        let named = |dial: &str| dial.rsplit_once(':').map_or(dial, |(name, _)| name).to_owned();
        let route = config.and_then(|c| c.app_route(app));
        let live_dial = route.as_ref().and_then(|r| r.dial.first().cloned());
        let live_name = live_dial.as_deref().map(named);
        let canary = route.as_ref().and_then(|r| Some((named(r.dial.get(1)?), r.weights.get(1).copied().unwrap_or(0))));
        let preview = config.and_then(|c| c.preview_dial(app)).map(|dial| named(&dial));
        let mut roles = Roles { live_dial: live_dial.clone(), ..Roles::default() };
        let mut stopped = Vec::new();
        for container in containers {
            let name = Some(container.name.clone());
            if name == live_name {
                roles.live = Some(container);
            } else if container.running && canary.as_ref().map(|(n, _)| n.clone()) == name {
                let percent = canary.as_ref().map(|(_, weight)| *weight);
                roles.candidate = Some(Candidate { container, canary_percent: percent });
            } else if container.running && preview.is_some() && preview == name {
                roles.candidate = Some(Candidate { container, canary_percent: None });
            } else if container.running {
                roles.strays.push(container);
            } else {
                stopped.push(container);
            }
        }
        stopped.sort_by(|a, b| b.finished_at.cmp(&a.finished_at));
        let mut stopped = stopped.into_iter();
        roles.previous = stopped.next();
        roles.strays.extend(stopped);
        roles
    }

    pub(super) async fn plan_proxied(
        &self,
        docker: &Docker,
        request: &DeployRequest,
        pull_from: Option<Box<Pull>>,
    ) -> Result<(Plan<ProxiedState>, Self), DeployError> {
        let (proxy, config, containers) = self.read_proxied(docker).await?;
        // Without --publish, the proxy's own ports are the app's address.
        let target = match (&proxy, self.publish_given) {
            (Some(container), false) if !proxy::published(container).is_empty() => {
                Self { publish: proxy::published(container), ..self.clone() }
            }
            _ => self.clone(),
        };
        let mut target = target;
        target.https =
            self.tls.is_some() || self.acme.is_some() || config.as_ref().is_some_and(CaddyConfig::serves_tls);
        if self.acme.is_some() && !target.proxy_ports().iter().any(|port| matches!(port, 80 | 443)) {
            return Err(DeployError::Usage(format!(
                "--acme: the proxy publishes no container port 443 (TLS-ALPN challenge) or 80 (HTTP challenge), so the CA cannot reach it; publish --publish 443:443 (and 80:80) where {}'s DNS points",
                self.host
            )));
        }
        let roles = self.sort_containers(config.as_ref(), containers);
        let app = &self.names.live;
        if let Some(holder) = AppLock::holder_of(docker, app).await? {
            return Err(DeployError::failed(
                format!("another deployment of {app} is running ({} holds its lock); nothing was changed", holder.by),
                Status::Busy,
            ));
        }
        let action = self.decide(request, &roles, pull_from)?;
        let live_version = roles.live.as_ref().map(|c| c.version.clone()).unwrap_or_default();
        let (version, previous_version, id, url) = match &action {
            ProxiedAction::Deploy(_, Strategy::BlueGreen) => {
                (request.version_label.clone(), live_version.clone(), String::new(), target.preview_url(request.port))
            }
            ProxiedAction::Deploy(..) => {
                (request.version_label.clone(), live_version.clone(), String::new(), target.url(request.port))
            }
            ProxiedAction::Promote(candidate) => (
                candidate.container.version.clone(),
                live_version.clone(),
                candidate.container.id.clone(),
                target.url(request.port),
            ),
            ProxiedAction::Reject(candidate) => (
                live_version.clone(),
                candidate.container.version.clone(),
                roles.live.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
                target.url(request.port),
            ),
            ProxiedAction::Rollback(previous) => {
                (previous.version.clone(), live_version.clone(), previous.id.clone(), target.url(request.port))
            }
        };
        let mut outcome = target.outcome(request.port, version, previous_version, id, Status::Planned, "unknown");
        outcome.url = url;
        let mut plan = Plan::new(outcome, ());
        plan = plan.now(match (&proxy, &roles.live) {
            (None, _) => {
                format!("no proxy {} yet: it is created, publishing {}", self.proxy.name, target.publish_words())
            }
            (Some(_), Some(live)) => format!("the proxy {} routes {app} to {}", self.proxy.name, live.words()),
            (Some(_), None) => format!("the proxy {} routes nothing to {app} yet", self.proxy.name),
        });
        if let Some(candidate) = &roles.candidate {
            plan = plan.now(format!("{} is in progress", candidate.words()));
        }
        if let Some(previous) = &roles.previous {
            plan = plan.now(format!("{} is kept stopped for a rollback", previous.words()));
        }
        for stray in &roles.strays {
            plan = plan.step(format!("remove {} left by an earlier run", stray.words()));
        }
        if let Some(certificate) = &self.tls {
            plan = plan.step(format!(
                "serve HTTPS with the certificate for {} (until {}), with the switch",
                certificate.names.join(", "),
                certificate.not_after
            ));
        }
        if let Some(acme) = &self.acme {
            plan = plan.step(format!(
                "serve HTTPS for {} with a certificate from {} (Caddy gets and renews it), with the switch",
                self.host,
                acme.ca.as_deref().unwrap_or("Let's Encrypt")
            ));
        }
        plan.steps.extend(target.action_steps(request, &action, proxy.is_none(), &roles));
        let state = ProxiedState { proxy, config, roles, action };
        Ok((plan.with_state(state), target))
    }

    /// What the run will do, from the phase, the strategy and what is in progress.
    fn decide(
        &self,
        request: &DeployRequest,
        roles: &Roles,
        pull_from: Option<Box<Pull>>,
    ) -> Result<ProxiedAction, DeployError> {
        let app = &self.names.live;
        let busy = |candidate: &Candidate| {
            DeployError::Usage(format!(
                "{} of {app} is in progress: finish it with --promote or --reject first",
                candidate.words()
            ))
        };
        match (request.phase, &roles.candidate) {
            (Phase::Deploy | Phase::Rollback, Some(candidate)) => Err(busy(candidate)),
            (Phase::Promote, Some(candidate)) => Ok(ProxiedAction::Promote(candidate.clone())),
            (Phase::Reject, Some(candidate)) => Ok(ProxiedAction::Reject(candidate.clone())),
            (Phase::Promote | Phase::Reject, None) => Err(DeployError::Usage(format!(
                "nothing to {}: no canary or blue-green preview of {app} is in progress",
                request.phase.as_str()
            ))),
            (Phase::Rollback, None) => match &roles.previous {
                Some(previous) => Ok(ProxiedAction::Rollback(previous.clone())),
                None => Err(DeployError::Usage(format!(
                    "nothing to roll back to: {app} has no stopped container of an earlier version behind the proxy {}",
                    self.proxy.name
                ))),
            },
            (Phase::Deploy, None) => {
                let pull = pull_from.ok_or_else(|| DeployError::Usage("--image is required to deploy".into()))?;
                Ok(ProxiedAction::Deploy(pull, request.strategy()))
            }
        }
    }

    /// The plan's steps for the action.
    fn action_steps(
        &self,
        request: &DeployRequest,
        action: &ProxiedAction,
        new_proxy: bool,
        roles: &Roles,
    ) -> Vec<String> {
        let app = &self.names.live;
        let check = format!("answers {} through the proxy", self.check);
        let drain = |live: &AppContainer| {
            format!(
                "let requests in flight on {} finish (up to {}s), then stop it and keep it for a rollback",
                live.words(),
                self.drain.as_secs()
            )
        };
        let mut steps = Vec::new();
        match action {
            ProxiedAction::Deploy(pull, strategy) => {
                steps.push(format!("pull {}", pull.image));
                if new_proxy {
                    steps.push(format!(
                        "create the network {} and the proxy {} ({}) publishing {}",
                        self.proxy.network,
                        self.proxy.name,
                        self.proxy.image,
                        self.proxy_publish().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    ));
                }
                steps.push(format!(
                    "start {app}-<id> ({}) on {}, publishing nothing, and wait until it {check}",
                    request.version_label, self.proxy.network
                ));
                match (strategy, &roles.live) {
                    (Strategy::BlueGreen, Some(_)) => match &request.analysis {
                        Some(analysis) => {
                            let bake = slipway_verify::humanize(request.rollout.bake_or_default());
                            steps.push(format!(
                                "preview it at {} and judge it alone for {bake} by analysis ({}), the live version keeping all traffic; on a crossed gate remove it",
                                self.preview_url(request.port),
                                analysis.describe()
                            ));
                            steps.push(format!(
                                "switch all of {app} to it and watch it for {bake} more; on a crossed gate switch back and remove it, else retire the old version"
                            ));
                        }
                        None => steps.push(format!(
                            "preview it at {} (the live version keeps all traffic); finish with --promote or --reject",
                            self.preview_url(request.port)
                        )),
                    },
                    (Strategy::Canary, Some(_)) => {
                        let bake = request.rollout.bake_or_default();
                        let shares: Vec<String> =
                            request.rollout.steps_or_default().iter().map(|s| format!("{s}%")).collect();
                        match &request.analysis {
                            Some(analysis) => steps.push(format!(
                                "send it {} of {app}'s traffic, each step judged for {}s by analysis of it alone ({}); on a crossed gate give all traffic back and remove it, else promote it{}",
                                shares.join(", then "),
                                bake.as_secs(),
                                analysis.describe(),
                                if request.rollout.bake.is_some() { " after watching it at 100%" } else { "" }
                            )),
                            None => steps.push(format!(
                                "send it {} of {app}'s traffic{}; finish with --promote or --reject",
                                shares.join(", then "),
                                if shares.len() > 1 { format!(", {}s apart", bake.as_secs()) } else { String::new() }
                            )),
                        }
                    }
                    (_, live) => {
                        steps.push(format!("route {app} to it"));
                        if let Some(live) = live {
                            steps.push(drain(live));
                        }
                        if let Some(previous) = &roles.previous {
                            steps.push(format!("remove the older {}", previous.words()));
                        }
                    }
                }
            }
            ProxiedAction::Promote(candidate) => {
                steps.push(format!("route all of {app} to {}", candidate.container.words()));
                if let Some(live) = &roles.live {
                    steps.push(drain(live));
                }
                if let Some(previous) = &roles.previous {
                    steps.push(format!("remove the older {}", previous.words()));
                }
            }
            ProxiedAction::Reject(candidate) => {
                steps.push(match &roles.live {
                    Some(live) => format!("route all of {app} to {} again", live.words()),
                    None => format!("take {app}'s preview route away"),
                });
                steps.push(format!("remove {}", candidate.container.words()));
            }
            ProxiedAction::Rollback(previous) => {
                steps.push(format!("start {} again and wait until it {check}", previous.words()));
                steps.push(format!("route {app} to it"));
                if let Some(live) = &roles.live {
                    steps.push(drain(live));
                }
            }
        }
        steps.push(format!("answer at {}", self.url(request.port)));
        steps
    }

    pub(super) async fn apply_proxied(
        &self,
        docker: &Docker,
        state: ProxiedState,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        // The lock is made from an image the engine has: the app's (pulled first, which
        // changes nothing) or one of the app's containers'.
        let lock_image = match &state.action {
            ProxiedAction::Deploy(pull, _) => {
                pull_image(docker, pull, deadline, console).await?;
                request.image.clone()
            }
            ProxiedAction::Rollback(container) => container.id_image(docker).await?,
            ProxiedAction::Promote(candidate) | ProxiedAction::Reject(candidate) => {
                candidate.container.id_image(docker).await?
            }
        };
        let hold = deadline.saturating_duration_since(Instant::now());
        let lock = AppLock::acquire(docker, &self.names.live, &lock_image, hold, console).await?;
        let result = self.apply_locked(docker, state, request, deadline, console).await;
        lock.release(docker, console).await;
        let mut outcome = result?;
        let proxy_details = self.proxy_details(docker).await;
        outcome.details.splice(0..0, proxy_details);
        Ok(outcome)
    }

    /// The summary's lines on the proxy: its Caddy version and what its saved
    /// configuration (what it serves now, read back) routes the app to.
    async fn proxy_details(&self, docker: &Docker) -> Vec<(String, String)> {
        let app = &self.names.live;
        let version = proxy::version(docker, &self.proxy.name).await;
        let mut details = vec![("proxy".to_owned(), format!("{} (Caddy {version})", self.proxy.name))];
        let config = proxy::read_config(docker, &self.proxy.name).await.ok().flatten();
        if let Some(route) = config.as_ref().and_then(|c| c.app_route(app)) {
            let upstreams: Vec<String> = if route.weights.len() == route.dial.len() && route.dial.len() > 1 {
                route.dial.iter().zip(&route.weights).map(|(dial, weight)| format!("{dial} ({weight}%)")).collect()
            } else {
                route.dial.clone()
            };
            details.push(("routes to".to_owned(), upstreams.join(", ")));
        }
        if let Some(preview) = config.as_ref().and_then(|c| c.preview_dial(app)) {
            details.push(("previews".to_owned(), preview));
        }
        if let Some(files) = config.as_ref().and_then(|c| c.tls_files(app)) {
            details.push(("HTTPS certificate".to_owned(), files.certificate));
        } else if config.as_ref().is_some_and(|c| c.serves_acme_for(&self.host)) {
            details.push(("HTTPS certificate".to_owned(), format!("from ACME for {}", self.host)));
        }
        details
    }

    async fn apply_locked(
        &self,
        docker: &Docker,
        state: ProxiedState,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let started = Instant::now();
        let ProxiedState { proxy, config, roles, action } = state;
        let unchanged = |message: String| DeployError::failed(message, Status::Unchanged);
        let app = &self.names.live;
        let mut config = self.ensure_proxy(docker, proxy.as_ref(), config, deadline, console).await?;
        config.set_grace_period(self.drain);
        let tls = self.run_tls(docker, &config).await.map_err(unchanged)?;
        if config.has_probe_route(app) {
            config.remove_probe_route(app).map_err(unchanged)?;
        }
        for stray in &roles.strays {
            console.warning(&format!("removing {} left by an earlier run", stray.words()));
            remove_force(docker, &stray.id).await.map_err(unchanged)?;
        }
        let live_version = roles.live.as_ref().map(|c| c.version.clone()).unwrap_or_default();
        let live_dial = roles.live.as_ref().and(roles.live_dial.clone());
        let outcome = |version: String, previous: String, id: String, status: Status| {
            self.outcome(request.port, version, previous, id, status, "started")
        };
        match action {
            ProxiedAction::Deploy(_, strategy) => {
                let (id, name) = self.create_app_container(docker, request).await?;
                let incoming = Incoming {
                    id: id.clone(),
                    name: name.clone(),
                    remove_on_failure: true,
                    described_as: format!("the new container {name} ({})", request.version_label),
                };
                let dial = Self::dial(&name, request.port);
                let host = self.host.clone();
                let preview = self.preview_port;
                let first_step = request.rollout.steps_or_default().first().copied().unwrap_or(10);
                match (strategy, live_dial) {
                    (Strategy::BlueGreen, Some(_)) => {
                        let port = preview.unwrap_or_default();
                        // Judged by analysis: a probe route sends the analysis's requests to the green alone.
                        let probe_token = request.analysis.as_ref().map(|_| format!("{:016x}", fastrand::u64(..)));
                        self.bring_in(docker, &mut config, &incoming, &tls, request, deadline, console, |c| {
                            c.set_preview_route(app, &host, port, &dial)?;
                            match &probe_token {
                                Some(token) => c.set_probe_route(app, &host, token, &dial),
                                None => Ok(()),
                            }
                        })
                        .await?;
                        if let Some(token) = probe_token {
                            let judged = (token, tls.probe.clone());
                            return self
                                .judge(docker, &mut config, &roles, &incoming, judged, request, deadline, console)
                                .await;
                        }
                        let mut done = outcome(request.version_label.clone(), live_version, id, Status::GreenReady);
                        done.url = self.preview_url(request.port);
                        console.info(&format!(
                            "{} answers at {}; the live version keeps all traffic",
                            incoming.described_as, done.url
                        ));
                        Ok(done)
                    }
                    (Strategy::Canary, Some(live)) => {
                        // Judged by analysis: a probe route sends the analysis's requests to the canary alone.
                        let probe_token = request.analysis.as_ref().map(|_| format!("{:016x}", fastrand::u64(..)));
                        self.bring_in(docker, &mut config, &incoming, &tls, request, deadline, console, |c| {
                            c.set_canary_route(app, &host, &live, &dial, first_step)?;
                            match &probe_token {
                                Some(token) => c.set_probe_route(app, &host, token, &dial),
                                None => Ok(()),
                            }
                        })
                        .await?;
                        console.info(&format!("{} takes {first_step}% of {app}'s traffic", incoming.described_as));
                        if let Some(token) = probe_token {
                            let judged = (token, tls.probe.clone());
                            return self
                                .judge(docker, &mut config, &roles, &incoming, judged, request, deadline, console)
                                .await;
                        }
                        self.walk_canary(docker, &mut config, &live, &incoming, request, deadline, console).await?;
                        Ok(outcome(request.version_label.clone(), live_version, id, Status::Canary))
                    }
                    (strategy, live) => {
                        if live.is_none() && strategy != Strategy::Rolling {
                            console.info(&format!("nothing serves {app} yet: the new version takes all traffic"));
                        }
                        self.bring_in(docker, &mut config, &incoming, &tls, request, deadline, console, |c| {
                            c.set_app_route(app, &host, &dial)
                        })
                        .await?;
                        self.retire(docker, roles.live.as_ref(), roles.previous.as_ref(), console).await;
                        console.info(&format!(
                            "the proxy {} routes {app} to {} ({}) after {}s",
                            self.proxy.name,
                            name,
                            request.version_label,
                            started.elapsed().as_secs()
                        ));
                        Ok(outcome(request.version_label.clone(), live_version, id, Status::Deployed))
                    }
                }
            }
            ProxiedAction::Promote(candidate) => {
                let mut promoted = config.clone();
                tls.apply(app, &mut promoted).map_err(unchanged)?;
                promoted
                    .set_app_route(app, &self.host, &Self::dial(&candidate.container.name, request.port))
                    .map_err(unchanged)?;
                promoted.remove_preview_route(app);
                console.info(&format!("routing all of {app} to {}", candidate.container.words()));
                proxy::load(docker, &self.proxy.name, &promoted, deadline).await.map_err(unchanged)?;
                self.retire(docker, roles.live.as_ref(), roles.previous.as_ref(), console).await;
                let container = candidate.container;
                Ok(outcome(container.version, live_version, container.id, Status::Promoted))
            }
            ProxiedAction::Reject(candidate) => {
                let mut rejected = config.clone();
                tls.apply(app, &mut rejected).map_err(unchanged)?;
                rejected.remove_preview_route(app);
                if let Some(live) = &live_dial {
                    rejected.set_app_route(app, &self.host, live).map_err(unchanged)?;
                }
                console.info(&format!("taking {} away from {app}", candidate.container.words()));
                proxy::load(docker, &self.proxy.name, &rejected, deadline).await.map_err(unchanged)?;
                if let Err(error) = remove_force(docker, &candidate.container.id).await {
                    console.warning(&format!("cannot remove {}: {error}", candidate.container.words()));
                }
                let live_id = roles.live.as_ref().map(|c| c.id.clone()).unwrap_or_default();
                Ok(outcome(live_version, candidate.container.version, live_id, Status::Rejected))
            }
            ProxiedAction::Rollback(previous) => {
                let incoming = Incoming {
                    id: previous.id.clone(),
                    name: previous.name.clone(),
                    remove_on_failure: false,
                    described_as: format!("the previous container {}", previous.words()),
                };
                let dial = Self::dial(&previous.name, request.port);
                let host = self.host.clone();
                self.bring_in(docker, &mut config, &incoming, &tls, request, deadline, console, |c| {
                    c.set_app_route(app, &host, &dial)
                })
                .await?;
                self.retire(docker, roles.live.as_ref(), None, console).await;
                Ok(outcome(previous.version, live_version, previous.id, Status::RolledBack))
            }
        }
    }

    /// Copies the run's certificate into the proxy (which serves it only once a
    /// configuration names it), and makes the probe's TLS client: it trusts the
    /// certificate the proxy will serve the app with, and only that one.
    async fn run_tls(&self, docker: &Docker, config: &CaddyConfig) -> Result<RunTls, String> {
        let app = &self.names.live;
        if let Some(certificate) = &self.tls {
            let files = proxy::write_tls(docker, &self.proxy.name, app, certificate).await?;
            let default_name = certificate.default_name(&self.host);
            return Ok(RunTls {
                change: Some(TlsChange::Files(files, default_name, self.host.is_empty())),
                probe: Some(super::tls::pinned_client(certificate.leaf.clone())?),
            });
        }
        if let Some(acme) = &self.acme {
            let root_file = match &acme.root {
                Some((pem, fingerprint)) => {
                    Some(proxy::write_acme_root(docker, &self.proxy.name, app, pem, fingerprint).await?)
                }
                None => None,
            };
            let ports = self.proxy_ports();
            let issuer = AcmeIssuer {
                host: self.host.clone(),
                email: acme.email.clone(),
                ca: acme.ca.clone(),
                root_file,
                http_challenge: ports.contains(&80),
                tls_alpn_challenge: ports.contains(&443),
            };
            let probe = super::tls::client_trusting(acme.root.as_ref().map(|(pem, _)| pem.as_slice()))?;
            return Ok(RunTls { change: Some(TlsChange::Acme(issuer)), probe: Some(probe) });
        }
        if let Some(files) = config.tls_files(app) {
            let leaf = proxy::read_certificate(docker, &self.proxy.name, &files.certificate).await?;
            return Ok(RunTls { change: None, probe: Some(super::tls::pinned_client(leaf)?) });
        }
        if config.serves_acme_for(&self.host) {
            let root = match config.acme_root_file(&self.host) {
                Some(path) => Some(proxy::read_written(docker, &self.proxy.name, &path).await?),
                None => None,
            };
            let probe = super::tls::client_trusting(root.as_deref())?;
            return Ok(RunTls { change: None, probe: Some(probe) });
        }
        Ok(RunTls::default())
    }

    /// After traffic moved (the old container drained inside Caddy's reload): stops the
    /// old live container, kept for a rollback, and removes the older one.
    async fn retire(
        &self,
        docker: &Docker,
        live: Option<&AppContainer>,
        older: Option<&AppContainer>,
        console: &Console,
    ) {
        if let Some(live) = live {
            console.info(&format!("stopping {} (drained)", live.words()));
            if let Err(error) = stop(docker, &live.id).await {
                console.warning(&format!("{error}; it is no longer routed"));
            }
        }
        if let Some(older) = older
            && let Err(error) = remove_force(docker, &older.id).await
        {
            console.warning(&format!("cannot remove the older {}: {error}", older.words()));
        }
    }

    /// The canary's later steps: each after `--bake`, traffic shifted by one load. A
    /// failed load leaves the share where it was and fails the run (`status=canary`).
    #[allow(clippy::too_many_arguments)]
    async fn walk_canary(
        &self,
        docker: &Docker,
        config: &mut CaddyConfig,
        live: &str,
        incoming: &Incoming,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), DeployError> {
        let steps = request.rollout.steps_or_default();
        let bake = request.rollout.bake_or_default();
        let dial = Self::dial(&incoming.name, request.port);
        for (index, percent) in steps.iter().enumerate().skip(1) {
            let previous = steps[index - 1];
            if Instant::now() + bake >= deadline {
                return Err(DeployError::failed(
                    format!(
                        "--timeout ends before the canary's step to {percent}%: it stays at {previous}%; finish it with --promote or --reject"
                    ),
                    Status::Canary,
                ));
            }
            console.info(&format!("baking at {previous}% for {}s", bake.as_secs()));
            interrupt::sleep(bake).await.map_err(|interrupted| {
                DeployError::failed(
                    format!("{interrupted} while baking at {previous}%: the canary stays at {previous}%; finish it with --promote or --reject"),
                    Status::Canary,
                )
            })?;
            let mut next = config.clone();
            next.set_canary_route(&self.names.live, &self.host, live, &dial, *percent)
                .map_err(|e| DeployError::failed(e, Status::Canary))?;
            proxy::load(docker, &self.proxy.name, &next, deadline).await.map_err(|error| {
                DeployError::failed(format!("{error}; the canary stays at {previous}%"), Status::Canary)
            })?;
            *config = next;
            console.info(&format!("{} takes {percent}% of {}'s traffic", incoming.described_as, self.names.live));
        }
        Ok(())
    }

    /// Creates the proxy (and its network) when missing, starts it when stopped; returns
    /// the configuration it routes by.
    async fn ensure_proxy(
        &self,
        docker: &Docker,
        existing: Option<&ContainerInspectResponse>,
        config: Option<CaddyConfig>,
        deadline: Instant,
        console: &Console,
    ) -> Result<CaddyConfig, DeployError> {
        let unchanged = |message: String| DeployError::failed(message, Status::Unchanged);
        let name = &self.proxy.name;
        match existing {
            Some(container) => {
                let config = config.unwrap_or_else(|| CaddyConfig::new(&self.proxy_ports()));
                if container.state.as_ref().and_then(|s| s.running) != Some(true) {
                    console.warning(&format!("the proxy {name} is stopped; starting it"));
                    docker
                        .start_container(name, None)
                        .await
                        .map_err(|e| unchanged(format!("cannot start the proxy {name}: {}", describe(&e))))?;
                    proxy::wait_started(docker, name, &config, deadline).await.map_err(unchanged)?;
                }
                Ok(config)
            }
            None => {
                let image = ImageReference::parse(&self.proxy.image)
                    .map_err(|e| DeployError::Usage(format!("--proxy-image {e}")))?;
                let credentials = super::engine::docker_credentials(&image, None, console);
                pull(docker, &image, credentials, deadline, console).await.map_err(|error| match error {
                    DeployError::Usage(message) | DeployError::Failed { message, .. } => unchanged(format!(
                        "cannot pull the proxy image (--proxy-image): {message}; nothing was changed"
                    )),
                })?;
                if proxy::ensure_network(docker, &self.proxy.network).await.map_err(unchanged)? {
                    console.info(&format!("created the network {}", self.proxy.network));
                }
                let config = CaddyConfig::new(&self.proxy_ports());
                let aliases: Vec<String> = (!self.host.is_empty()).then(|| self.host.clone()).into_iter().collect();
                let id =
                    proxy::create(docker, &self.proxy, &self.proxy_publish(), &aliases).await.map_err(unchanged)?;
                let start = async {
                    proxy::seed(docker, &id, &config).await?;
                    docker
                        .start_container(&id, None)
                        .await
                        .map_err(|e| format!("cannot start the proxy {name}: {}", describe(&e)))?;
                    proxy::wait_started(docker, &id, &config, deadline).await
                };
                if let Err(error) = start.await {
                    let _ = remove_force(docker, &id).await;
                    return Err(unchanged(error));
                }
                console.info(&format!(
                    "started the proxy {name} ({}) publishing {}",
                    self.proxy.image,
                    self.publish_words()
                ));
                Ok(config)
            }
        }
    }

    /// Creates the new app container on the proxy's network, publishing nothing.
    async fn create_app_container(
        &self,
        docker: &Docker,
        request: &DeployRequest,
    ) -> Result<(String, String), DeployError> {
        let name = format!("{}-{:08x}", self.names.live, fastrand::u32(..));
        let labels = HashMap::from([
            (LABEL_APP.to_owned(), self.names.live.clone()),
            (LABEL_VERSION.to_owned(), request.version_label.clone()),
            (LABEL_IMAGE.to_owned(), request.image.clone()),
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
        ]);
        let body = ContainerCreateBody {
            image: Some(request.image.clone()),
            env: (!self.env.is_empty()).then(|| self.env.clone()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                ..HostConfig::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(self.proxy.network.clone(), EndpointSettings::default())])),
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptions { name: Some(name.clone()), ..CreateContainerOptions::default() };
        let created = docker.create_container(Some(options), body).await.map_err(|e| {
            DeployError::failed(format!("cannot create the container {name}: {}", describe(&e)), Status::Unchanged)
        })?;
        Ok((created.id, name))
    }

    /// Starts `incoming`, proves it answers through the proxy, then loads the
    /// configuration `route` makes of the current one (the switch, a preview, a canary
    /// share). On failure the routes are as they were and `incoming` is removed (or
    /// stopped again).
    #[allow(clippy::too_many_arguments)]
    async fn bring_in(
        &self,
        docker: &Docker,
        config: &mut CaddyConfig,
        incoming: &Incoming,
        tls: &RunTls,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
        route: impl FnOnce(&mut CaddyConfig) -> Result<(), String>,
    ) -> Result<(), DeployError> {
        let app = &self.names.live;
        let dial = Self::dial(&incoming.name, request.port);
        let before = config.clone();
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let attempt = async {
            console.info(&format!("starting {}", incoming.described_as));
            let mut probing = config.clone();
            tls.apply(app, &mut probing)?;
            probing.set_probe_route(app, &self.host, &token, &dial)?;
            // The probe route can be loaded while the container starts: Caddy resolves the
            // container's name per request, and the JVM's start is the longest wait of a run.
            let start = async {
                docker
                    .start_container(&incoming.id, None)
                    .await
                    .map_err(|e| format!("cannot be started: {}", describe(&e)))
            };
            // Both run to their end (never one dropped mid-reload), so a restore after a
            // failure is the last configuration the proxy loads.
            let (started, loaded) = tokio::join!(start, proxy::load(docker, &self.proxy.name, &probing, deadline));
            started.and(loaded)?;
            let probe = Probe { token: &token, tls: tls.probe.as_ref() };
            self.wait_answering(docker, incoming, request.port, &probe, deadline, console).await?;
            let mut switched = before.clone();
            tls.apply(app, &mut switched)?;
            route(&mut switched)?;
            console.info(&format!("routing {app}'s traffic to {}", incoming.name));
            proxy::load(docker, &self.proxy.name, &switched, deadline).await?;
            Ok::<CaddyConfig, String>(switched)
        };
        match attempt.await {
            Ok(switched) => {
                *config = switched;
                set_restart_policy(docker, &incoming.id, RestartPolicyNameEnum::UNLESS_STOPPED)
                    .await
                    .unwrap_or_else(|error| console.warning(&error));
                Ok(())
            }
            Err(reason) => {
                let logs = tail_logs(docker, &incoming.id).await;
                // The route never moved; take the probe route away again.
                let restored = proxy::load(docker, &self.proxy.name, &before, deadline).await;
                if incoming.remove_on_failure {
                    let _ = remove_force(docker, &incoming.id).await;
                } else {
                    let _ = stop(docker, &incoming.id).await;
                }
                let mut detail = vec![format!("last {} log lines of {}:", logs.len(), incoming.described_as)];
                detail.extend(logs.into_iter().map(|line| format!("  {line}")));
                let (status, tail) = match restored {
                    Ok(()) => (Status::Unchanged, "the proxy still routes to what it served before".to_owned()),
                    Err(error) => (
                        Status::Unknown,
                        format!(
                            "and the proxy could not be put back as it was: {error}. Look before acting: the proxy may carry a probe route and {} may still exist; once the engine answers, deploy again (it removes what this run left) or --rollback",
                            incoming.name
                        ),
                    ),
                };
                Err(DeployError::Failed {
                    message: format!("{} {reason}; {tail}", incoming.described_as),
                    status,
                    detail,
                })
            }
        }
    }

    /// Waits until the container answers `--check` through the proxy's probe route (any
    /// answer of the app itself: not a gateway error) and keeps running for [`SETTLE`].
    async fn wait_answering(
        &self,
        docker: &Docker,
        incoming: &Incoming,
        port: u16,
        probe_with: &Probe<'_>,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), String> {
        let started = Instant::now();
        let window = READINESS_WINDOW.min(deadline.saturating_duration_since(started));
        let until = started + window;
        let target = self.probe_target(port);
        console.info(&format!("waiting up to {}s for it to answer {} through the proxy", window.as_secs(), self.check));
        let mut answering_since: Option<Instant> = None;
        let mut last_answer = String::from("no answer yet");
        loop {
            let info = docker
                .inspect_container(&incoming.id, None)
                .await
                .map_err(|e| format!("cannot be inspected: {}", describe(&e)))?;
            let state = info.state.unwrap_or_default();
            if state.running != Some(true) {
                let code = state.exit_code.unwrap_or_default();
                let oom = if state.oom_killed == Some(true) { " (killed: out of memory)" } else { "" };
                return Err(format!("exited with code {code}{oom} after {}s", started.elapsed().as_secs()));
            }
            let answered = match &target {
                Some((host, port)) => match probe(host, *port, &self.check, &self.host, probe_with).await {
                    Ok(status) => {
                        last_answer = format!("last answer: HTTP {status}");
                        !matches!(status, 502..=504)
                    }
                    Err(error) => {
                        last_answer = format!("last answer: {error}");
                        false
                    }
                },
                // The proxy publishes on the remote host's loopback: running is all we see.
                None => true,
            };
            if answered {
                let since = *answering_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SETTLE {
                    return Ok(());
                }
            } else {
                answering_since = None;
            }
            if Instant::now() >= until {
                return Err(format!("did not answer {} within {}s ({last_answer})", self.check, window.as_secs()));
            }
            interrupt::sleep(POLL)
                .await
                .map_err(|interrupted| format!("had not answered {} when deploy was {interrupted}", self.check))?;
        }
    }
}

impl AppContainer {
    /// The image of this container, for the lock.
    async fn id_image(&self, docker: &Docker) -> Result<String, DeployError> {
        let container = find(docker, &self.id)
            .await?
            .ok_or_else(|| DeployError::failed(format!("{} disappeared", self.words()), Status::Unchanged))?;
        Ok(container.image.unwrap_or_default())
    }
}

async fn pull_image(
    docker: &Docker,
    pull_from: &Pull,
    deadline: Instant,
    console: &Console,
) -> Result<(), DeployError> {
    pull(docker, &pull_from.image, pull_from.credentials.clone(), deadline, console).await
}

/// One GET of `path` through the proxy with the probe header (over TLS when the proxy
/// serves HTTPS); the HTTP status.
async fn probe(address: &str, port: u16, path: &str, host: &str, with: &Probe<'_>) -> Result<u16, String> {
    let Probe { token, tls } = *with;
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((address, port)).await.map_err(|e| e.to_string())?;
        let host_header = if host.is_empty() { format!("{address}:{port}") } else { host.to_owned() };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\n{PROBE_HEADER}: {token}\r\nUser-Agent: slipway-deploy\r\nConnection: close\r\n\r\n"
        );
        match tls {
            None => status_of(stream, &request).await,
            Some(config) => {
                // An IP address sends no SNI: the proxy answers with the app's default name.
                let name = super::tls::probe_server_name(if host.is_empty() { address } else { host });
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let stream = connector.connect(name, stream).await.map_err(|e| format!("TLS: {e}"))?;
                status_of(stream, &request).await
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), exchange).await.unwrap_or_else(|_| Err("no answer within 3s".into()))
}

/// Sends `request` and reads the status code of the answer.
async fn status_of(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> Result<u16, String> {
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..]).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed without an answer".to_owned());
        }
        read += n;
    }
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {}", line.lines().next().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rollout::Rollout;

    fn container(name: &str, version: &str, running: bool, finished_at: &str) -> AppContainer {
        AppContainer {
            id: format!("id-{name}"),
            name: name.to_owned(),
            version: version.to_owned(),
            running,
            finished_at: finished_at.to_owned(),
        }
    }

    fn host() -> DockerHost {
        DockerHost::new("shop", &["127.0.0.1:8080:8080".into()], &[], 8080, None).unwrap()
    }

    fn request(phase: Phase, strategy: Strategy) -> DeployRequest {
        DeployRequest {
            image: String::new(),
            rollout: Rollout::plain(strategy),
            phase,
            version_label: "v3".into(),
            port: 8080,
            timeout: Duration::from_secs(600),
            dry_run: false,
            analysis: None,
        }
    }

    #[test]
    fn roles_follow_what_the_proxy_routes_and_when_containers_stopped() {
        let mut config = CaddyConfig::new(&[8080]);
        config.set_canary_route("shop", "", "shop-a:8080", "shop-b:8080", 25).unwrap();
        let roles = host().sort_containers(
            Some(&config),
            vec![
                container("shop-old", "v0", false, "2026-11-30T10:00:00Z"),
                container("shop-a", "v1", true, ""),
                container("shop-b", "v2", true, ""),
                container("shop-prev", "v1b", false, "2026-11-30T11:00:00Z"),
                container("shop-orphan", "v9", true, ""),
            ],
        );
        assert_eq!(roles.live.unwrap().name, "shop-a");
        let candidate = roles.candidate.unwrap();
        assert_eq!((candidate.container.name.as_str(), candidate.canary_percent), ("shop-b", Some(25)));
        assert_eq!(roles.previous.unwrap().name, "shop-prev", "the one that stopped last");
        let strays: Vec<&str> = roles.strays.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(strays, ["shop-orphan", "shop-old"]);

        let mut preview = CaddyConfig::new(&[8080]);
        preview.set_app_route("shop", "", "shop-a:8080").unwrap();
        preview.set_preview_route("shop", "", 8081, "shop-b:8080").unwrap();
        let roles = host().sort_containers(
            Some(&preview),
            vec![container("shop-a", "v1", true, ""), container("shop-b", "v2", true, "")],
        );
        assert_eq!(roles.candidate.unwrap().canary_percent, None, "a blue-green preview");
        // A route to another port than this run's --port: the container is still live.
        let mut other_port = CaddyConfig::new(&[8080]);
        other_port.set_app_route("shop", "", "shop-a:9090").unwrap();
        let roles = host().sort_containers(Some(&other_port), vec![container("shop-a", "v1", true, "")]);
        assert_eq!(roles.live.map(|c| c.name).as_deref(), Some("shop-a"));
        assert_eq!(roles.live_dial.as_deref(), Some("shop-a:9090"));
        assert!(roles.strays.is_empty());
        let nothing = host().sort_containers(None, vec![container("shop-a", "v1", true, "")]);
        assert!(nothing.live.is_none() && nothing.strays.len() == 1, "no proxy: nothing is live");
    }

    #[test]
    fn a_run_in_progress_must_be_finished_before_another_starts() {
        let target = host();
        let candidate = Candidate { container: container("shop-b", "v2", true, ""), canary_percent: Some(10) };
        let pending = Roles { candidate: Some(candidate), ..Roles::default() };
        for phase in [Phase::Deploy, Phase::Rollback] {
            let refused = target.decide(&request(phase, Strategy::Rolling), &pending, None).unwrap_err();
            assert!(refused.to_string().contains("a canary of shop-b (v2) at 10% of shop is in progress"), "{refused}");
        }
        let promote = target.decide(&request(Phase::Promote, Strategy::Canary), &pending, None).unwrap();
        assert!(matches!(promote, ProxiedAction::Promote(c) if c.container.name == "shop-b"));
        let idle = Roles::default();
        let nothing = target.decide(&request(Phase::Reject, Strategy::BlueGreen), &idle, None).unwrap_err();
        assert!(nothing.to_string().contains("nothing to reject"), "{nothing}");
        let no_previous = target.decide(&request(Phase::Rollback, Strategy::Rolling), &idle, None).unwrap_err();
        assert!(no_previous.to_string().contains("nothing to roll back to"), "{no_previous}");
    }

    #[test]
    fn the_proxy_publishes_the_preview_port_on_the_main_address() {
        let mut target = host();
        assert_eq!(target.preview_url(8080), "");
        target.preview_port = Some(8081);
        let publish: Vec<String> = target.proxy_publish().iter().map(ToString::to_string).collect();
        assert_eq!(publish, ["127.0.0.1:8080:8080/tcp", "127.0.0.1:8081:8081/tcp"]);
        assert_eq!(target.preview_url(8080), "http://127.0.0.1:8081");
        assert_eq!(target.proxy_ports(), [8080], "the preview has a server of its own");
    }
}
