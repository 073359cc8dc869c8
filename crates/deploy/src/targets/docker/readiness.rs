//! When a started container counts as serving: running without restarts, and healthy
//! (its image's health check) or its published port answering for a settle time.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum, RestartPolicyNameEnum};
use slipway_contract::{Console, interrupt};
use tokio::io::AsyncReadExt;

use super::engine::{describe, set_restart_policy};

/// The longest deploy waits for a started container to be ready (within the deadline).
const READINESS_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How long a container must keep running after its port first answers.
const SETTLE: Duration = Duration::from_secs(2);
/// How often a starting container is inspected and its port probed: its readiness is noticed
/// within this much (a local engine answers an inspect in about a millisecond).
const POLL: Duration = Duration::from_millis(100);

/// How long readiness may be waited for: the window, cut short by the run's deadline.
pub fn readiness_window(deadline: Instant, now: Instant) -> Duration {
    READINESS_WINDOW.min(deadline.saturating_duration_since(now))
}

/// Waits until a started container is ready (by the run's deadline), then lets Docker
/// restart it from now on (restarts stay off until then, so a crash shows its exit code
/// instead of a loop).
pub async fn start_serving(
    docker: &Docker,
    id: &str,
    healthcheck: bool,
    probe: Option<(String, u16)>,
    deadline: Instant,
    console: &Console,
) -> Result<&'static str, String> {
    let window = readiness_window(deadline, Instant::now());
    let health = wait_ready(docker, id, healthcheck, probe, window, console).await?;
    set_restart_policy(docker, id, RestartPolicyNameEnum::UNLESS_STOPPED).await?;
    Ok(health)
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
        interrupt::sleep(POLL)
            .await
            .map_err(|interrupted| format!("was still starting when deploy was {interrupted}"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readiness_window_ends_by_the_deadline() {
        let now = Instant::now();
        assert_eq!(readiness_window(now + Duration::from_secs(3600), now), READINESS_WINDOW);
        assert_eq!(readiness_window(now + Duration::from_secs(7), now), Duration::from_secs(7));
        assert_eq!(readiness_window(now, now + Duration::from_secs(1)), Duration::ZERO, "a passed deadline");
    }
}
