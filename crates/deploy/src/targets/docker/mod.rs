//! The Docker host target: a Docker Engine, local or `DOCKER_HOST` (an EC2 instance
//! running Docker), runs the image as the container `--name`.
//!
//! A deployment pulls the image, creates the new container as `<name>-next`, then swaps
//! it in ([`swap::replace`]): stops the live `<name>` and parks it as `<name>-replaced`,
//! renames the new one to `<name>` and starts it (a published port is bound by one
//! container at a time), then waits until it runs and is healthy (the image's health
//! check) or its published port answers. On success the replaced container becomes
//! `<name>-previous` (stopped, for `--rollback`) and the older previous is removed; on
//! failure the new container is removed and the replaced one started again under
//! `<name>`, so `<name>-previous` survives a failed deployment too. `--rollback` swaps
//! `<name>-previous` in the same way.

mod caddy;
mod engine;
mod flags;
mod lock;
mod proxied;
mod proxy;
mod readiness;
mod swap;
mod tls;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::CreateContainerOptions;
use slipway_contract::{Console, parse_list};
use slipway_registry::ImageReference;

pub use self::engine::{LABEL_IMAGE, LABEL_MANAGED, LABEL_VERSION};
use self::engine::{
    container_has_healthcheck, describe, docker_credentials, find, image_has_healthcheck, pull, pull_error_is_usage,
    remove_if_exists, set_restart_policy, state_word, version_of,
};
pub use self::flags::{DockerFlags, Engine, PortMapping, parse_env};
pub use self::proxied::LABEL_APP;
use self::proxied::ProxiedState;
use self::proxy::ProxySettings;
use self::swap::{Incoming, Leftovers, Names, OnFailure};
use crate::args::AppFlags;
use crate::rollout::{Param, Strategy};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan, Target};

/// The Docker host target.
#[derive(Debug, Clone)]
pub struct DockerHost {
    names: Names,
    publish: Vec<PortMapping>,
    /// `--publish` was given (else the default, which a proxy's own ports override).
    publish_given: bool,
    env: Vec<String>,
    engine: Engine,
    proxy: ProxySettings,
    /// The host name the proxy routes to the app; empty for every host.
    host: String,
    /// The path a new container must answer through the proxy.
    check: String,
    /// How long Caddy lets requests in flight finish after a switch.
    drain: std::time::Duration,
    /// Blue-green: the host port the proxy previews the new version on.
    preview_port: Option<u16>,
    /// The certificate the proxy is to serve (`--tls-cert`, `--tls-key`).
    tls: Option<tls::ServedCertificate>,
    /// Certificates for `--host` from an ACME CA (`--acme`).
    acme: Option<tls::AcmeSettings>,
    /// The address is `https` (the proxy terminates TLS).
    https: bool,
}

/// What the plan read, for the apply.
#[derive(Debug)]
pub enum DockerState {
    /// `--strategy direct`: containers swapped in place.
    Direct { docker: Docker, seen: Box<Seen>, action: Action },
    /// Behind the proxy; `target` is this one with the proxy's own published ports.
    Proxied { docker: Docker, state: Box<ProxiedState>, target: Box<DockerHost> },
}

/// The containers the plan found.
#[derive(Debug)]
pub struct Seen {
    leftovers: Leftovers,
    live: Option<ContainerInspectResponse>,
}

impl Seen {
    /// Cleans up after an earlier run that died halfway, then the live container as it
    /// is now (the clean-up may have put a parked one back).
    async fn recover(
        self,
        docker: &Docker,
        names: &Names,
        console: &Console,
    ) -> Result<Option<ContainerInspectResponse>, DeployError> {
        if !self.leftovers.any() {
            return Ok(self.live);
        }
        self.leftovers.recover(docker, names, console).await?;
        find(docker, &names.live).await
    }
}

#[derive(Debug)]
pub enum Action {
    Deploy(Box<Pull>),
    Rollback(Box<Previous>),
}

/// The image to pull and the registry credentials for it.
#[derive(Debug)]
pub struct Pull {
    image: ImageReference,
    credentials: Option<DockerCredentials>,
}

/// The container a rollback brings back, and this target as it was created (its ports).
#[derive(Debug)]
pub struct Previous {
    container: ContainerInspectResponse,
    host: DockerHost,
}

impl DockerHost {
    /// Checks the Docker flags (`--name`, `--publish`, `--env`) and `DOCKER_HOST`.
    pub fn from_flags(app: &AppFlags, flags: &DockerFlags, request: &DeployRequest) -> Result<Self, DeployError> {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        let target = Self::new(&app.name, &flags.publish, &flags.env, request.port, docker_host.as_deref())?;
        let mut target = target.with_proxy(
            &flags.proxy_image,
            flags.proxy_name.as_deref(),
            app.host.as_deref().unwrap_or_default(),
            app.first_check().unwrap_or("/"),
            flags.drain_timeout,
        )?;
        target.preview_port = flags.preview_port;
        let strategy = request.strategy();
        target.tls = match (&flags.tls_cert, &flags.tls_key) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(DeployError::Usage("--tls-cert and --tls-key go together: give both".into()));
            }
            (Some(_), Some(_)) if strategy == Strategy::Direct => {
                return Err(DeployError::Usage(
                    "--tls-cert: HTTPS is served by the proxy, and --strategy direct runs none; use rolling, blue-green or canary".into(),
                ));
            }
            (Some(cert), Some(key)) => {
                Some(tls::ServedCertificate::load(cert, key, &target.host).map_err(DeployError::Usage)?)
            }
        };
        target.acme = match flags.acme {
            false if flags.acme_email.is_some() || flags.acme_ca.is_some() || flags.acme_ca_root.is_some() => {
                return Err(DeployError::Usage("--acme-email, --acme-ca and --acme-ca-root go with --acme".into()));
            }
            false => None,
            true if target.tls.is_some() => {
                return Err(DeployError::Usage(
                    "--acme gets the certificate from a CA; --tls-cert gives one: choose one".into(),
                ));
            }
            true if strategy == Strategy::Direct => {
                return Err(DeployError::Usage(
                    "--acme: HTTPS is served by the proxy, and --strategy direct runs none; use rolling, blue-green or canary".into(),
                ));
            }
            true => Some(
                tls::AcmeSettings::new(
                    &target.host,
                    flags.acme_email.as_deref(),
                    flags.acme_ca.as_deref(),
                    flags.acme_ca_root.as_deref(),
                )
                .map_err(DeployError::Usage)?,
            ),
        };
        target.https = target.tls.is_some() || target.acme.is_some();
        if request.phase == Phase::Deploy && strategy == Strategy::BlueGreen && target.preview_port.is_none() {
            return Err(DeployError::Usage(
                "--strategy blue-green on the docker target needs --preview-port: the port where the proxy previews the new version".into(),
            ));
        }
        if let Some(port) = target.preview_port
            && target.publish.iter().any(|m| m.host_port == port)
        {
            return Err(DeployError::Usage(format!("--preview-port {port} is already published by --publish")));
        }
        if request.phase == Phase::Deploy && strategy == Strategy::Canary {
            let steps = request.rollout.steps_or_default();
            let baking = request.rollout.bake_or_default() * u32::try_from(steps.len() - 1).unwrap_or(u32::MAX);
            if baking >= request.timeout {
                return Err(DeployError::Usage(format!(
                    "{} canary steps {}s apart ({}s) do not fit in --timeout ({}s)",
                    steps.len(),
                    request.rollout.bake_or_default().as_secs(),
                    baking.as_secs(),
                    request.timeout.as_secs()
                )));
            }
        }
        Ok(target)
    }

    /// The proxy's settings (`--proxy-image`, `--proxy-name`, `--host`, `--check`,
    /// `--drain-timeout`), checked.
    pub fn with_proxy(
        mut self,
        image: &str,
        name: Option<&str>,
        host: &str,
        check: &str,
        drain: std::time::Duration,
    ) -> Result<Self, DeployError> {
        let image = image.trim();
        ImageReference::parse(image).map_err(|e| DeployError::Usage(format!("--proxy-image {e}")))?;
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("{}-proxy", self.names.live), str::to_owned);
        if !container_name_ok(&name) || name == self.names.live {
            return Err(DeployError::Usage(format!(
                "--proxy-name `{name}` is not a container name apart from --name: letters, digits, _ . - and starting with a letter or digit"
            )));
        }
        let host = host.trim().to_ascii_lowercase();
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*')) {
            return Err(DeployError::Usage(format!("--host `{host}` is not a host name")));
        }
        let check = check.trim();
        if !check.starts_with('/') || check.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DeployError::Usage(format!(
                "--check `{check}` is not a path: it starts with / and has no spaces"
            )));
        }
        self.proxy = ProxySettings::new(name, image.to_owned());
        self.host = host;
        self.check = check.to_owned();
        self.drain = drain;
        Ok(self)
    }

    /// [`DockerHost::from_flags`] with every input explicit.
    pub fn new(
        name: &str,
        publish: &[String],
        env: &[String],
        port: u16,
        docker_host: Option<&str>,
    ) -> Result<Self, DeployError> {
        let name = name.trim();
        if !container_name_ok(name) {
            return Err(DeployError::Usage(format!(
                "--name `{name}` is not a container name: letters, digits, _ . - and starting with a letter or digit"
            )));
        }
        let publish_given = !parse_list(publish).is_empty();
        let mut publish: Vec<PortMapping> = parse_list(publish)
            .iter()
            .map(|text| PortMapping::parse(text))
            .collect::<Result<_, _>>()
            .map_err(DeployError::Usage)?;
        if publish.is_empty() {
            if port == 0 {
                return Err(DeployError::Usage("--port 0 publishes nothing; give --port or --publish".into()));
            }
            publish.push(PortMapping {
                host_ip: Some(IpAddr::from([127, 0, 0, 1])),
                host_port: port,
                container_port: port,
                protocol: "tcp",
            });
        }
        for (index, mapping) in publish.iter().enumerate() {
            if publish[..index]
                .iter()
                .any(|earlier| earlier.host_port == mapping.host_port && earlier.protocol == mapping.protocol)
            {
                return Err(DeployError::Usage(format!("--publish binds host port {} twice", mapping.host_port)));
            }
        }
        let env =
            parse_list(env).iter().map(|text| parse_env(text)).collect::<Result<_, _>>().map_err(DeployError::Usage)?;
        let engine = Engine::from_docker_host(docker_host).map_err(DeployError::Usage)?;
        Ok(Self {
            names: Names::new(name),
            publish,
            publish_given,
            env,
            engine,
            proxy: ProxySettings::new(format!("{name}-proxy"), "caddy:2".to_owned()),
            host: String::new(),
            check: "/".to_owned(),
            drain: std::time::Duration::from_secs(30),
            preview_port: None,
            tls: None,
            acme: None,
            https: false,
        })
    }

    /// The mapping the URL and the readiness probe use: the first TCP one publishing
    /// `--port`, else the first TCP one.
    fn main_mapping(&self, port: u16) -> Option<&PortMapping> {
        let tcp = || self.publish.iter().filter(|m| m.protocol == "tcp");
        tcp().find(|m| m.container_port == port).or_else(|| tcp().next())
    }

    /// The host where a published port answers, as seen from here.
    fn host_for(&self, mapping: &PortMapping) -> String {
        match (&self.engine, mapping.host_ip) {
            (Engine::Remote { host, .. }, _) => host.clone(),
            (Engine::Local, Some(ip)) if !ip.is_unspecified() => ip.to_string(),
            (Engine::Local, _) => "127.0.0.1".to_owned(),
        }
    }

    /// `http://<engine host>:<published port>`.
    pub fn url(&self, port: u16) -> String {
        let Some(mapping) = self.main_mapping(port) else { return String::new() };
        let host = self.host_for(mapping);
        let scheme = if self.https { "https" } else { "http" };
        if host.contains(':') {
            format!("{scheme}://[{host}]:{}", mapping.host_port)
        } else {
            format!("{scheme}://{host}:{}", mapping.host_port)
        }
    }

    /// Where readiness is probed; `None` when no TCP port is reachable from here (a
    /// remote engine publishing on its loopback only).
    fn probe_target(&self, port: u16) -> Option<(String, u16)> {
        let mapping = self.main_mapping(port)?;
        if matches!(self.engine, Engine::Remote { .. }) && mapping.host_ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        Some((self.host_for(mapping), mapping.host_port))
    }

    fn container_body(&self, request: &DeployRequest) -> ContainerCreateBody {
        let bindings = PortMapping::bindings(&self.publish);
        let mut exposed: Vec<String> = bindings.keys().cloned().collect();
        exposed.sort();
        let labels = HashMap::from([
            (LABEL_VERSION.to_owned(), request.version_label.clone()),
            (LABEL_IMAGE.to_owned(), request.image.clone()),
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
        ]);
        ContainerCreateBody {
            image: Some(request.image.clone()),
            env: (!self.env.is_empty()).then(|| self.env.clone()),
            labels: Some(labels),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                // `no` until it is ready, so a crash shows as an exit with its code
                // rather than as a restart loop; `unless-stopped` once it is ready.
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        }
    }

    /// The outcome of a run that leaves `version` serving.
    fn outcome(
        &self,
        port: u16,
        version: String,
        previous: String,
        id: String,
        status: Status,
        health: &str,
    ) -> DeployOutcome {
        DeployOutcome {
            url: self.url(port),
            version_label: version,
            previous_version: previous,
            deployment_id: id,
            status,
            health: health.to_owned(),
            details: Vec::new(),
        }
    }

    fn publish_words(&self) -> String {
        self.publish.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }

    /// How readiness will be judged, for the plan.
    fn readiness_words(&self, port: u16) -> String {
        match self.probe_target(port) {
            Some((host, port)) => {
                format!("healthy (its health check, if the image has one) or answering on {host}:{port}")
            }
            None => "healthy (its health check, if the image has one) or running steadily".to_owned(),
        }
    }

    /// The image to pull and its credentials; a dry run also asks the registry for it.
    async fn pull_source(
        &self,
        docker: &Docker,
        request: &DeployRequest,
        console: &Console,
    ) -> Result<Pull, DeployError> {
        let image = ImageReference::parse(&request.image).map_err(|e| DeployError::Usage(format!("--image {e}")))?;
        let provided = slipway_registry::ecr::provided_login(image.registry(), false, console)
            .await
            .map_err(|e| DeployError::Usage(e.to_string()))?;
        let credentials = docker_credentials(&image, provided.as_ref(), console);
        if request.dry_run {
            // A real run learns this from the pull; a dry run asks the registry through the engine.
            match docker.inspect_registry_image(&request.image, credentials.clone()).await {
                Ok(_) => console.info(&format!("{} can pull {image}", self.engine.describe())),
                Err(error) => {
                    let reason = describe(&error);
                    if pull_error_is_usage(&error, &reason) {
                        return Err(DeployError::Usage(format!(
                            "{} cannot resolve {image}: {reason}; check the reference and the registry credentials",
                            self.engine.describe()
                        )));
                    }
                    console.warning(&format!("cannot check {image} in its registry: {reason}"));
                }
            }
        }
        Ok(Pull { image, credentials })
    }

    async fn plan_deploy(
        &self,
        docker: Docker,
        request: &DeployRequest,
        console: &Console,
    ) -> Result<Plan<DockerState>, DeployError> {
        let names = &self.names;
        let Pull { image, credentials } = self.pull_source(&docker, request, console).await?;
        let leftovers = Leftovers::find(&docker, names).await?;
        let live = find(&docker, &names.live).await?;
        let previous = find(&docker, &names.previous).await?;
        let live_version = live.as_ref().map(version_of).unwrap_or_default();
        let outcome = self.outcome(
            request.port,
            request.version_label.clone(),
            live_version,
            String::new(),
            Status::Planned,
            "unknown",
        );
        let env_names = if self.env.is_empty() {
            "(none)".to_owned()
        } else {
            self.env.iter().map(|e| e.split('=').next().unwrap_or_default()).collect::<Vec<_>>().join(", ")
        };
        let mut plan = Plan::new(outcome, ()).now(live_fact(names, live.as_ref()));
        if let Some(previous) = &previous {
            plan = plan.now(format!("{} keeps {} for a rollback", names.previous, version_of(previous)));
        }
        plan.steps.extend(leftovers.steps(names));
        plan = plan.step(format!("pull {image}")).step(format!(
            "create {} from it: publish {}; env {env_names}; label {LABEL_VERSION}={}",
            names.next,
            self.publish_words(),
            request.version_label
        ));
        if let Some(live) = &live {
            plan = plan.step(park_step(names, live));
        }
        plan = plan.step(format!(
            "start {} as {} and wait until it is {}; restart unless-stopped from then on",
            names.next,
            names.live,
            self.readiness_words(request.port)
        ));
        if live.is_some() {
            let older = previous.as_ref().map(|p| format!(", removing the older one ({})", version_of(p)));
            plan = plan.step(format!("keep the parked one as {}{}", names.previous, older.unwrap_or_default()));
        }
        plan = plan.step(format!("answer at {}", self.url(request.port)));
        let state = DockerState::Direct {
            docker,
            seen: Box::new(Seen { leftovers, live }),
            action: Action::Deploy(Box::new(Pull { image, credentials })),
        };
        Ok(plan.with_state(state))
    }

    async fn plan_rollback(&self, docker: Docker, request: &DeployRequest) -> Result<Plan<DockerState>, DeployError> {
        let names = &self.names;
        let leftovers = Leftovers::find(&docker, names).await?;
        let live = find(&docker, &names.live).await?;
        let Some(previous) = find(&docker, &names.previous).await? else {
            return Err(DeployError::Usage(format!(
                "nothing to roll back to: there is no container {} (a successful deployment keeps the version it replaced there)",
                names.previous
            )));
        };
        let target_version = version_of(&previous);
        let live_version = live.as_ref().map(version_of).unwrap_or_default();
        // The container comes back with the ports it was created with, whatever --publish
        // says now: probe and report those.
        let bound = PortMapping::bound_by(&previous);
        let host = Self { publish: if bound.is_empty() { self.publish.clone() } else { bound }, ..self.clone() };
        let id = previous.id.clone().unwrap_or_else(|| names.previous.clone());
        let outcome = host.outcome(request.port, target_version.clone(), live_version, id, Status::Planned, "unknown");
        let mut plan = Plan::new(outcome, ())
            .now(live_fact(names, live.as_ref()))
            .now(format!("{} keeps {target_version}", names.previous));
        plan.steps.extend(leftovers.steps(names));
        if let Some(live) = &live {
            plan = plan.step(park_step(names, live));
        }
        plan = plan.step(format!(
            "start {} ({target_version}) as {} on its own ports ({}) and wait until it is {}",
            names.previous,
            names.live,
            host.publish_words(),
            host.readiness_words(request.port)
        ));
        if live.is_some() {
            plan = plan.step(format!("keep the parked one as {}", names.previous));
        }
        let action = Action::Rollback(Box::new(Previous { container: previous, host }));
        Ok(plan.with_state(DockerState::Direct { docker, seen: Box::new(Seen { leftovers, live }), action }))
    }

    async fn apply_deploy(
        &self,
        docker: &Docker,
        seen: Seen,
        pull_from: Box<Pull>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let Pull { image, credentials } = *pull_from;
        let started = Instant::now();
        let names = &self.names;
        let live = seen.recover(docker, names, console).await?;
        let live_version = live.as_ref().map(version_of).unwrap_or_default();
        pull(docker, &image, credentials, deadline, console).await?;
        let healthcheck = image_has_healthcheck(docker, &request.image).await?;
        self.warn_unexposed(docker, &request.image, console).await;

        remove_if_exists(docker, &names.next).await?;
        let created = docker
            .create_container(
                Some(CreateContainerOptions { name: Some(names.next.clone()), ..CreateContainerOptions::default() }),
                self.container_body(request),
            )
            .await
            .map_err(|e| {
                DeployError::failed(
                    format!("cannot create the container {}: {}", names.next, describe(&e)),
                    Status::Unchanged,
                )
            })?;
        for warning in created.warnings.iter().filter(|w| !w.trim().is_empty()) {
            console.warning(&format!("the engine says: {warning}"));
        }
        let incoming = Incoming {
            id: created.id.clone(),
            version: request.version_label.clone(),
            healthcheck,
            probe: self.probe_target(request.port),
            on_failure: OnFailure::Remove,
            described_as: format!("the new container ({})", request.version_label),
        };
        let health = swap::replace(docker, names, live.as_ref(), &incoming, deadline, console).await?;
        console.info(&format!(
            "{} runs {} ({health}) after {}s",
            names.live,
            request.version_label,
            started.elapsed().as_secs()
        ));
        Ok(self.outcome(
            request.port,
            request.version_label.clone(),
            live_version,
            created.id,
            Status::Deployed,
            health,
        ))
    }

    async fn apply_rollback(
        &self,
        docker: &Docker,
        seen: Seen,
        previous: Box<Previous>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let Previous { container: mut previous, host } = *previous;
        let started = Instant::now();
        let names = &self.names;
        let recovered = seen.leftovers.any();
        let live = seen.recover(docker, names, console).await?;
        if recovered {
            previous = find(docker, &names.previous).await?.ok_or_else(|| {
                DeployError::failed(format!("{} disappeared while cleaning up", names.previous), Status::Unknown)
            })?;
        }
        let target_version = version_of(&previous);
        let live_version = live.as_ref().map(version_of).unwrap_or_default();
        let id = previous.id.clone().unwrap_or_else(|| names.previous.clone());
        set_restart_policy(docker, &id, RestartPolicyNameEnum::NO)
            .await
            .map_err(|error| DeployError::failed(error, Status::Unchanged))?;
        let incoming = Incoming {
            id: id.clone(),
            version: target_version.clone(),
            healthcheck: container_has_healthcheck(docker, &previous).await,
            probe: host.probe_target(request.port),
            on_failure: OnFailure::KeepAsPrevious,
            described_as: format!("the container of {target_version}, rolled back to,"),
        };
        let health = swap::replace(docker, names, live.as_ref(), &incoming, deadline, console).await?;
        console.info(&format!(
            "{} runs {target_version} again ({health}) after {}s",
            names.live,
            started.elapsed().as_secs()
        ));
        Ok(host.outcome(request.port, target_version, live_version, id, Status::RolledBack, health))
    }

    async fn warn_unexposed(&self, docker: &Docker, image: &str, console: &Console) {
        let Ok(inspect) = docker.inspect_image(image).await else { return };
        let exposed = inspect.config.and_then(|c| c.exposed_ports).unwrap_or_default();
        if exposed.is_empty() {
            return;
        }
        for mapping in &self.publish {
            if !exposed.contains(&mapping.port_key()) {
                console.warning(&format!(
                    "--publish {mapping}: the image exposes {}, not {}; is --port right?",
                    exposed.join(", "),
                    mapping.port_key()
                ));
            }
        }
    }
}

/// Docker's rules for a container name.
fn container_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 200
}

/// The plan's fact about what runs under the live name.
fn live_fact(names: &Names, live: Option<&ContainerInspectResponse>) -> String {
    match live {
        Some(live) => format!("{} runs {} ({})", names.live, version_of(live), state_word(live)),
        None => format!("no container {} runs yet: nothing to replace", names.live),
    }
}

/// The plan's step that stops the live container and parks it.
fn park_step(names: &Names, live: &ContainerInspectResponse) -> String {
    format!("stop {} ({}) and park it as {}", names.live, version_of(live), names.replaced)
}

impl Target for DockerHost {
    type State = DockerState;

    const NAME: &'static str = "docker";
    const STRATEGIES: &'static [Strategy] =
        &[Strategy::Rolling, Strategy::BlueGreen, Strategy::Canary, Strategy::Direct];
    const DEFAULT_STRATEGY: Strategy = Strategy::Rolling;
    const JUDGED: &'static [Strategy] = &[Strategy::Canary, Strategy::BlueGreen];

    fn reads(strategy: Strategy) -> &'static [Param] {
        match strategy {
            Strategy::Canary => &[Param::Steps, Param::Bake],
            _ => &[],
        }
    }

    async fn plan(
        &self,
        request: &DeployRequest,
        _deadline: Instant,
        console: &Console,
    ) -> Result<Plan<DockerState>, DeployError> {
        let docker = engine::connect(&self.engine).await?;
        if matches!(request.strategy(), Strategy::Rolling | Strategy::BlueGreen | Strategy::Canary) {
            let pull = match request.phase {
                Phase::Deploy => Some(Box::new(self.pull_source(&docker, request, console).await?)),
                Phase::Promote | Phase::Reject | Phase::Rollback => None,
            };
            let (plan, target) = self.plan_proxied(&docker, request, pull).await?;
            let Plan { now, steps, outcome, state } = plan;
            let state = DockerState::Proxied { docker, state: Box::new(state), target: Box::new(target) };
            return Ok(Plan { now, steps, outcome, state });
        }
        match request.phase {
            Phase::Rollback => self.plan_rollback(docker, request).await,
            _ => self.plan_deploy(docker, request, console).await,
        }
    }

    async fn apply(
        &self,
        plan: Plan<DockerState>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        match plan.state {
            DockerState::Direct { docker, seen, action: Action::Deploy(pull) } => {
                self.apply_deploy(&docker, *seen, pull, request, deadline, console).await
            }
            DockerState::Direct { docker, seen, action: Action::Rollback(previous) } => {
                self.apply_rollback(&docker, *seen, previous, request, deadline, console).await
            }
            DockerState::Proxied { docker, state, target } => {
                target.apply_proxied(&docker, *state, request, deadline, console).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rollout::Rollout;

    #[test]
    fn publish_mappings_follow_dockers_syntax() {
        let local = PortMapping::parse("127.0.0.1:8081:8080").unwrap();
        assert_eq!(local.host_ip, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!((local.host_port, local.container_port, local.protocol), (8081, 8080, "tcp"));
        let all = PortMapping::parse("80:8080").unwrap();
        assert_eq!((all.host_ip, all.host_port), (None, 80));
        let v6 = PortMapping::parse("[::1]:9000:9000/tcp").unwrap();
        assert_eq!(v6.to_string(), "[::1]:9000:9000/tcp");
        assert_eq!(PortMapping::parse("53:53/udp").unwrap().protocol, "udp");
        assert!(PortMapping::parse("8080").unwrap_err().contains("has no host port"));
        assert!(PortMapping::parse("0:8080").unwrap_err().contains("not 1 to 65535"));
        assert!(PortMapping::parse("8080:99999").unwrap_err().contains("container port"));
        assert!(PortMapping::parse("localhost:80:80").unwrap_err().contains("not an IP address"));
        assert!(PortMapping::parse("80:80/sctp").unwrap_err().contains("unknown protocol"));
    }

    #[test]
    fn env_values_need_a_name_and_never_echo_the_value() {
        assert_eq!(parse_env("JAVA_OPTS=-Xmx1g -Da=b").unwrap(), "JAVA_OPTS=-Xmx1g -Da=b");
        assert_eq!(parse_env("EMPTY=").unwrap(), "EMPTY=");
        assert!(parse_env("NOVALUE").unwrap_err().contains("no `=`"));
        let error = parse_env("1BAD=s3cret").unwrap_err();
        assert!(error.contains("bad name") && !error.contains("s3cret"));
    }

    #[test]
    fn docker_host_decides_the_url_host() {
        assert_eq!(Engine::from_docker_host(None).unwrap(), Engine::Local);
        assert_eq!(Engine::from_docker_host(Some("unix:///var/run/docker.sock")).unwrap(), Engine::Local);
        let remote = Engine::from_docker_host(Some("tcp://10.0.3.7:2376")).unwrap();
        assert!(matches!(&remote, Engine::Remote { host, .. } if host == "10.0.3.7"));
        let v6 = Engine::from_docker_host(Some("tcp://[fd00::7]:2375")).unwrap();
        assert!(matches!(&v6, Engine::Remote { host, .. } if host == "fd00::7"));
        assert!(Engine::from_docker_host(Some("ssh://ec2-user@host")).unwrap_err().contains("ssh"));
        assert!(Engine::from_docker_host(Some("ftp://x")).is_err());

        let local = DockerHost::new("app", &[], &[], 8080, None).unwrap();
        assert_eq!(local.url(8080), "http://127.0.0.1:8080");
        let all = DockerHost::new("app", &["0.0.0.0:80:8080".into()], &[], 8080, None).unwrap();
        assert_eq!(all.url(8080), "http://127.0.0.1:80");
        let remote =
            DockerHost::new("app", &["80:8080\n9090:9090".into()], &[], 8080, Some("tcp://ec2.example.com:2376"))
                .unwrap();
        assert_eq!(remote.url(8080), "http://ec2.example.com:80");
        assert_eq!(remote.probe_target(8080), Some(("ec2.example.com".to_owned(), 80)));
        let loopback_remote = DockerHost::new("app", &[], &[], 8080, Some("tcp://ec2.example.com:2376")).unwrap();
        assert_eq!(loopback_remote.probe_target(8080), None);
    }

    #[test]
    fn bad_names_and_duplicate_ports_are_usage_errors() {
        assert!(matches!(DockerHost::new("-app", &[], &[], 8080, None), Err(DeployError::Usage(_))));
        assert!(matches!(DockerHost::new("a b", &[], &[], 8080, None), Err(DeployError::Usage(_))));
        let twice = DockerHost::new("app", &["80:8080".into(), "127.0.0.1:80:9090".into()], &[], 8080, None);
        assert!(matches!(twice, Err(DeployError::Usage(message)) if message.contains("twice")));
    }

    #[test]
    fn the_container_publishes_restarts_and_records_its_version() {
        let host = DockerHost::new("app", &["127.0.0.1:18080:8080".into()], &["MODE=prod".into()], 8080, None).unwrap();
        let request = DeployRequest {
            image: format!("127.0.0.1:5555/app@sha256:{}", "a".repeat(64)),
            rollout: Rollout::plain(Strategy::Direct),
            phase: Phase::Deploy,
            version_label: "v1-aaaaaaaaaaaa".into(),
            port: 8080,
            timeout: Duration::from_secs(60),
            dry_run: false,
            analysis: None,
        };
        let body = serde_json::to_value(host.container_body(&request)).unwrap();
        assert_eq!(body["Image"], request.image.as_str());
        assert_eq!(body["Env"], serde_json::json!(["MODE=prod"]));
        assert_eq!(body["Labels"][LABEL_VERSION], "v1-aaaaaaaaaaaa");
        assert_eq!(body["Labels"][LABEL_MANAGED], "true");
        assert_eq!(body["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
        assert_eq!(body["HostConfig"]["RestartPolicy"]["Name"], "no", "unless-stopped once ready");
        assert_eq!(
            body["HostConfig"]["PortBindings"],
            serde_json::json!({"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]})
        );
    }
}
