//! The Kubernetes target's flags, and the [`Settings`] they make once checked: names
//! (DNS-1123), quantities, replicas and the rolling budget, all refused before any request.

use std::path::PathBuf;
use std::time::Duration;

use crate::args::AppFlags;
use crate::rollout::{Amount, Rollout, Strategy};
use crate::target::DeployError;

/// The Kubernetes target's flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubernetesFlags {
    /// Kubernetes: the namespace (default: the kubeconfig context's). `default` is refused
    /// unless named here: an application gets a namespace of its own.
    #[arg(long, env = "SLIPWAY_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Kubernetes: create the namespace (server-side apply of a Namespace object).
    #[arg(long, env = "SLIPWAY_CREATE_NAMESPACE")]
    pub create_namespace: bool,

    /// Kubernetes: the kubeconfig file. Default: KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account.
    #[arg(long, env = "SLIPWAY_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubernetes: the kubeconfig context. Default: its current-context.
    #[arg(long, env = "SLIPWAY_KUBE_CONTEXT", value_name = "CONTEXT")]
    pub context: Option<String>,

    /// Kubernetes: the pods the Deployment keeps (a PodDisruptionBudget is added from 2 on).
    #[arg(long, env = "SLIPWAY_REPLICAS", value_name = "COUNT", default_value_t = 2)]
    pub replicas: u32,

    /// Kubernetes: the CPU each pod requests (a quantity: 500m, 1).
    #[arg(long, env = "SLIPWAY_CPU_REQUEST", value_name = "QUANTITY", default_value = "500m")]
    pub cpu_request: String,

    /// Kubernetes: a CPU limit. Default: none, as a limit throttles the JVM's JIT and GC
    /// threads (the rendered Deployment says so to checkov).
    #[arg(long, env = "SLIPWAY_CPU_LIMIT", value_name = "QUANTITY")]
    pub cpu_limit: Option<String>,

    /// Kubernetes: the memory each pod requests. Default: the memory limit, so the JVM's
    /// heap (a share of the limit) is never overcommitted.
    #[arg(long, env = "SLIPWAY_MEMORY_REQUEST", value_name = "QUANTITY")]
    pub memory_request: Option<String>,

    /// Kubernetes: the memory limit (a quantity: 768Mi, 1Gi).
    #[arg(long, env = "SLIPWAY_MEMORY_LIMIT", value_name = "QUANTITY", default_value = "768Mi")]
    pub memory_limit: String,

    /// Kubernetes: the pods' DNS policy, written out.
    #[arg(long, env = "SLIPWAY_DNS_POLICY", value_enum, default_value_t = DnsPolicy::ClusterFirst)]
    pub dns_policy: DnsPolicy,

    /// Kubernetes: the service account the pods run as; its token is mounted only then.
    #[arg(long, env = "SLIPWAY_SERVICE_ACCOUNT", value_name = "NAME")]
    pub service_account: Option<String>,

    /// Kubernetes: the user (and group) the container runs as, non-root: UID[:GID].
    /// Default: the image config's User (read from the registry; containerize's is
    /// 65532:65532) when numeric and not root; a user name or root there is refused
    /// without this flag.
    #[arg(long, env = "SLIPWAY_RUN_AS", value_name = "UID[:GID]")]
    pub run_as: Option<String>,

    /// Kubernetes: the path Prometheus scrapes (annotations on the pods).
    #[arg(long, env = "SLIPWAY_METRICS_PATH", value_name = "PATH")]
    pub metrics_path: Option<String>,

    /// Kubernetes: an environment variable of the app kept in the Secret <name>-env;
    /// its value is read from this run's environment at apply time, never rendered;
    /// repeatable.
    #[arg(long, env = "SLIPWAY_SECRET_ENV", value_name = "NAME", value_delimiter = '\n')]
    pub secret_env: Vec<String>,

    /// Kubernetes: where the container finds a writable configuration volume (an emptyDir,
    /// or --config-claim's PersistentVolumeClaim).
    #[arg(long, env = "SLIPWAY_CONFIG_VOLUME", value_name = "PATH")]
    pub config_volume: Option<String>,

    /// Kubernetes: the PersistentVolumeClaim mounted at --config-volume.
    #[arg(long, env = "SLIPWAY_CONFIG_CLAIM", value_name = "NAME", requires = "config_volume")]
    pub config_claim: Option<String>,

    /// Kubernetes: route --host through this Gateway API Gateway (NAME, or NAME/NAMESPACE
    /// for one in another namespace) with an HTTPRoute (gateway.networking.k8s.io/v1)
    /// instead of an Ingress; TLS is the Gateway listener's. A canary's steps are then the
    /// route's backend weights, exactly.
    #[arg(long, env = "SLIPWAY_GATEWAY", value_name = "NAME[/NAMESPACE]", requires = "host")]
    pub gateway: Option<String>,

    /// Kubernetes: the TLS Secret (existing) for the --host Ingress.
    #[arg(long, env = "SLIPWAY_TLS_SECRET", value_name = "NAME", requires = "host")]
    pub tls_secret: Option<String>,

    /// Kubernetes: the Ingress's class (default: the cluster's default class).
    #[arg(long, env = "SLIPWAY_INGRESS_CLASS", value_name = "NAME", requires = "host")]
    pub ingress_class: Option<String>,

    /// Kubernetes: the URL the app is reached at (the url output). Default: https://<host>
    /// with --tls-secret or --gateway, http://<host>, else the Service's address inside the
    /// cluster.
    #[arg(long, env = "SLIPWAY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Kubernetes, canary and blue-green: the base URL where the new version alone answers,
    /// for the analysis's probes and the url output while it is not live yet: the Service
    /// <name>-canary (canary) or <name>-preview (blue-green) as this runner reaches it (an
    /// Ingress or proxy you route to it). Default: the Service's address inside the
    /// cluster, http://<service>.<namespace>.svc.cluster.local, which a runner in the
    /// cluster reaches.
    #[arg(long, env = "SLIPWAY_PREVIEW_URL", value_name = "URL")]
    pub preview_url: Option<String>,

    /// Kubernetes: take fields another field manager owns (server-side apply's force);
    /// without it a conflict fails the run naming the field and its owner.
    #[arg(long, env = "SLIPWAY_FORCE_CONFLICTS")]
    pub force_conflicts: bool,

    /// Kubernetes: write the objects apply would send, as multi-document YAML, to FILE
    /// (- for standard output) and stop; no cluster is contacted. Secrets by name only.
    #[arg(long, env = "SLIPWAY_RENDER", value_name = "FILE")]
    pub render: Option<String>,
}

/// The pods' `dnsPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsPolicy {
    #[default]
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
}

impl DnsPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterFirst => "ClusterFirst",
            Self::ClusterFirstWithHostNet => "ClusterFirstWithHostNet",
            Self::Default => "Default",
            Self::None => "None",
        }
    }
}

/// The canary's Deployment and Service are `<name>-canary`.
pub const CANARY_SUFFIX: &str = "-canary";
/// Blue-green's preview Service is `<name>-preview`; its Deployments `<name>-blue` and `<name>-green`.
pub const PREVIEW_SUFFIX: &str = "-preview";

/// The default rolling budget: a quarter more pods while rolling, none missing.
pub const DEFAULT_MAX_SURGE: Amount = Amount::Percent(25);
pub const DEFAULT_MAX_UNAVAILABLE: Amount = Amount::Count(0);

/// How the Deployment replaces its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    Rolling { max_surge: Amount, max_unavailable: Amount },
    Recreate,
}

/// The target's settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub name: String,
    /// `None` until the kubeconfig's context names it (see [`Settings::namespace_from_context`]).
    pub namespace: Option<String>,
    pub create_namespace: bool,
    pub replicas: u32,
    pub update: Update,
    pub cpu_request: Quantity,
    pub cpu_limit: Option<Quantity>,
    pub memory_request: Quantity,
    pub memory_limit: Quantity,
    pub dns_policy: DnsPolicy,
    pub service_account: Option<String>,
    pub run_as_user: i64,
    pub run_as_group: i64,
    /// No `--run-as`: the ids are the image's (see [`Settings::use_image_user`]); until
    /// then they are root's, which `runAsNonRoot` refuses to start.
    pub run_as_from_image: bool,
    pub check: String,
    pub metrics_path: Option<String>,
    pub secret_env: Vec<String>,
    pub config_volume: Option<ConfigVolume>,
    pub host: Option<String>,
    pub tls_secret: Option<String>,
    pub ingress_class: Option<String>,
    /// `--gateway`: the HTTPRoute's parent, instead of an Ingress.
    pub gateway: Option<GatewayRef>,
    pub public_url: Option<String>,
    /// Where the canary's or the new colour's Service answers this runner (`--preview-url`).
    pub preview_url: Option<String>,
    pub strategy: Strategy,
    pub port: u16,
    pub force_conflicts: bool,
    /// `progressDeadlineSeconds`: inside `--timeout`, so the controller's own verdict
    /// comes before ours.
    pub progress_deadline_seconds: i32,
}

/// A Gateway API Gateway: its name, and its namespace when not the app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRef {
    pub name: String,
    pub namespace: Option<String>,
}

/// Where the configuration volume is mounted, and what backs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVolume {
    pub mount_path: String,
    /// A PersistentVolumeClaim's name; `None` for an emptyDir.
    pub claim: Option<String>,
}

impl Settings {
    /// Checks the flags against each other and the rollout (exit 2 on any of them).
    pub fn new(
        app: &AppFlags,
        flags: &KubernetesFlags,
        rollout: &Rollout,
        port: u16,
        timeout: Duration,
    ) -> Result<Self, DeployError> {
        let usage = DeployError::Usage;
        let name = app.name.trim().to_owned();
        dns_1035_label("--name", &name).map_err(usage)?;
        // Objects derived from the name (`<name>-env`, `<name>-pdb`) stay within 63.
        // Objects derived from the name: `<name>-canary`, `<name>-preview` (Services, DNS-1035).
        let longest = match rollout.strategy {
            Strategy::Canary => 63 - CANARY_SUFFIX.len(),
            Strategy::BlueGreen => 63 - PREVIEW_SUFFIX.len(),
            _ => 58,
        };
        if name.len() > longest {
            return Err(usage(format!(
                "--name `{name}` is longer than {longest} characters (--strategy {} adds a suffix to it)",
                rollout.strategy
            )));
        }
        let namespace = flags.namespace.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        if let Some(namespace) = &namespace {
            dns_1123_label("--namespace", namespace).map_err(usage)?;
        }
        if flags.replicas == 0 {
            return Err(usage(
                "--replicas 0 would deploy nothing; give 1 or more (2 or more keeps the app up while nodes drain)"
                    .to_owned(),
            ));
        }
        let update = match rollout.strategy {
            Strategy::Direct => Update::Recreate,
            _ => {
                let max_surge = rollout.max_surge.unwrap_or(DEFAULT_MAX_SURGE);
                let max_unavailable = rollout.max_unavailable.unwrap_or(DEFAULT_MAX_UNAVAILABLE);
                if max_surge.is_zero() && max_unavailable.is_zero() {
                    return Err(usage(
                        "--max-surge and --max-unavailable cannot both be 0: the rollout could never move".to_owned(),
                    ));
                }
                Update::Rolling { max_surge, max_unavailable }
            }
        };
        let cpu_request = Quantity::parse("--cpu-request", &flags.cpu_request).map_err(usage)?;
        let cpu_limit =
            flags.cpu_limit.as_deref().map(|q| Quantity::parse("--cpu-limit", q)).transpose().map_err(usage)?;
        let memory_limit = Quantity::parse("--memory-limit", &flags.memory_limit).map_err(usage)?;
        let memory_request = match flags.memory_request.as_deref() {
            Some(text) => Quantity::parse("--memory-request", text).map_err(usage)?,
            None => memory_limit.clone(),
        };
        if memory_request.value > memory_limit.value {
            return Err(usage(format!(
                "--memory-request {memory_request} is more than --memory-limit {memory_limit}; Kubernetes refuses a request above its limit"
            )));
        }
        if let Some(limit) = &cpu_limit
            && cpu_request.value > limit.value
        {
            return Err(usage(format!(
                "--cpu-request {cpu_request} is more than --cpu-limit {limit}; Kubernetes refuses a request above its limit"
            )));
        }
        let check = app.first_check().unwrap_or("/health").to_owned();
        http_path("--check", &check).map_err(usage)?;
        let metrics_path = flags.metrics_path.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned);
        if let Some(path) = &metrics_path {
            http_path("--metrics-path", path).map_err(usage)?;
        }
        let run_as_from_image = flags.run_as.as_deref().is_none_or(|text| text.trim().is_empty());
        let (run_as_user, run_as_group) = match flags.run_as.as_deref().filter(|_| !run_as_from_image) {
            Some(text) => run_as(text).map_err(usage)?,
            None => (0, 0),
        };
        let service_account = named(flags.service_account.as_deref(), "--service-account", dns_1123_subdomain)?;
        let mut secret_env = Vec::new();
        for variable in flags.secret_env.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            env_name(variable).map_err(usage)?;
            if !secret_env.iter().any(|known| known == variable) {
                secret_env.push(variable.to_owned());
            }
        }
        let config_volume = match flags.config_volume.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(path) => {
                if !path.starts_with('/') || path == "/" || path == "/tmp" {
                    return Err(usage(format!(
                        "--config-volume `{path}` is not an absolute directory of its own (not / or /tmp)"
                    )));
                }
                let claim = named(flags.config_claim.as_deref(), "--config-claim", dns_1123_subdomain)?;
                Some(ConfigVolume { mount_path: path.to_owned(), claim })
            }
            None => None,
        };
        let host = app.host.as_deref().map(str::trim).filter(|h| !h.is_empty()).map(str::to_ascii_lowercase);
        if let Some(host) = &host {
            dns_1123_subdomain("--host", host.strip_prefix("*.").unwrap_or(host)).map_err(usage)?;
        }
        let tls_secret = named(flags.tls_secret.as_deref(), "--tls-secret", dns_1123_subdomain)?;
        let ingress_class = named(flags.ingress_class.as_deref(), "--ingress-class", dns_1123_subdomain)?;
        let gateway = match flags.gateway.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
            Some(text) => {
                let (name, namespace) = match text.split_once('/') {
                    Some((name, namespace)) => (name, Some(namespace)),
                    None => (text, None),
                };
                dns_1123_subdomain("--gateway", name).map_err(usage)?;
                if let Some(namespace) = namespace {
                    dns_1123_label("--gateway's namespace", namespace).map_err(usage)?;
                }
                for (flag, given) in
                    [("--tls-secret", tls_secret.is_some()), ("--ingress-class", ingress_class.is_some())]
                {
                    if given {
                        return Err(usage(format!(
                            "{flag} is for the --host Ingress; with --gateway an HTTPRoute takes its place, and TLS is the Gateway listener's (its certificateRefs)"
                        )));
                    }
                }
                Some(GatewayRef { name: name.to_owned(), namespace: namespace.map(str::to_owned) })
            }
            None => None,
        };
        let preview_url = match flags.preview_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                if !rollout.strategy.is_phased() {
                    return Err(usage(format!(
                        "--preview-url is where a canary or a blue-green preview answers; --strategy {} has neither",
                        rollout.strategy
                    )));
                }
                Some(crate::targets::base_url("--preview-url", url).map_err(usage)?)
            }
            None => None,
        };
        if port == 0 {
            return Err(usage("--port 0 is not a port the container can listen on".to_owned()));
        }
        Ok(Self {
            name,
            namespace,
            create_namespace: flags.create_namespace,
            replicas: flags.replicas,
            update,
            cpu_request,
            cpu_limit,
            memory_request,
            memory_limit,
            dns_policy: flags.dns_policy,
            service_account,
            run_as_user,
            run_as_group,
            run_as_from_image,
            check,
            metrics_path,
            secret_env,
            config_volume,
            host,
            tls_secret,
            ingress_class,
            gateway,
            public_url: flags.public_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned),
            preview_url,
            strategy: rollout.strategy,
            port,
            force_conflicts: flags.force_conflicts,
            progress_deadline_seconds: progress_deadline(timeout),
        })
    }

    /// The ids of the image's config `User` (without `--run-as`): numeric and not root,
    /// else bad input naming the image and what to do.
    pub fn use_image_user(&mut self, image: &str, user: &str) -> Result<(), DeployError> {
        let (uid, gid) = super::image_user::ids(user).map_err(|why| {
            DeployError::Usage(format!(
                "the image {image} {why}; give --run-as UID[:GID], a non-root user it can run as"
            ))
        })?;
        (self.run_as_user, self.run_as_group) = (uid, gid);
        Ok(())
    }

    /// The namespace once known; the kubeconfig's context may supply it, but an
    /// implicit `default` is refused.
    pub fn namespace_from_context(&mut self, context_namespace: Option<&str>) -> Result<&str, DeployError> {
        if self.namespace.is_none() {
            match context_namespace.map(str::trim).filter(|n| !n.is_empty()) {
                None | Some("default") => {
                    return Err(DeployError::Usage(
                        "no namespace: give --namespace (the app's own; `default` only when named there)".to_owned(),
                    ));
                }
                Some(namespace) => {
                    dns_1123_label("the kubeconfig context's namespace", namespace).map_err(DeployError::Usage)?;
                    self.namespace = Some(namespace.to_owned());
                }
            }
        }
        Ok(self.namespace.as_deref().unwrap_or_default())
    }

    /// The namespace, once settled.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    /// The Secret holding `--secret-env`'s values.
    pub fn secret_name(&self) -> String {
        format!("{}-env", self.name)
    }
}

/// At most 10 minutes, and a fifth of `--timeout` short of it (the rollback needs time
/// too); at least 30 s.
fn progress_deadline(timeout: Duration) -> i32 {
    let seconds = timeout.as_secs().saturating_mul(4) / 5;
    i32::try_from(seconds.clamp(30, 600)).unwrap_or(600)
}

fn named(
    value: Option<&str>,
    flag: &str,
    check: fn(&str, &str) -> Result<(), String>,
) -> Result<Option<String>, DeployError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(name) => {
            check(flag, name).map_err(DeployError::Usage)?;
            Ok(Some(name.to_owned()))
        }
        None => Ok(None),
    }
}

/// A DNS-1123 label: at most 63 of a-z, 0-9 and `-`, starting and ending alphanumeric
/// (namespaces, most object names).
pub fn dns_1123_label(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{what} `{name}` is not a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        ))
    }
}

/// A DNS-1035 label (a Service's name): a DNS-1123 label that starts with a letter.
pub fn dns_1035_label(what: &str, name: &str) -> Result<(), String> {
    dns_1123_label(what, name)?;
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!("{what} `{name}` must start with a letter (it names a Service: DNS-1035)"))
    }
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn dns_1123_subdomain(what: &str, name: &str) -> Result<(), String> {
    if name.len() > 253 || name.split('.').any(|label| dns_1123_label(what, label).is_err()) {
        return Err(format!(
            "{what} `{name}` is not a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn http_path(flag: &str, path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(())
    } else {
        Err(format!("{flag} `{path}` is not a path: it starts with / and has no spaces"))
    }
}

/// An environment variable's name, also a valid Secret key.
fn env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "--secret-env `{name}` is not an environment variable's name (letters, digits, _; not starting with a digit); it names a variable, never holds its value"
        ))
    }
}

/// `UID[:GID]`, both non-root.
fn run_as(text: &str) -> Result<(i64, i64), String> {
    let text = text.trim();
    let (user, group) = text.split_once(':').unwrap_or((text, text));
    let id = |value: &str| value.trim().parse::<i64>().ok().filter(|id| (1..=i64::from(u32::MAX)).contains(id));
    match (id(user), id(group)) {
        (Some(user), Some(group)) => Ok((user, group)),
        _ => Err(format!("--run-as `{text}` is not UID[:GID] with non-root numeric ids (1 or more)")),
    }
}

/// A Kubernetes resource quantity (`500m`, `1.5`, `768Mi`, `1e3`), kept as written and
/// as its value in thousandths of the unit, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    pub text: String,
    /// The value in thousandths (millicores, millibytes), rounded up.
    pub value: u128,
}

impl Quantity {
    /// Parses the canonical quantity grammar (apimachinery's `resource.Quantity`):
    /// a non-negative decimal number, then a binary (Ki..Ei), decimal (n u m k M G T P E)
    /// or exponent (e3) suffix. Zero is refused: a zero request or limit is a mistake here.
    pub fn parse(flag: &str, text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{flag} `{text}` is not a Kubernetes quantity (like 500m, 1, 768Mi, 2Gi) above zero");
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        // At least one digit, one point at most, and never a trailing one.
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') || number.ends_with('.') {
            return Err(bad());
        }
        // The value as an integer numerator over 10^fraction digits.
        let digits = format!("{whole}{fraction}");
        if digits.len() > 30 {
            return Err(bad());
        }
        let numerator: u128 = digits.parse().map_err(|_| bad())?;
        let scale = u32::try_from(fraction.len()).map_err(|_| bad())?;
        // (multiplier, divisor) of the suffix, applied to thousandths.
        let (multiplier, divisor): (u128, u128) = match suffix {
            "" => (1000, 1),
            "n" => (1, 1_000_000),
            "u" => (1, 1000),
            "m" => (1, 1),
            "k" => (1000 * 1000, 1),
            "M" => (1000 * 1_000_000, 1),
            "G" => (1000 * 1_000_000_000, 1),
            "T" => (1000 * 1_000_000_000_000, 1),
            "P" => (1000 * 1_000_000_000_000_000, 1),
            "E" => (1000 * 1_000_000_000_000_000_000, 1),
            "Ki" => (1000 << 10, 1),
            "Mi" => (1000 << 20, 1),
            "Gi" => (1000 << 30, 1),
            "Ti" => (1000 << 40, 1),
            "Pi" => (1000 << 50, 1),
            "Ei" => (1000 << 60, 1),
            exponent => {
                let power = exponent
                    .strip_prefix(['e', 'E'])
                    .and_then(|p| p.strip_prefix('+').unwrap_or(p).parse::<u32>().ok())
                    .filter(|p| *p <= 18)
                    .ok_or_else(bad)?;
                (1000 * 10u128.pow(power), 1)
            }
        };
        let denominator = divisor * 10u128.pow(scale);
        let value = numerator.checked_mul(multiplier).ok_or_else(bad)?.div_ceil(denominator);
        if value == 0 {
            return Err(bad());
        }
        Ok(Self { text: text.to_owned(), value })
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::RolloutArgs;

    fn app(name: &str) -> AppFlags {
        AppFlags { name: name.to_owned(), host: None, check: None }
    }

    fn flags() -> KubernetesFlags {
        KubernetesFlags {
            namespace: Some("shop".into()),
            replicas: 2,
            cpu_request: "500m".into(),
            memory_limit: "768Mi".into(),
            run_as: Some("65532:65532".into()),
            ..KubernetesFlags::default()
        }
    }

    fn settings(app: &AppFlags, flags: &KubernetesFlags) -> Result<Settings, DeployError> {
        Settings::new(app, flags, &Rollout::plain(Strategy::Rolling), 8080, Duration::from_secs(1200))
    }

    fn usage(result: Result<Settings, DeployError>) -> String {
        match result {
            Err(DeployError::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_a_production_reviewer_expects() {
        let settings = settings(&app("shop"), &flags()).unwrap();
        assert_eq!(settings.replicas, 2);
        assert_eq!(
            settings.update,
            Update::Rolling { max_surge: Amount::Percent(25), max_unavailable: Amount::Count(0) }
        );
        assert_eq!(settings.memory_request, settings.memory_limit, "the JVM's memory is requested in full");
        assert_eq!(settings.check, "/health");
        assert_eq!((settings.run_as_user, settings.run_as_group), (65532, 65532));
        assert_eq!(settings.progress_deadline_seconds, 600);
        assert_eq!(progress_deadline(Duration::from_secs(120)), 96, "inside a short --timeout");
        assert_eq!(progress_deadline(Duration::from_secs(10)), 30);
    }

    #[test]
    fn bad_names_are_refused_with_the_flag() {
        for bad in ["Shop", "-shop", "shop-", "sh_op", "9shop", &"a".repeat(59), ""] {
            let message = usage(settings(&app(bad), &flags()));
            assert!(message.starts_with(&format!("--name `{bad}`")), "{message}");
        }
        for bad in ["Prod", "prod.eu", "prod-", &"n".repeat(64)] {
            let message = usage(settings(&app("shop"), &KubernetesFlags { namespace: Some(bad.into()), ..flags() }));
            assert!(message.starts_with(&format!("--namespace `{bad}` is not a DNS-1123 label")), "{message}");
        }
    }

    #[test]
    fn replicas_zero_and_a_stuck_budget_are_refused() {
        let message = usage(settings(&app("shop"), &KubernetesFlags { replicas: 0, ..flags() }));
        assert!(message.starts_with("--replicas 0"), "{message}");
        let stuck = RolloutArgs {
            max_surge: Some(Amount::Count(0)),
            max_unavailable: Some(Amount::Count(0)),
            ..RolloutArgs::default()
        };
        // Rollout::new refuses it first; a rollout built otherwise is refused here too.
        assert!(Rollout::new(Strategy::Rolling, &stuck).is_err());
        let rollout = Rollout {
            max_surge: Some(Amount::Count(0)),
            max_unavailable: Some(Amount::Percent(0)),
            ..Rollout::plain(Strategy::Rolling)
        };
        let error = Settings::new(&app("shop"), &flags(), &rollout, 8080, Duration::from_secs(60)).unwrap_err();
        assert!(error.to_string().contains("cannot both be 0"), "{error}");
        let direct =
            Settings::new(&app("shop"), &flags(), &Rollout::plain(Strategy::Direct), 8080, Duration::from_secs(60));
        assert_eq!(direct.unwrap().update, Update::Recreate);
    }

    #[test]
    fn quantities_follow_the_apimachinery_grammar() {
        let value = |text: &str| Quantity::parse("--q", text).map(|q| q.value);
        assert_eq!(value("500m"), Ok(500));
        assert_eq!(value("1"), Ok(1000));
        assert_eq!(value("1.5"), Ok(1500));
        assert_eq!(value("0.1"), Ok(100));
        assert_eq!(value("768Mi"), Ok(768 * 1024 * 1024 * 1000));
        assert_eq!(value("1Gi"), Ok(1024 * 1024 * 1024 * 1000));
        assert_eq!(value("1G"), Ok(1_000_000_000 * 1000));
        assert_eq!(value("1e3"), Ok(1_000_000));
        assert_eq!(value("250u"), Ok(1), "rounded up, never to zero");
        for bad in ["", "m", "1.2.3", "-1", "1Mb", "1 Gi", "0", "0m", "1.", ".", "Gi", "1e", "1x"] {
            let error = Quantity::parse("--memory-limit", bad).unwrap_err();
            assert!(error.starts_with("--memory-limit `"), "{bad}: {error}");
        }
        let over = KubernetesFlags { memory_request: Some("1Gi".into()), memory_limit: "512Mi".into(), ..flags() };
        assert!(usage(settings(&app("shop"), &over)).contains("more than --memory-limit"));
        let cpu = KubernetesFlags { cpu_request: "2".into(), cpu_limit: Some("1500m".into()), ..flags() };
        assert!(usage(settings(&app("shop"), &cpu)).contains("more than --cpu-limit"));
        let malformed = KubernetesFlags { cpu_request: "half".into(), ..flags() };
        assert!(usage(settings(&app("shop"), &malformed)).starts_with("--cpu-request `half`"));
    }

    #[test]
    fn secret_env_names_variables_and_never_values() {
        let secrets = KubernetesFlags {
            secret_env: vec!["DB_PASSWORD".into(), "API_TOKEN".into(), "DB_PASSWORD".into()],
            ..flags()
        };
        assert_eq!(settings(&app("shop"), &secrets).unwrap().secret_env, ["DB_PASSWORD", "API_TOKEN"]);
        let value = KubernetesFlags { secret_env: vec!["DB_PASSWORD=hunter2".into()], ..flags() };
        let message = usage(settings(&app("shop"), &value));
        assert!(message.contains("is not an environment variable's name"), "{message}");
    }

    #[test]
    fn the_namespace_comes_from_the_flag_or_a_named_context_never_an_implicit_default() {
        let unnamed = KubernetesFlags { namespace: None, ..flags() };
        let mut settings = settings(&app("shop"), &unnamed).unwrap();
        assert!(settings.clone().namespace_from_context(None).is_err());
        assert!(
            settings.clone().namespace_from_context(Some("default")).unwrap_err().to_string().contains("--namespace")
        );
        assert_eq!(settings.namespace_from_context(Some("payments")).unwrap(), "payments");
        let explicit = KubernetesFlags { namespace: Some("default".into()), ..flags() };
        let mut explicit = self::settings(&app("shop"), &explicit).unwrap();
        assert_eq!(explicit.namespace_from_context(Some("other")).unwrap(), "default", "named explicitly");
    }

    #[test]
    fn run_as_is_non_root() {
        assert_eq!(run_as("1000"), Ok((1000, 1000)));
        assert_eq!(run_as("1000:2000"), Ok((1000, 2000)));
        assert!(run_as("0").is_err());
        assert!(run_as("app").is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const SUFFIXES: [(&str, f64); 20] = [
        ("", 1.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("e0", 1.0),
        ("e3", 1e3),
        ("E+6", 1e6),
        ("e18", 1e18),
    ];

    fn value(text: &str) -> Option<u128> {
        Quantity::parse("--q", text).ok().map(|q| q.value)
    }

    proptest! {
        /// The value in thousandths is the written number times its unit, rounded up
        /// (checked against floating point, an independent reckoning).
        #[test]
        fn values_are_the_number_times_the_unit(
            whole in 0u64..1_000_000, fraction in "[0-9]{0,3}", suffix in 0..SUFFIXES.len(),
        ) {
            let (unit, multiplier) = SUFFIXES[suffix];
            let text = if fraction.is_empty() { format!("{whole}{unit}") } else { format!("{whole}.{fraction}{unit}") };
            let number: f64 = format!("{whole}.{fraction}0").parse().unwrap_or(0.0);
            let expected = number * multiplier * 1000.0;
            match Quantity::parse("--memory-limit", &text) {
                Ok(quantity) => {
                    prop_assert_eq!(&quantity.text, &text);
                    #[allow(clippy::cast_precision_loss)]
                    let got = quantity.value as f64;
                    let tolerance = expected * 1e-12 + 1e-9;
                    prop_assert!(got + tolerance >= expected && got < expected + 1.0 + tolerance, "{} gave {}, expected {}", text, got, expected);
                }
                Err(message) => {
                    prop_assert!(expected == 0.0, "{} refused: {}", text, message);
                    prop_assert!(message.starts_with("--memory-limit `"));
                }
            }
        }

        #[test]
        fn equal_quantities_written_differently_are_equal(n in 1u64..1_000_000) {
            prop_assert_eq!(value(&format!("{n}Ki")), value(&(u128::from(n) * 1024).to_string()));
            prop_assert_eq!(value(&format!("{n}k")), value(&format!("{n}e3")));
            prop_assert_eq!(value(&format!("{n}M")), value(&format!("{n}000k")));
            prop_assert_eq!(value(&format!("{n}m")), Some(u128::from(n)));
            prop_assert_eq!(value(&format!("{}.{:03}", n / 1000, n % 1000)), value(&format!("{n}m")));
        }

        #[test]
        fn any_text_is_a_quantity_or_one_error(text in "[0-9.eE+-]{0,6}[numkMGTPEi]{0,2}|.{0,12}") {
            match Quantity::parse("--cpu-request", &text) {
                Ok(quantity) => {
                    prop_assert!(quantity.value > 0);
                    prop_assert_eq!(value(&quantity.text), Some(quantity.value));
                }
                Err(message) => prop_assert!(message.starts_with("--cpu-request `")),
            }
        }
    }
}
