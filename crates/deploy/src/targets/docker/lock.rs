//! One deployment per app on a Docker host at a time. The lock is a container named
//! `<app>-lock`, created (never started) by the run that holds it: the engine refuses
//! a second container of the same name, so taking it is atomic on the host itself,
//! whichever runner asks. It records who holds it and until when; a lock past its
//! time (a runner killed mid-run) is taken over with a warning.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse};
use bollard::query_parameters::CreateContainerOptions;
use slipway_contract::Console;

use super::engine::{LABEL_MANAGED, describe, find, remove_force};
use crate::status::Status;
use crate::target::DeployError;

const LABEL_HOLDER: &str = "dev.slipway.lock.holder";
const LABEL_EXPIRES: &str = "dev.slipway.lock.expires";

/// Who holds a lock, and until when (Unix seconds), as its labels say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub by: String,
    expires: u64,
}

impl Holder {
    fn of(lock: &ContainerInspectResponse) -> Self {
        let labels = lock.config.as_ref().and_then(|c| c.labels.as_ref());
        let label = |key: &str| labels.and_then(|labels| labels.get(key));
        Self {
            by: label(LABEL_HOLDER).cloned().unwrap_or_else(|| "someone".to_owned()),
            expires: label(LABEL_EXPIRES).and_then(|v| v.parse().ok()).unwrap_or(0),
        }
    }

    /// How long it still holds the lock; `None` past its deadline.
    fn seconds_left(&self) -> Option<u64> {
        self.expires.checked_sub(unix_now()).filter(|left| *left > 0)
    }
}

/// A held lock; [`AppLock::release`] gives it back.
#[derive(Debug)]
pub struct AppLock {
    name: String,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Who is running: the CI run's URL when there is one, else the host and process.
fn holder() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) =
        (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID"))
    {
        return format!("{server}/{repo}/actions/runs/{run}");
    }
    if let Some(job) = var("CI_JOB_URL") {
        return job;
    }
    let host = var("HOSTNAME").unwrap_or_else(|| "this machine".to_owned());
    format!("pid {} on {host}", std::process::id())
}

impl AppLock {
    pub fn name_for(app: &str) -> String {
        format!("{app}-lock")
    }

    /// Takes the app's lock for `hold` (the run's time left), made from `image` (any
    /// image the engine has: the container never runs).
    pub async fn acquire(
        docker: &Docker,
        app: &str,
        image: &str,
        hold: Duration,
        console: &Console,
    ) -> Result<Self, DeployError> {
        let name = Self::name_for(app);
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(vec!["slipway-deploy-lock".to_owned()]),
            entrypoint: Some(vec![]),
            labels: Some(HashMap::from([
                (LABEL_HOLDER.to_owned(), holder()),
                (LABEL_EXPIRES.to_owned(), (unix_now() + hold.as_secs() + 60).to_string()),
                (LABEL_MANAGED.to_owned(), "true".to_owned()),
            ])),
            ..ContainerCreateBody::default()
        };
        let options = || CreateContainerOptions { name: Some(name.clone()), ..CreateContainerOptions::default() };
        for attempt in 0..2 {
            match docker.create_container(Some(options()), body.clone()).await {
                Ok(_) => return Ok(Self { name }),
                Err(EngineError::DockerResponseServerError { status_code: 409, .. }) if attempt == 0 => {
                    let holder = find(docker, &name).await?.as_ref().map(Holder::of);
                    let by = holder.as_ref().map_or("someone", |h| h.by.as_str());
                    if let Some(left) = holder.as_ref().and_then(Holder::seconds_left) {
                        return Err(DeployError::failed(
                            format!(
                                "another deployment of {app} is running ({by} holds the lock {name} for {left}s more); nothing was changed"
                            ),
                            Status::Busy,
                        ));
                    }
                    console.warning(&format!("taking over the lock {name}: {by} held it past its deadline"));
                    remove_force(docker, &name).await.map_err(|e| {
                        DeployError::failed(format!("cannot remove the stale lock {name}: {e}"), Status::Unchanged)
                    })?;
                }
                Err(error) => {
                    return Err(DeployError::failed(
                        format!("cannot take the lock {name}: {}", describe(&error)),
                        Status::Unchanged,
                    ));
                }
            }
        }
        Err(DeployError::failed(format!("another deployment of {app} took the lock {name} first"), Status::Busy))
    }

    /// Who holds the app's lock now, unless nobody does or its holder is past its
    /// deadline (then a run takes it over).
    pub async fn holder_of(docker: &Docker, app: &str) -> Result<Option<Holder>, DeployError> {
        let held = find(docker, &Self::name_for(app)).await?;
        Ok(held.as_ref().map(Holder::of).filter(|holder| holder.seconds_left().is_some()))
    }

    pub async fn release(self, docker: &Docker, console: &Console) {
        if let Err(error) = remove_force(docker, &self.name).await {
            console.warning(&format!(
                "cannot remove the lock {}: {error}; it lapses a minute after this run's --timeout, or remove it by hand (docker rm {})",
                self.name, self.name
            ));
        }
    }
}
