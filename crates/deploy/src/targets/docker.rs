//! The Docker host target: a Docker Engine, local or `DOCKER_HOST` (an EC2 instance
//! running Docker), runs the image as the container `--name`.
//!
//! A deployment pulls the image, creates the new container as `<name>-next`, stops the
//! live `<name>` and parks it as `<name>-replaced`, renames the new one to `<name>` and
//! starts it (a published port is bound by one container at a time), then waits until it
//! runs and is healthy (the image's health check) or its published port answers. On
//! success the replaced container becomes `<name>-previous` (stopped, for `--rollback`)
//! and the older previous is removed; on failure the new container is removed and the
//! replaced one started again under `<name>`, so `<name>-previous` survives a failed
//! deployment too. `--rollback` swaps `<name>` and `<name>-previous` the same way.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as EngineError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, ContainerUpdateBody, HealthStatusEnum,
    HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, LogsOptions, RemoveContainerOptions, RenameContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;
use oci_client::secrets::RegistryAuth;
use slipway_contract::{Console, parse_list};
use slipway_registry::ImageReference;
use slipway_registry::auth;
use tokio::io::AsyncReadExt;

use crate::args::DeployArgs;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Strategy, Target};

/// The label holding the deployed version's label.
pub const LABEL_VERSION: &str = "dev.slipway.version";
/// The label holding the image reference the container was created from.
pub const LABEL_IMAGE: &str = "dev.slipway.image";
/// Marks containers slipway created.
pub const LABEL_MANAGED: &str = "dev.slipway.managed";

/// The longest deploy waits for a started container to be ready (within `--timeout`).
const READINESS_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How long a container must keep running after its port first answers.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the old container gets to stop (SIGTERM, then SIGKILL).
const STOP_GRACE_SECONDS: i32 = 30;
/// Log lines of a failed container kept for the error's detail.
const LOG_TAIL_LINES: usize = 20;
/// How often a starting container is inspected and its port probed: its readiness is noticed
/// within this much (a local engine answers an inspect in about a millisecond).
const POLL: Duration = Duration::from_millis(100);

/// `[IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]`, docker's `--publish` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The host address to bind; `None` for every interface.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
}

impl PortMapping {
    /// The ports a container was created with (its `HostConfig.PortBindings`), sorted.
    pub fn bound_by(container: &ContainerInspectResponse) -> Vec<Self> {
        let mut mappings: Vec<Self> = container
            .host_config
            .as_ref()
            .and_then(|config| config.port_bindings.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|(key, bindings)| {
                let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
                let protocol: &'static str = if protocol == "udp" { "udp" } else { "tcp" };
                let container_port = port.parse::<u16>().ok();
                bindings.iter().flatten().filter_map(move |binding| {
                    Some(Self {
                        host_ip: binding.host_ip.as_deref().filter(|ip| !ip.is_empty()).and_then(|ip| ip.parse().ok()),
                        host_port: binding.host_port.as_deref()?.parse().ok()?,
                        container_port: container_port?,
                        protocol,
                    })
                })
            })
            .collect();
        mappings.sort_by_key(|m| (m.container_port, m.host_port));
        mappings
    }

    /// Parses one `--publish` value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let bad = |why: &str| {
            format!("--publish `{trimmed}` {why}; write it [IP:]HOST_PORT:CONTAINER_PORT, e.g. 127.0.0.1:8080:8080")
        };
        let (mapping, protocol) = match trimmed.rsplit_once('/') {
            Some((mapping, "tcp")) => (mapping, "tcp"),
            Some((mapping, "udp")) => (mapping, "udp"),
            Some(_) => return Err(bad("has an unknown protocol (tcp or udp)")),
            None => (trimmed, "tcp"),
        };
        let (rest, container) = mapping.rsplit_once(':').ok_or_else(|| bad("has no host port"))?;
        let (ip, host) = match rest.rsplit_once(':') {
            Some((ip, host)) => (Some(ip), host),
            None => (None, rest),
        };
        let port = |value: &str, what: &str| -> Result<u16, String> {
            match value.parse::<u16>() {
                Ok(0) | Err(_) => Err(bad(&format!("has a {what} port `{value}` that is not 1 to 65535"))),
                Ok(port) => Ok(port),
            }
        };
        let host_port = port(host, "host")?;
        let container_port = port(container, "container")?;
        let host_ip = match ip {
            None => None,
            Some(ip) => {
                let bare = ip.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')).unwrap_or(ip);
                Some(
                    bare.parse::<IpAddr>()
                        .map_err(|_| bad(&format!("has a host address `{ip}` that is not an IP address")))?,
                )
            }
        };
        Ok(Self { host_ip, host_port, container_port, protocol })
    }

    fn port_key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(f, "{}:{}/{}", self.host_port, self.container_port, self.protocol)
    }
}

/// Checks one `--env` value, `KEY=VALUE`.
pub fn parse_env(text: &str) -> Result<String, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("--env `{}` has no `=`; write it KEY=VALUE", key_only(text)));
    };
    let mut chars = key.chars();
    let key_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !key_ok {
        return Err(format!("--env `{key}=...` has a bad name: letters, digits, _ . - and not starting with a digit"));
    }
    if value.contains('\0') {
        return Err(format!("--env {key} holds a NUL character"));
    }
    Ok(format!("{key}={value}"))
}

/// The part of an env value safe to print (the value may be a secret).
fn key_only(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Where the engine runs, which decides the URL's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// A Unix socket (or the default): containers publish on this machine.
    Local,
    /// `DOCKER_HOST=tcp://host:port` (or http/https): containers publish on `host`.
    Remote { host: String, display: String },
}

impl Engine {
    /// Reads `DOCKER_HOST` as bollard's `connect_with_defaults` does.
    pub fn from_docker_host(value: Option<&str>) -> Result<Self, String> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Self::Local);
        };
        if value.starts_with("unix://") || value.starts_with("npipe://") {
            return Ok(Self::Local);
        }
        if value.starts_with("ssh://") {
            return Err(format!(
                "DOCKER_HOST `{value}` uses ssh, which deploy does not speak; expose the engine as tcp://HOST:2376 with TLS (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH) or forward its socket (ssh -L /tmp/docker.sock:/var/run/docker.sock) and use unix://"
            ));
        }
        let rest = ["tcp://", "http://", "https://"]
            .iter()
            .find_map(|scheme| value.strip_prefix(scheme))
            .ok_or_else(|| format!("DOCKER_HOST `{value}` is not unix://PATH, tcp://HOST:PORT or https://HOST:PORT"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = if let Some(bracketed) = authority.strip_prefix('[') {
            bracketed.split(']').next().unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        if host.is_empty() {
            return Err(format!("DOCKER_HOST `{value}` names no host"));
        }
        Ok(Self::Remote { host: host.to_owned(), display: value.to_owned() })
    }

    fn describe(&self) -> String {
        match self {
            Self::Local => "the local Docker Engine".to_owned(),
            Self::Remote { display, .. } => format!("the Docker Engine at {display}"),
        }
    }
}

/// The names one deployment juggles.
#[derive(Debug, Clone)]
struct Names {
    live: String,
    next: String,
    replaced: String,
    previous: String,
}

impl Names {
    fn new(name: &str) -> Self {
        Self {
            live: name.to_owned(),
            next: format!("{name}-next"),
            replaced: format!("{name}-replaced"),
            previous: format!("{name}-previous"),
        }
    }
}

/// The Docker host target.
#[derive(Debug, Clone)]
pub struct DockerHost {
    names: Names,
    publish: Vec<PortMapping>,
    env: Vec<String>,
    engine: Engine,
}

impl DockerHost {
    /// Checks the Docker flags (`--name`, `--publish`, `--env`) and `DOCKER_HOST`.
    pub fn from_args(args: &DeployArgs, request: &DeployRequest) -> Result<Self, DeployError> {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        Self::new(&args.name, &args.publish, &args.env, request.port, docker_host.as_deref())
    }

    /// [`DockerHost::from_args`] with every input explicit.
    pub fn new(
        name: &str,
        publish: &[String],
        env: &[String],
        port: u16,
        docker_host: Option<&str>,
    ) -> Result<Self, DeployError> {
        let name = name.trim();
        let mut chars = name.chars();
        let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && name.len() <= 200;
        if !name_ok {
            return Err(DeployError::Usage(format!(
                "--name `{name}` is not a container name: letters, digits, _ . - and starting with a letter or digit"
            )));
        }
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
        Ok(Self { names: Names::new(name), publish, env, engine })
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
        if host.contains(':') {
            format!("http://[{host}]:{}", mapping.host_port)
        } else {
            format!("http://{host}:{}", mapping.host_port)
        }
    }

    /// Where readiness is probed; `None` when no TCP port is reachable from here (a
    /// remote engine publishing on its loopback only).
    /// The outcome once a container serves: deploy and rollback end the same way.
    fn running(&self, port: u16, version: String, previous: String, id: String, health: &str) -> DeployOutcome {
        DeployOutcome {
            url: self.url(port),
            version_label: version,
            previous_version: previous,
            deployment_id: id,
            status: "running".to_owned(),
            health: health.to_owned(),
        }
    }

    fn probe_target(&self, port: u16) -> Option<(String, u16)> {
        let mapping = self.main_mapping(port)?;
        if matches!(self.engine, Engine::Remote { .. }) && mapping.host_ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        Some((self.host_for(mapping), mapping.host_port))
    }

    fn container_body(&self, request: &DeployRequest) -> ContainerCreateBody {
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for mapping in &self.publish {
            bindings.entry(mapping.port_key()).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(
                PortBinding {
                    host_ip: Some(mapping.host_ip.map(|ip| ip.to_string()).unwrap_or_default()),
                    host_port: Some(mapping.host_port.to_string()),
                },
            );
        }
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

    async fn connect(&self) -> Result<Docker, DeployError> {
        // An empty DOCKER_HOST (a CI variable left blank) means the local engine, as for the
        // docker CLI; bollard would refuse it.
        let docker = if std::env::var("DOCKER_HOST").is_ok_and(|host| host.trim().is_empty()) {
            Docker::connect_with_unix("/var/run/docker.sock", 120, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_defaults()
        }
        .map_err(|error| DeployError::Usage(format!("cannot use DOCKER_HOST: {error}")))?;
        docker.negotiate_version().await.map_err(|error| {
            DeployError::failed(
                format!(
                    "cannot reach {}: {}; is it running, and is DOCKER_HOST right?",
                    self.engine.describe(),
                    describe(&error)
                ),
                "unchanged",
            )
        })
    }

    async fn deploy(
        &self,
        docker: &Docker,
        request: &DeployRequest,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let started = Instant::now();
        let deadline = started + request.timeout;
        let names = &self.names;
        let image = ImageReference::parse(&request.image).map_err(|e| DeployError::Usage(format!("--image {e}")))?;
        if !request.dry_run {
            self.recover_leftovers(docker, console).await?;
        }
        let live = find(docker, &names.live).await?;
        let live_version = live.as_ref().map(version_of).unwrap_or_default();
        let credentials = docker_credentials(&image, console);

        if request.dry_run {
            return self.plan_deploy(docker, request, &image, credentials, live.as_ref(), console).await;
        }

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
                    "unchanged",
                )
            })?;
        for warning in created.warnings.iter().filter(|w| !w.trim().is_empty()) {
            console.warning(&format!("the engine says: {warning}"));
        }
        let id = created.id;

        // From here on the live container is being replaced: every failure restores it.
        if let Some(live) = &live
            && let Err(error) = self.park_live(docker, live, console).await
        {
            let _ = remove_force(docker, &id).await;
            let status = self.restore_parked(docker, console).await;
            return Err(DeployError::failed(format!("{error}; {}", status.sentence()), status.word()));
        }
        let swap = async {
            rename(docker, &id, &names.live).await?;
            console.info(&format!("starting {} ({})", names.live, request.version_label));
            docker
                .start_container(&id, None)
                .await
                .map_err(|e| format!("the engine cannot start the new container: {}", describe(&e)))
        };
        let ready = match swap.await {
            Ok(()) => {
                let window = READINESS_WINDOW.min(deadline.saturating_duration_since(Instant::now()));
                start_serving(docker, &id, healthcheck, self.probe_target(request.port), window, console).await
            }
            Err(reason) => Err(reason),
        };
        match ready {
            Ok(health) => {
                if live.is_some() {
                    self.retire_parked(docker, console).await;
                }
                console.info(&format!(
                    "{} runs {} ({health}) after {}s",
                    names.live,
                    request.version_label,
                    started.elapsed().as_secs()
                ));
                Ok(self.running(request.port, request.version_label.clone(), live_version, id, health))
            }
            Err(reason) => {
                let logs = tail_logs(docker, &id).await;
                if let Err(error) = remove_force(docker, &id).await {
                    console.warning(&format!("cannot remove the failed container {id}: {error}"));
                }
                let status = if live.is_some() { self.restore_parked(docker, console).await } else { Restore::Nothing };
                let mut detail = vec![format!("last {} log lines of the new container:", logs.len())];
                detail.extend(logs.into_iter().map(|line| format!("  {line}")));
                if detail.len() == 1 {
                    detail = vec!["the new container logged nothing".to_owned()];
                }
                Err(DeployError::Failed {
                    message: format!(
                        "the new container ({}) {reason}; {}",
                        request.version_label,
                        status.sentence_with(&live_version)
                    ),
                    status: status.word().to_owned(),
                    detail,
                })
            }
        }
    }

    /// Prints what a deployment would do, after checking what can be checked read-only.
    async fn plan_deploy(
        &self,
        docker: &Docker,
        request: &DeployRequest,
        image: &ImageReference,
        credentials: Option<DockerCredentials>,
        live: Option<&ContainerInspectResponse>,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let names = &self.names;
        match docker.inspect_registry_image(&request.image, credentials).await {
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
        let previous = find(docker, &names.previous).await?;
        let mut plan = String::from("plan:");
        let _ = write!(plan, "\n  pull {image}");
        let _ = write!(
            plan,
            "\n  create {} from it: publish {}; env {}; restart unless-stopped; label {LABEL_VERSION}={}",
            names.next,
            self.publish.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            if self.env.is_empty() {
                "(none)".to_owned()
            } else {
                self.env.iter().map(|e| e.split('=').next().unwrap_or_default()).collect::<Vec<_>>().join(", ")
            },
            request.version_label
        );
        match live {
            Some(live) => {
                let _ = write!(
                    plan,
                    "\n  stop {} ({}, {}) and keep it as {}",
                    names.live,
                    version_of(live),
                    state_word(live),
                    names.previous
                );
                if let Some(previous) = &previous {
                    let _ = write!(
                        plan,
                        "\n  remove {} ({}) once the new one is ready",
                        names.previous,
                        version_of(previous)
                    );
                }
            }
            None => {
                let _ = write!(plan, "\n  no container {} runs yet: nothing to replace", names.live);
            }
        }
        let _ = write!(
            plan,
            "\n  start it as {} and wait until it is ready; answer at {}",
            names.live,
            self.url(request.port)
        );
        console.info(&plan);
        Ok(DeployOutcome {
            url: self.url(request.port),
            version_label: request.version_label.clone(),
            previous_version: live.map(version_of).unwrap_or_default(),
            deployment_id: String::new(),
            status: "planned".to_owned(),
            health: "unknown".to_owned(),
        })
    }

    async fn rollback(
        &self,
        docker: &Docker,
        request: &DeployRequest,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let started = Instant::now();
        let names = &self.names;
        if !request.dry_run {
            self.recover_leftovers(docker, console).await?;
        }
        let live = find(docker, &names.live).await?;
        let Some(previous) = find(docker, &names.previous).await? else {
            return Err(DeployError::Usage(format!(
                "nothing to roll back to: there is no container {} (a successful deployment keeps the version it replaced there)",
                names.previous
            )));
        };
        let target_version = version_of(&previous);
        let live_version = live.as_ref().map(version_of).unwrap_or_default();
        let id = previous.id.clone().unwrap_or_else(|| names.previous.clone());
        // The container comes back with the ports it was created with, whatever --publish
        // says now: probe and report those.
        let bound = PortMapping::bound_by(&previous);
        let restarted = Self { publish: if bound.is_empty() { self.publish.clone() } else { bound }, ..self.clone() };
        let this = &restarted;
        if request.dry_run {
            let mut plan = format!("plan:\n  start {} ({target_version}) as {}", names.previous, names.live);
            if let Some(live) = &live {
                let _ =
                    write!(plan, "\n  stop {} ({}) and keep it as {}", names.live, version_of(live), names.previous);
            }
            console.info(&plan);
            return Ok(DeployOutcome {
                url: this.url(request.port),
                version_label: target_version,
                previous_version: live_version,
                deployment_id: id,
                status: "planned".to_owned(),
                health: "unknown".to_owned(),
            });
        }
        if let Some(live) = &live
            && let Err(error) = self.park_live(docker, live, console).await
        {
            let status = self.restore_parked(docker, console).await;
            return Err(DeployError::failed(format!("{error}; {}", status.sentence()), status.word()));
        }
        let healthcheck = container_has_healthcheck(docker, &previous).await;
        let swap = async {
            set_restart_policy(docker, &id, RestartPolicyNameEnum::NO).await?;
            rename(docker, &id, &names.live).await?;
            console.info(&format!("starting {} ({target_version}) again", names.live));
            docker
                .start_container(&id, None)
                .await
                .map_err(|e| format!("the engine cannot start the previous container: {}", describe(&e)))
        };
        let ready = match swap.await {
            Ok(()) => {
                let window = READINESS_WINDOW.min(request.timeout);
                start_serving(docker, &id, healthcheck, this.probe_target(request.port), window, console).await
            }
            Err(reason) => Err(reason),
        };
        match ready {
            Ok(health) => {
                if live.is_some() {
                    // The version rolled back from becomes the previous one: a second rollback swaps again.
                    if let Err(error) = rename(docker, &names.replaced, &names.previous).await {
                        console.warning(&format!("{error}; {} is left as it is", names.replaced));
                    }
                }
                console.info(&format!(
                    "{} runs {target_version} again ({health}) after {}s",
                    names.live,
                    started.elapsed().as_secs()
                ));
                Ok(this.running(request.port, target_version, live_version, id, health))
            }
            Err(reason) => {
                let logs = tail_logs(docker, &id).await;
                // Keep the version that failed to come back as the previous one, stopped.
                let _ = stop(docker, &id).await;
                if let Err(error) = rename(docker, &id, &names.previous).await {
                    console.warning(&format!("{error}; removing it"));
                    let _ = remove_force(docker, &id).await;
                }
                let status = if live.is_some() { self.restore_parked(docker, console).await } else { Restore::Nothing };
                let mut detail = vec![format!("last {} log lines of {target_version}:", logs.len())];
                detail.extend(logs.into_iter().map(|line| format!("  {line}")));
                Err(DeployError::Failed {
                    message: format!(
                        "rolling back to {target_version}: it {reason}; {}",
                        status.sentence_with(&live_version)
                    ),
                    status: status.word().to_owned(),
                    detail,
                })
            }
        }
    }

    /// Stops the live container and renames it `<name>-replaced`, freeing its name and ports.
    async fn park_live(
        &self,
        docker: &Docker,
        live: &ContainerInspectResponse,
        console: &Console,
    ) -> Result<(), String> {
        let names = &self.names;
        let id = live.id.clone().unwrap_or_else(|| names.live.clone());
        console.info(&format!("stopping {} ({})", names.live, version_of(live)));
        stop(docker, &id).await?;
        remove_if_exists(docker, &names.replaced).await.map_err(|e| e.to_string())?;
        rename(docker, &id, &names.replaced).await
    }

    /// Puts `<name>-replaced` back as `<name>` and starts it.
    async fn restore_parked(&self, docker: &Docker, console: &Console) -> Restore {
        let names = &self.names;
        let parked = match find(docker, &names.replaced).await {
            Ok(Some(parked)) => parked,
            Ok(None) => return Restore::Nothing,
            Err(error) => return Restore::Failed(error.to_string()),
        };
        let id = parked.id.clone().unwrap_or_else(|| names.replaced.clone());
        if let Ok(Some(occupant)) = find(docker, &names.live).await
            && occupant.id != parked.id
        {
            let _ = remove_force(docker, occupant.id.as_deref().unwrap_or(&names.live)).await;
        }
        if let Err(error) = rename(docker, &id, &names.live).await {
            return Restore::Failed(error);
        }
        console.info(&format!("restoring {} ({})", names.live, version_of(&parked)));
        match docker.start_container(&id, None).await {
            Ok(()) => Restore::Restored,
            Err(error) => Restore::Failed(format!("cannot start it again: {}", describe(&error))),
        }
    }

    /// After a success: the replaced container becomes the previous one, the older previous goes.
    async fn retire_parked(&self, docker: &Docker, console: &Console) {
        let names = &self.names;
        if let Err(error) = remove_if_exists(docker, &names.previous).await {
            console.warning(&format!("cannot remove the older {}: {error}", names.previous));
            return;
        }
        if let Err(error) = rename(docker, &names.replaced, &names.previous).await {
            console.warning(&format!("{error}; {} is left as it is", names.replaced));
        }
    }

    /// Cleans up after a run that died halfway (`<name>-next`, `<name>-replaced` left over).
    async fn recover_leftovers(&self, docker: &Docker, console: &Console) -> Result<(), DeployError> {
        let names = &self.names;
        if find(docker, &names.next).await?.is_some() {
            console.warning(&format!("removing {} left by an earlier run", names.next));
            remove_if_exists(docker, &names.next).await?;
        }
        if find(docker, &names.replaced).await?.is_some() {
            if find(docker, &names.live).await?.is_none() {
                console.warning(&format!(
                    "{} was left parked by an earlier run; putting it back as {}",
                    names.replaced, names.live
                ));
                if let Restore::Failed(error) = self.restore_parked(docker, console).await {
                    return Err(DeployError::failed(format!("cannot put {} back: {error}", names.replaced), "failed"));
                }
            } else {
                console.warning(&format!(
                    "{} was left by an earlier run; keeping it as {}",
                    names.replaced, names.previous
                ));
                self.retire_parked(docker, console).await;
            }
        }
        Ok(())
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

impl Target for DockerHost {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn strategies(&self) -> &'static [Strategy] {
        &[Strategy::Direct]
    }

    async fn run(&self, request: &DeployRequest, console: &Console) -> Result<DeployOutcome, DeployError> {
        let docker = self.connect().await?;
        match request.phase {
            Phase::Deploy => self.deploy(&docker, request, console).await,
            Phase::Rollback => self.rollback(&docker, request, console).await,
            Phase::Promote | Phase::Reject => Err(DeployError::Usage(format!(
                "the docker target deploys directly; there is nothing to {}",
                request.phase.as_str()
            ))),
        }
    }
}

/// How a failed run left the live container.
#[derive(Debug)]
enum Restore {
    /// The replaced container runs again.
    Restored,
    /// There was no container to restore.
    Nothing,
    Failed(String),
}

impl Restore {
    fn word(&self) -> &'static str {
        match self {
            Self::Restored => "restored",
            Self::Nothing | Self::Failed(_) => "failed",
        }
    }

    fn sentence(&self) -> String {
        self.sentence_with("")
    }

    fn sentence_with(&self, version: &str) -> String {
        let version = if version.is_empty() { String::new() } else { format!(" ({version})") };
        match self {
            Self::Restored => format!("restored the previous container{version}, which runs again"),
            Self::Nothing => "no earlier container to restore; the failed one was removed".to_owned(),
            Self::Failed(error) => format!("and the previous container{version} could not be restored: {error}"),
        }
    }
}

/// The engine's message without bollard's wrapping.
fn describe(error: &EngineError) -> String {
    match error {
        EngineError::DockerResponseServerError { status_code, message } => {
            format!("{} ({status_code})", message.trim())
        }
        EngineError::DockerStreamError { error } => error.trim().to_owned(),
        other => other.to_string(),
    }
}

fn is_not_found(error: &EngineError) -> bool {
    matches!(error, EngineError::DockerResponseServerError { status_code: 404, .. })
}

async fn find(docker: &Docker, name: &str) -> Result<Option<ContainerInspectResponse>, DeployError> {
    match docker.inspect_container(name, None).await {
        Ok(container) => Ok(Some(container)),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => {
            Err(DeployError::failed(format!("cannot inspect the container {name}: {}", describe(&error)), "unchanged"))
        }
    }
}

async fn remove_if_exists(docker: &Docker, name: &str) -> Result<(), DeployError> {
    match remove_force(docker, name).await {
        Ok(()) => Ok(()),
        Err(error) => Err(DeployError::failed(format!("cannot remove the container {name}: {error}"), "unchanged")),
    }
}

async fn remove_force(docker: &Docker, name: &str) -> Result<(), String> {
    let options = RemoveContainerOptions { force: true, ..RemoveContainerOptions::default() };
    match docker.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(error) if is_not_found(&error) => Ok(()),
        Err(error) => Err(describe(&error)),
    }
}

async fn stop(docker: &Docker, id: &str) -> Result<(), String> {
    let options = StopContainerOptions { t: Some(STOP_GRACE_SECONDS), ..StopContainerOptions::default() };
    docker
        .stop_container(id, Some(options))
        .await
        .map_err(|e| format!("cannot stop the container {id}: {}", describe(&e)))
}

async fn set_restart_policy(docker: &Docker, id: &str, name: RestartPolicyNameEnum) -> Result<(), String> {
    let update = ContainerUpdateBody {
        restart_policy: Some(RestartPolicy { name: Some(name), maximum_retry_count: None }),
        ..ContainerUpdateBody::default()
    };
    docker
        .update_container(id, update)
        .await
        .map_err(|e| format!("cannot set the restart policy of {id} to {name}: {}", describe(&e)))
}

/// A ready container restarts from now on, unless stopped on purpose.
/// Waits until a started container is ready, then lets Docker restart it from now on
/// (restarts stay off until then, so a crash shows its exit code instead of a loop).
async fn start_serving(
    docker: &Docker,
    id: &str,
    healthcheck: bool,
    probe: Option<(String, u16)>,
    window: Duration,
    console: &Console,
) -> Result<&'static str, String> {
    let health = wait_ready(docker, id, healthcheck, probe, window, console).await?;
    keep_restarting(docker, id).await?;
    Ok(health)
}

async fn keep_restarting(docker: &Docker, id: &str) -> Result<(), String> {
    set_restart_policy(docker, id, RestartPolicyNameEnum::UNLESS_STOPPED).await
}

async fn rename(docker: &Docker, from: &str, to: &str) -> Result<(), String> {
    docker
        .rename_container(from, RenameContainerOptions { name: to.to_owned() })
        .await
        .map_err(|e| format!("cannot rename the container {from} to {to}: {}", describe(&e)))
}

/// The container's version label, else its image.
fn version_of(container: &ContainerInspectResponse) -> String {
    let config = container.config.as_ref();
    config
        .and_then(|c| c.labels.as_ref())
        .and_then(|labels| labels.get(LABEL_VERSION))
        .filter(|label| !label.is_empty())
        .cloned()
        .or_else(|| config.and_then(|c| c.image.clone()))
        .unwrap_or_default()
}

fn state_word(container: &ContainerInspectResponse) -> String {
    container
        .state
        .as_ref()
        .and_then(|s| s.status)
        .map(|status| status.to_string())
        .unwrap_or_else(|| "unknown state".to_owned())
}

/// The registry's credentials as push-image resolves them, in the engine's form.
fn docker_credentials(image: &ImageReference, console: &Console) -> Option<DockerCredentials> {
    let registry = image.registry();
    let credentials = auth::resolve(registry, None, None, console);
    console.info(&format!("registry credentials for {registry}: {}", credentials.source));
    match credentials.auth {
        RegistryAuth::Anonymous => None,
        RegistryAuth::Basic(username, password) => Some(DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(registry.to_owned()),
            ..DockerCredentials::default()
        }),
        RegistryAuth::Bearer(token) => Some(DockerCredentials {
            registrytoken: Some(token),
            serveraddress: Some(registry.to_owned()),
            ..DockerCredentials::default()
        }),
    }
}

/// Whether a pull failure is the reference's or the credentials' fault (exit 2).
fn pull_error_is_usage(error: &EngineError, reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    matches!(error, EngineError::DockerResponseServerError { status_code: 401 | 403 | 404, .. })
        || [
            "not found",
            "manifest unknown",
            "unauthorized",
            "denied",
            "no basic auth credentials",
            "authentication required",
        ]
        .iter()
        .any(|needle| lower.contains(needle))
}

async fn pull(
    docker: &Docker,
    image: &ImageReference,
    credentials: Option<DockerCredentials>,
    deadline: Instant,
    console: &Console,
) -> Result<(), DeployError> {
    let _group = console.group(&format!("pull {image}"));
    let options = CreateImageOptions {
        from_image: Some(image.name()),
        tag: Some(image.digest().or(image.tag()).unwrap_or("latest").to_owned()),
        ..CreateImageOptions::default()
    };
    let mut stream = docker.create_image(Some(options), None, credentials);
    let mut layers = 0usize;
    let pulling = async {
        while let Some(item) = stream.next().await {
            let info = item?;
            match (info.id.as_deref(), info.status.as_deref()) {
                (_, Some("Pull complete")) => layers += 1,
                (None, Some(status)) => console.info(status),
                _ => {}
            }
        }
        Ok::<(), EngineError>(())
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, pulling).await {
        Ok(Ok(())) => {
            console.info(&format!("pulled {image} ({layers} new layers)"));
            Ok(())
        }
        Ok(Err(error)) => {
            let reason = describe(&error);
            if pull_error_is_usage(&error, &reason) {
                Err(DeployError::Usage(format!(
                    "cannot pull {image}: {reason}; check the reference (push-image's image-ref) and the registry credentials (docker's config.json, DOCKER_CONFIG)"
                )))
            } else {
                Err(DeployError::failed(format!("cannot pull {image}: {reason}"), "unchanged"))
            }
        }
        Err(_) => Err(DeployError::failed(format!("pulling {image} took longer than --timeout"), "unchanged")),
    }
}

fn healthcheck_is_set(test: Option<&Vec<String>>) -> bool {
    test.and_then(|test| test.first()).is_some_and(|first| first != "NONE")
}

async fn image_has_healthcheck(docker: &Docker, image: &str) -> Result<bool, DeployError> {
    let inspect = docker.inspect_image(image).await.map_err(|e| {
        DeployError::failed(format!("cannot inspect the pulled image {image}: {}", describe(&e)), "unchanged")
    })?;
    Ok(healthcheck_is_set(inspect.config.as_ref().and_then(|c| c.healthcheck.as_ref()).and_then(|h| h.test.as_ref())))
}

async fn container_has_healthcheck(docker: &Docker, container: &ContainerInspectResponse) -> bool {
    let config = container.config.as_ref();
    if let Some(healthcheck) = config.and_then(|c| c.healthcheck.as_ref()) {
        return healthcheck_is_set(healthcheck.test.as_ref());
    }
    match config.and_then(|c| c.image.as_deref()) {
        Some(image) => image_has_healthcheck(docker, image).await.unwrap_or(false),
        None => false,
    }
}

/// Whether something listens behind `host:port`. docker-proxy accepts a connection on
/// a published port even when nothing listens in the container, then closes it at once;
/// a real server keeps it open waiting for a request (or speaks first).
async fn accepts(host: &str, port: u16) -> bool {
    let connect = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect((host, port))).await;
    let Ok(Ok(mut stream)) = connect else { return false };
    let mut buffer = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buffer)).await {
        Err(_waiting) => true,
        Ok(Ok(read)) => read > 0,
        Ok(Err(_reset)) => false,
    }
}

/// Waits until the started container is ready: running without restarts, and healthy
/// (with a health check) or its port answering for [`SETTLE`] (without). Returns the
/// health word, or why it is not ready.
async fn wait_ready(
    docker: &Docker,
    id: &str,
    healthcheck: bool,
    probe: Option<(String, u16)>,
    window: Duration,
    console: &Console,
) -> Result<&'static str, String> {
    let started = Instant::now();
    let deadline = started + window;
    let mut ready_since: Option<Instant> = None;
    let mut last_note = Instant::now();
    let what = match (&probe, healthcheck) {
        (_, true) => "healthy (its health check)".to_owned(),
        (Some((host, port)), false) => format!("answering on {host}:{port}"),
        (None, false) => "running steadily".to_owned(),
    };
    console.info(&format!("waiting up to {}s for it to be {what}", window.as_secs()));
    loop {
        let info =
            docker.inspect_container(id, None).await.map_err(|e| format!("cannot be inspected: {}", describe(&e)))?;
        let state = info.state.unwrap_or_default();
        let exit_code = state.exit_code.unwrap_or_default();
        let restarts = info.restart_count.unwrap_or_default();
        let oom = if state.oom_killed == Some(true) { " (killed: out of memory)" } else { "" };
        if restarts > 0 || state.status == Some(ContainerStateStatusEnum::RESTARTING) {
            // Only the engine restarts it now (the policy is `no` until ready); the code
            // of the exit is gone once it runs again.
            let code = if exit_code == 0 { String::new() } else { format!(" with code {exit_code}") };
            return Err(format!(
                "exited{code}{oom} after {}s and was restarted {} time(s)",
                started.elapsed().as_secs(),
                restarts.max(1)
            ));
        }
        match state.status {
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
                let error = state.error.filter(|e| !e.is_empty()).map(|e| format!(": {e}")).unwrap_or_default();
                return Err(format!("exited with code {exit_code}{oom} after {}s{error}", started.elapsed().as_secs()));
            }
            Some(ContainerStateStatusEnum::RUNNING) => {
                let ready_now = if healthcheck {
                    let health = state.health.unwrap_or_default();
                    match health.status {
                        Some(HealthStatusEnum::HEALTHY) => return Ok("healthy"),
                        Some(HealthStatusEnum::UNHEALTHY) => {
                            let output = health
                                .log
                                .and_then(|log| log.last().and_then(|probe| probe.output.clone()))
                                .map(|output| output.trim().chars().take(300).collect::<String>())
                                .filter(|output| !output.is_empty())
                                .map(|output| format!(": {output}"))
                                .unwrap_or_default();
                            return Err(format!("is unhealthy{output}"));
                        }
                        _ => false,
                    }
                } else {
                    match &probe {
                        Some((host, port)) => accepts(host, *port).await,
                        None => true,
                    }
                };
                if ready_now {
                    let since = *ready_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= SETTLE {
                        return Ok("started");
                    }
                } else {
                    ready_since = None;
                }
            }
            _ => ready_since = None,
        }
        if Instant::now() >= deadline {
            return Err(format!("did not become {what} within {}s", window.as_secs()));
        }
        if last_note.elapsed() >= Duration::from_secs(15) {
            console.info(&format!("still waiting ({}s)", started.elapsed().as_secs()));
            last_note = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The last [`LOG_TAIL_LINES`] lines the container wrote.
async fn tail_logs(docker: &Docker, id: &str) -> Vec<String> {
    let options =
        LogsOptions { stdout: true, stderr: true, tail: LOG_TAIL_LINES.to_string(), ..LogsOptions::default() };
    let collect = async {
        let mut text = String::new();
        let mut stream = docker.logs(id, Some(options));
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text
    };
    let text = tokio::time::timeout(Duration::from_secs(10), collect).await.unwrap_or_default();
    let lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).filter(|l| !l.is_empty()).collect();
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            strategy: Strategy::Direct,
            phase: Phase::Deploy,
            version_label: "v1-aaaaaaaaaaaa".into(),
            port: 8080,
            timeout: Duration::from_secs(60),
            dry_run: false,
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
