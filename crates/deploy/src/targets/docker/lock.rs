//! One deployment per app on a Docker host at a time. The lock is a container named
//! `<app>-lock`, created (never started) by the run that holds it: the engine refuses
//! a second container of the same name, so taking it is atomic on the host itself,
//! whichever runner asks. It records who holds it and until when; a lock past its
//! time (a runner killed mid-run) is taken over with a warning.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptions;
use slipway_contract::Console;

use super::engine::{LABEL_MANAGED, describe, find, remove_force};
use crate::status::Status;
use crate::target::DeployError;

const LABEL_HOLDER: &str = "dev.slipway.lock.holder";
const LABEL_EXPIRES: &str = "dev.slipway.lock.expires";

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
                    let held = find(docker, &name).await?;
                    let labels = held.as_ref().and_then(|c| c.config.as_ref()).and_then(|c| c.labels.clone());
                    let labels = labels.unwrap_or_default();
                    let by = labels.get(LABEL_HOLDER).cloned().unwrap_or_else(|| "someone".to_owned());
                    let expires = labels.get(LABEL_EXPIRES).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    if expires > unix_now() {
                        return Err(DeployError::failed(
                            format!(
                                "another deployment of {app} is running ({by} holds the lock {name} for {}s more); nothing was changed",
                                expires - unix_now()
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

    /// Whether someone holds the app's lock now (for the plan).
    pub async fn holder_of(docker: &Docker, app: &str) -> Result<Option<String>, DeployError> {
        let held = find(docker, &Self::name_for(app)).await?;
        Ok(held.map(|container| {
            let labels = container.config.and_then(|c| c.labels).unwrap_or_default();
            let expires = labels.get(LABEL_EXPIRES).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let by = labels.get(LABEL_HOLDER).cloned().unwrap_or_else(|| "someone".to_owned());
            if expires > unix_now() { by } else { format!("{by} (past its deadline: will be taken over)") }
        }))
    }

    pub async fn release(self, docker: &Docker, console: &Console) {
        if let Err(error) = remove_force(docker, &self.name).await {
            console.warning(&format!("cannot remove the lock {}: {error}; remove it by hand", self.name));
        }
    }
}
