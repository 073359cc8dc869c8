//! The swap deploy and rollback share: park the live container, put the incoming one
//! under the live name, wait until it serves; on failure put the parked one back. A
//! published port is bound by one container at a time, so the two never run together.

use std::time::Instant;

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use slipway_contract::Console;

use super::engine::{describe, find, remove_force, remove_if_exists, rename, stop, tail_logs, version_of};
use super::readiness::start_serving;
use crate::status::Status;
use crate::target::DeployError;

/// The names one deployment juggles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The container that serves.
    pub live: String,
    /// A new container, created and not started yet.
    pub next: String,
    /// The old live container, stopped, while its replacement starts.
    pub replaced: String,
    /// The version before the live one, stopped, for `--rollback`.
    pub previous: String,
}

impl Names {
    pub fn new(name: &str) -> Self {
        Self {
            live: name.to_owned(),
            next: format!("{name}-next"),
            replaced: format!("{name}-replaced"),
            previous: format!("{name}-previous"),
        }
    }
}

/// The container that is to serve: created for a deploy, the previous one for a rollback.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub id: String,
    pub version: String,
    /// Its image has a health check, which then decides readiness.
    pub healthcheck: bool,
    /// Where its published port answers from here, if it does.
    pub probe: Option<(String, u16)>,
    /// What becomes of it when it does not serve.
    pub on_failure: OnFailure,
    /// How the failure's message names it: "the new container (v2)".
    pub described_as: String,
}

/// What becomes of an incoming container that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// A new container: removed.
    Remove,
    /// The previous version: stopped and kept as `<name>-previous`, as it was.
    KeepAsPrevious,
}

/// How a failed run left the live container.
#[derive(Debug)]
pub enum Restore {
    /// The replaced container runs again.
    Restored,
    /// There was no container to restore.
    Nothing,
    Failed(String),
}

impl Restore {
    pub fn status(&self) -> Status {
        match self {
            Self::Restored => Status::Restored,
            Self::Nothing | Self::Failed(_) => Status::Failed,
        }
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

/// Puts `incoming` in the place of `live` (if any) and waits until it serves, by
/// `deadline`. Returns its health word; on failure the live container runs again.
pub async fn replace(
    docker: &Docker,
    names: &Names,
    live: Option<&ContainerInspectResponse>,
    incoming: &Incoming,
    deadline: Instant,
    console: &Console,
) -> Result<&'static str, DeployError> {
    let live_version = live.map(version_of).unwrap_or_default();
    if let Some(live) = live
        && let Err(error) = park_live(docker, names, live, console).await
    {
        if incoming.on_failure == OnFailure::Remove {
            let _ = remove_force(docker, &incoming.id).await;
        }
        let restore = restore_parked(docker, names, console).await;
        return Err(DeployError::failed(format!("{error}; {}", restore.sentence_with("")), restore.status()));
    }
    let start = async {
        rename(docker, &incoming.id, &names.live).await?;
        console.info(&format!("starting {} ({})", names.live, incoming.version));
        docker
            .start_container(&incoming.id, None)
            .await
            .map_err(|e| format!("the engine cannot start {}: {}", incoming.described_as, describe(&e)))
    };
    let ready = match start.await {
        Ok(()) => {
            start_serving(docker, &incoming.id, incoming.healthcheck, incoming.probe.clone(), deadline, console).await
        }
        Err(reason) => Err(reason),
    };
    let reason = match ready {
        Ok(health) => {
            if live.is_some() {
                retire_parked(docker, names, console).await;
            }
            return Ok(health);
        }
        Err(reason) => reason,
    };
    let logs = tail_logs(docker, &incoming.id).await;
    match incoming.on_failure {
        OnFailure::Remove => {
            if let Err(error) = remove_force(docker, &incoming.id).await {
                console.warning(&format!("cannot remove the failed container {}: {error}", incoming.id));
            }
        }
        OnFailure::KeepAsPrevious => {
            let _ = stop(docker, &incoming.id).await;
            if let Err(error) = rename(docker, &incoming.id, &names.previous).await {
                console.warning(&format!("{error}; removing it"));
                let _ = remove_force(docker, &incoming.id).await;
            }
        }
    }
    let restore = if live.is_some() { restore_parked(docker, names, console).await } else { Restore::Nothing };
    let mut detail = vec![format!("last {} log lines of {}:", logs.len(), incoming.described_as)];
    detail.extend(logs.into_iter().map(|line| format!("  {line}")));
    if detail.len() == 1 {
        detail = vec![format!("{} logged nothing", incoming.described_as)];
    }
    Err(DeployError::Failed {
        message: format!("{} {reason}; {}", incoming.described_as, restore.sentence_with(&live_version)),
        status: restore.status(),
        detail,
    })
}

/// Stops the live container and renames it `<name>-replaced`, freeing its name and ports.
async fn park_live(
    docker: &Docker,
    names: &Names,
    live: &ContainerInspectResponse,
    console: &Console,
) -> Result<(), String> {
    let id = live.id.clone().unwrap_or_else(|| names.live.clone());
    console.info(&format!("stopping {} ({})", names.live, version_of(live)));
    stop(docker, &id).await?;
    remove_if_exists(docker, &names.replaced).await.map_err(|e| e.to_string())?;
    rename(docker, &id, &names.replaced).await
}

/// Puts `<name>-replaced` back as `<name>` and starts it.
async fn restore_parked(docker: &Docker, names: &Names, console: &Console) -> Restore {
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
async fn retire_parked(docker: &Docker, names: &Names, console: &Console) {
    if let Err(error) = remove_if_exists(docker, &names.previous).await {
        console.warning(&format!("cannot remove the older {}: {error}", names.previous));
        return;
    }
    if let Err(error) = rename(docker, &names.replaced, &names.previous).await {
        console.warning(&format!("{error}; {} is left as it is", names.replaced));
    }
}

/// What an earlier run that died halfway left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// `<name>-next` exists: a container created and never swapped in.
    pub next: bool,
    /// `<name>-replaced` exists: a live container parked and never restored or retired.
    pub replaced: bool,
    /// `<name>` exists beside it.
    pub live: bool,
}

impl Leftovers {
    pub async fn find(docker: &Docker, names: &Names) -> Result<Self, DeployError> {
        Ok(Self {
            next: find(docker, &names.next).await?.is_some(),
            replaced: find(docker, &names.replaced).await?.is_some(),
            live: find(docker, &names.live).await?.is_some(),
        })
    }

    pub fn any(&self) -> bool {
        self.next || self.replaced
    }

    /// The plan's words for the clean-up.
    pub fn steps(&self, names: &Names) -> Vec<String> {
        let mut steps = Vec::new();
        if self.next {
            steps.push(format!("remove {} left by an earlier run", names.next));
        }
        if self.replaced {
            steps.push(if self.live {
                format!("keep {} (left by an earlier run) as {}", names.replaced, names.previous)
            } else {
                format!("put {} (left parked by an earlier run) back as {}", names.replaced, names.live)
            });
        }
        steps
    }

    /// Cleans up: the unstarted container goes; a parked one is put back when nothing
    /// serves, else kept as the previous version.
    pub async fn recover(&self, docker: &Docker, names: &Names, console: &Console) -> Result<(), DeployError> {
        if self.next {
            console.warning(&format!("removing {} left by an earlier run", names.next));
            remove_if_exists(docker, &names.next).await?;
        }
        if self.replaced {
            if self.live {
                console.warning(&format!(
                    "{} was left by an earlier run; keeping it as {}",
                    names.replaced, names.previous
                ));
                retire_parked(docker, names, console).await;
            } else {
                console.warning(&format!(
                    "{} was left parked by an earlier run; putting it back as {}",
                    names.replaced, names.live
                ));
                if let Restore::Failed(error) = restore_parked(docker, names, console).await {
                    return Err(DeployError::failed(
                        format!("cannot put {} back: {error}", names.replaced),
                        Status::Failed,
                    ));
                }
            }
        }
        Ok(())
    }
}
