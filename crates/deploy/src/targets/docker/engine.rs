//! The Docker Engine calls the target makes, each ending in one line a user can act on:
//! connecting, finding and juggling containers, pulling with the registry's credentials,
//! reading health checks and logs.

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as EngineError;
use bollard::models::{ContainerInspectResponse, ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateImageOptions, LogsOptions, RemoveContainerOptions, RenameContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use oci_client::secrets::RegistryAuth;
use slipway_contract::Console;
use slipway_registry::ImageReference;
use slipway_registry::auth::{self, ProvidedLogin};
use std::time::{Duration, Instant};

use super::flags::Engine;
use crate::status::Status;
use crate::target::DeployError;

/// The label holding the deployed version's label.
pub const LABEL_VERSION: &str = "dev.slipway.version";
/// The label holding the image reference the container was created from.
pub const LABEL_IMAGE: &str = "dev.slipway.image";
/// Marks containers slipway created.
pub const LABEL_MANAGED: &str = "dev.slipway.managed";

/// How long the old container gets to stop (SIGTERM, then SIGKILL).
const STOP_GRACE_SECONDS: i32 = 30;
/// Log lines of a failed container kept for the error's detail.
pub const LOG_TAIL_LINES: usize = 20;

/// Connects to the engine `DOCKER_HOST` names (or the local one) and agrees on an API version.
pub async fn connect(engine: &Engine) -> Result<Docker, DeployError> {
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
                engine.describe(),
                describe(&error)
            ),
            Status::Unchanged,
        )
    })
}

/// The engine's message without bollard's wrapping.
pub fn describe(error: &EngineError) -> String {
    match error {
        EngineError::DockerResponseServerError { status_code, message } => {
            format!("{} ({status_code})", message.trim())
        }
        EngineError::DockerStreamError { error } => error.trim().to_owned(),
        other => other.to_string(),
    }
}

pub fn is_not_found(error: &EngineError) -> bool {
    matches!(error, EngineError::DockerResponseServerError { status_code: 404, .. })
}

pub async fn find(docker: &Docker, name: &str) -> Result<Option<ContainerInspectResponse>, DeployError> {
    match docker.inspect_container(name, None).await {
        Ok(container) => Ok(Some(container)),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(DeployError::failed(
            format!("cannot inspect the container {name}: {}", describe(&error)),
            Status::Unchanged,
        )),
    }
}

pub async fn remove_if_exists(docker: &Docker, name: &str) -> Result<(), DeployError> {
    match remove_force(docker, name).await {
        Ok(()) => Ok(()),
        Err(error) => {
            Err(DeployError::failed(format!("cannot remove the container {name}: {error}"), Status::Unchanged))
        }
    }
}

pub async fn remove_force(docker: &Docker, name: &str) -> Result<(), String> {
    let options = RemoveContainerOptions { force: true, ..RemoveContainerOptions::default() };
    match docker.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(error) if is_not_found(&error) => Ok(()),
        Err(error) => Err(describe(&error)),
    }
}

pub async fn stop(docker: &Docker, id: &str) -> Result<(), String> {
    let options = StopContainerOptions { t: Some(STOP_GRACE_SECONDS), ..StopContainerOptions::default() };
    docker
        .stop_container(id, Some(options))
        .await
        .map_err(|e| format!("cannot stop the container {id}: {}", describe(&e)))
}

pub async fn set_restart_policy(docker: &Docker, id: &str, name: RestartPolicyNameEnum) -> Result<(), String> {
    let update = ContainerUpdateBody {
        restart_policy: Some(RestartPolicy { name: Some(name), maximum_retry_count: None }),
        ..ContainerUpdateBody::default()
    };
    docker
        .update_container(id, update)
        .await
        .map_err(|e| format!("cannot set the restart policy of {id} to {name}: {}", describe(&e)))
}

pub async fn rename(docker: &Docker, from: &str, to: &str) -> Result<(), String> {
    docker
        .rename_container(from, RenameContainerOptions { name: to.to_owned() })
        .await
        .map_err(|e| format!("cannot rename the container {from} to {to}: {}", describe(&e)))
}

/// The container's version label, else its image.
pub fn version_of(container: &ContainerInspectResponse) -> String {
    let config = container.config.as_ref();
    config
        .and_then(|c| c.labels.as_ref())
        .and_then(|labels| labels.get(LABEL_VERSION))
        .filter(|label| !label.is_empty())
        .cloned()
        .or_else(|| config.and_then(|c| c.image.clone()))
        .unwrap_or_default()
}

pub fn state_word(container: &ContainerInspectResponse) -> String {
    container
        .state
        .as_ref()
        .and_then(|s| s.status)
        .map(|status| status.to_string())
        .unwrap_or_else(|| "unknown state".to_owned())
}

/// The registry's credentials as push-image resolves them (ECR's login among them), in
/// the engine's form.
pub fn docker_credentials(
    image: &ImageReference,
    provided: Option<&ProvidedLogin>,
    console: &Console,
) -> Option<DockerCredentials> {
    let registry = image.registry();
    let credentials = auth::resolve(registry, None, provided, console);
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
pub fn pull_error_is_usage(error: &EngineError, reason: &str) -> bool {
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

/// The pause before a pull's second attempt; it doubles up to [`PULL_RETRY_MAX`].
const PULL_RETRY_FIRST: Duration = Duration::from_secs(1);
const PULL_RETRY_MAX: Duration = Duration::from_secs(8);

/// Pulls `image` through the engine. A failure that is not the reference's or the
/// credentials' (a registry's 5xx or 429, a connection cut, a body cut short, after the
/// engine's own layer retries) is retried with backoff while `deadline` leaves time; the
/// whole pull, retries included, ends at `deadline`.
pub async fn pull(
    docker: &Docker,
    image: &ImageReference,
    credentials: Option<DockerCredentials>,
    deadline: Instant,
    console: &Console,
) -> Result<(), DeployError> {
    let _group = console.group(&format!("pull {image}"));
    let mut attempt = 1u32;
    let mut pause = PULL_RETRY_FIRST;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let error = match tokio::time::timeout(remaining, pull_once(docker, image, credentials.clone(), console)).await
        {
            Ok(Ok(layers)) => {
                console.info(&format!("pulled {image} ({layers} new layers)"));
                return Ok(());
            }
            Ok(Err(error)) => error,
            Err(_) => {
                return Err(DeployError::failed(
                    format!("pulling {image} took longer than --timeout ({attempt} attempt(s))"),
                    Status::Unchanged,
                ));
            }
        };
        let reason = describe(&error);
        if pull_error_is_usage(&error, &reason) {
            return Err(DeployError::Usage(format!(
                "cannot pull {image}: {reason}; check the reference (push-image's image-ref) and the registry credentials (docker's config.json, DOCKER_CONFIG)"
            )));
        }
        if deadline.saturating_duration_since(Instant::now()) <= pause {
            return Err(DeployError::failed(
                format!("cannot pull {image}: {reason} ({attempt} attempt(s); --timeout leaves no time for another)"),
                Status::Unchanged,
            ));
        }
        console.info(&format!("pull attempt {attempt} failed: {reason}; retrying in {}s", pause.as_secs()));
        slipway_contract::interrupt::sleep(pause).await.map_err(|interrupted| {
            DeployError::failed(
                format!("cannot pull {image}: {reason}; deploy was {interrupted} before it retried"),
                Status::Unchanged,
            )
        })?;
        attempt += 1;
        pause = (pause * 2).min(PULL_RETRY_MAX);
    }
}

/// One pull through the engine; the number of layers it downloaded.
async fn pull_once(
    docker: &Docker,
    image: &ImageReference,
    credentials: Option<DockerCredentials>,
    console: &Console,
) -> Result<usize, EngineError> {
    let options = CreateImageOptions {
        from_image: Some(image.name()),
        tag: Some(image.digest().or(image.tag()).unwrap_or("latest").to_owned()),
        ..CreateImageOptions::default()
    };
    let mut stream = docker.create_image(Some(options), None, credentials);
    let mut layers = 0usize;
    while let Some(item) = stream.next().await {
        let info = item?;
        match (info.id.as_deref(), info.status.as_deref()) {
            (_, Some("Pull complete")) => layers += 1,
            (None, Some(status)) => console.info(status),
            _ => {}
        }
    }
    Ok(layers)
}

pub fn healthcheck_is_set(test: Option<&Vec<String>>) -> bool {
    test.and_then(|test| test.first()).is_some_and(|first| first != "NONE")
}

pub async fn image_has_healthcheck(docker: &Docker, image: &str) -> Result<bool, DeployError> {
    let inspect = docker.inspect_image(image).await.map_err(|e| {
        DeployError::failed(format!("cannot inspect the pulled image {image}: {}", describe(&e)), Status::Unchanged)
    })?;
    Ok(healthcheck_is_set(inspect.config.as_ref().and_then(|c| c.healthcheck.as_ref()).and_then(|h| h.test.as_ref())))
}

pub async fn container_has_healthcheck(docker: &Docker, container: &ContainerInspectResponse) -> bool {
    let config = container.config.as_ref();
    if let Some(healthcheck) = config.and_then(|c| c.healthcheck.as_ref()) {
        return healthcheck_is_set(healthcheck.test.as_ref());
    }
    match config.and_then(|c| c.image.as_deref()) {
        Some(image) => image_has_healthcheck(docker, image).await.unwrap_or(false),
        None => false,
    }
}

/// The last [`LOG_TAIL_LINES`] lines the container wrote.
pub async fn tail_logs(docker: &Docker, id: &str) -> Vec<String> {
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
