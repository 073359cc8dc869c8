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

pub async fn pull(
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
                Err(DeployError::failed(format!("cannot pull {image}: {reason}"), Status::Unchanged))
            }
        }
        Err(_) => Err(DeployError::failed(format!("pulling {image} took longer than --timeout"), Status::Unchanged)),
    }
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
