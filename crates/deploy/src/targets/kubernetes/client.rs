//! The connection to the cluster: the kubeconfig (file, context, exec plugins as kube-rs
//! runs them) or the in-cluster service account, and the one place an API error becomes
//! the run's: 401, 403 (naming the verb and resource), unreachable, each one line.

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::flags::KubernetesFlags;
use crate::status::Status;
use crate::target::DeployError;

/// The longest one request may take, within the run's deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The cluster's configuration, read (files only, no request) and checked.
#[derive(Debug)]
pub struct Connection {
    pub config: Config,
    /// The context's namespace, if it names one.
    pub context_namespace: Option<String>,
}

impl Connection {
    /// The API server's address.
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string().trim_end_matches('/').to_owned()
    }

    pub fn client(&self) -> Result<Client, DeployError> {
        // kube's rustls builds its TLS configuration from the process's provider; the
        // workspace's is ring (another crate may bring aws-lc-rs into the same build).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::try_from(self.config.clone())
            .map_err(|error| DeployError::Usage(format!("cannot set up the Kubernetes client: {error}")))
    }
}

/// Reads `--kubeconfig`, else KUBECONFIG (paths joined as kubectl does), else
/// ~/.kube/config, else the in-cluster service account. A file or context that is not
/// there is bad input (exit 2).
pub async fn connect(flags: &KubernetesFlags, env: &dyn Fn(&str) -> Option<String>) -> Result<Connection, DeployError> {
    let usage = DeployError::Usage;
    let paths: Vec<PathBuf> = match (&flags.kubeconfig, env("KUBECONFIG").filter(|v| !v.is_empty())) {
        (Some(path), _) => vec![path.clone()],
        (None, Some(list)) => std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()).collect(),
        (None, None) => env("HOME")
            .map(|home| Path::new(&home).join(".kube/config"))
            .filter(|path| path.is_file())
            .into_iter()
            .collect(),
    };
    if paths.is_empty() {
        if flags.context.is_some() {
            return Err(usage("--context names a kubeconfig context, but there is no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config)".to_owned()));
        }
        let config = Config::incluster().map_err(|error| {
            usage(format!(
                "no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not inside a cluster ({error}); give the cluster's kubeconfig"
            ))
        })?;
        return Ok(Connection { config: bounded(config), context_namespace: None });
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        if !path.is_file() {
            return Err(usage(format!("the kubeconfig {} does not exist", path.display())));
        }
        let file = Kubeconfig::read_from(path)
            .map_err(|error| usage(format!("cannot read the kubeconfig {}: {error}", path.display())))?;
        merged = Some(match merged {
            None => file,
            Some(earlier) => earlier
                .merge(file)
                .map_err(|error| usage(format!("cannot merge the kubeconfig {}: {error}", path.display())))?,
        });
    }
    let kubeconfig = merged.unwrap_or_default();
    let shown = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
    let context_name =
        match flags.context.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(context) => context.to_owned(),
            None => kubeconfig.current_context.clone().filter(|c| !c.is_empty()).ok_or_else(|| {
                usage(format!("the kubeconfig {shown} has no current-context; name one with --context"))
            })?,
        };
    let Some(context) = kubeconfig.contexts.iter().find(|c| c.name == context_name) else {
        let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(usage(format!(
            "the kubeconfig {shown} has no context `{context_name}`; it has: {}",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    };
    let context_namespace = context.context.as_ref().and_then(|c| c.namespace.clone());
    let options = KubeConfigOptions { context: Some(context_name.clone()), cluster: None, user: None };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|error| usage(format!("the kubeconfig {shown}, context `{context_name}`: {error}")))?;
    Ok(Connection { config: bounded(config), context_namespace })
}

fn bounded(mut config: Config) -> Config {
    config.read_timeout = Some(REQUEST_TIMEOUT);
    config.reset_reader_on_write = true;
    config
}

/// One API call, for messages: `patch deployments.apps shop in namespace prod`.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub verb: &'static str,
    pub resource: &'static str,
    pub name: &'a str,
    pub namespace: &'a str,
}

impl std::fmt::Display for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.name.is_empty() {
            write!(f, " {}", self.name)?;
        }
        write!(f, " in namespace {}", self.namespace)
    }
}

/// Where the run stands when an error comes: before any change (exit 2 for
/// credentials and permissions, `unchanged` otherwise) or after (`unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    BeforeChange,
    AfterChange,
}

/// An API error as the run's error: one line naming what was called and what to do.
pub fn api_error(error: &kube::Error, call: Call<'_>, server: &str, stage: Stage) -> DeployError {
    let status_after = if stage == Stage::BeforeChange { Status::Unchanged } else { Status::Unknown };
    let message = match error {
        kube::Error::Api(status) if status.code == 401 => {
            let line = format!(
                "the Kubernetes API at {server} refused the credentials (401 Unauthorized) to {call}: renew the kubeconfig's token or its exec plugin's login"
            );
            return classify(line, stage, status_after);
        }
        kube::Error::Api(status) if status.code == 403 => {
            let line = format!(
                "the Kubernetes API at {server} forbids slipway to {call} (403 Forbidden: {}); grant it (workflows-examples/kubernetes/rbac.yaml lists what slipway needs)",
                status.message.trim()
            );
            return classify(line, stage, status_after);
        }
        kube::Error::Api(status) => {
            format!("the Kubernetes API at {server} answered {} to {call}: {}", status.code, status.message.trim())
        }
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) | kube::Error::FromUtf8(_) => {
            format!("{call} failed on the Kubernetes API at {server}: {}", root_cause(error))
        }
        // Connecting, TLS, the exec plugin's credentials: the server was not reached.
        other => format!("cannot reach the Kubernetes API at {server} to {call}: {}", root_cause(other)),
    };
    DeployError::failed(message, status_after)
}

fn classify(line: String, stage: Stage, status: Status) -> DeployError {
    match stage {
        Stage::BeforeChange => DeployError::Usage(line),
        Stage::AfterChange => DeployError::failed(line, status),
    }
}

/// The innermost error's text (a connection refused, a timeout), not the chain of wrappers.
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// `future`, or a timeout error once `deadline` has passed.
pub async fn by<T>(
    deadline: Instant,
    call: Call<'_>,
    future: impl Future<Output = Result<T, kube::Error>>,
) -> Result<Result<T, kube::Error>, DeployError> {
    tokio::time::timeout_at(deadline.into(), future)
        .await
        .map_err(|_| DeployError::failed(format!("--timeout ran out waiting to {call}"), Status::TimedOut))
}
