//! The Docker target's flags and the values they parse into: `--name`, `--publish`
//! (docker's syntax), `--env`, and `DOCKER_HOST`, which decides the URL's host.

use std::net::IpAddr;

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, PortBinding};

/// The Docker target's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct DockerFlags {
    /// Docker: a published port, [IP:]HOST_PORT:CONTAINER_PORT; repeatable. Default: 127.0.0.1:<port>:<port>.
    /// A rollback restarts the previous container on the ports it was created with.
    #[arg(long, env = "SLIPWAY_PUBLISH", value_name = "MAPPING", value_delimiter = '\n')]
    pub publish: Vec<String>,

    /// Docker: an environment variable for the container, KEY=VALUE; repeatable.
    #[arg(long, env = "SLIPWAY_ENV", value_name = "KEY=VALUE", value_delimiter = '\n')]
    pub env: Vec<String>,

    /// Docker, behind the proxy (rolling, blue-green, canary): the proxy's image (Caddy 2; pin or mirror it here).
    #[arg(long, env = "SLIPWAY_PROXY_IMAGE", value_name = "REF", default_value = "caddy:2")]
    pub proxy_image: String,

    /// Docker, behind the proxy (rolling, blue-green, canary): the proxy container, holding the published address. Default:
    /// <name>-proxy; name a shared one to route several apps by --host.
    #[arg(long, env = "SLIPWAY_PROXY_NAME", value_name = "NAME")]
    pub proxy_name: Option<String>,

    /// Docker, blue-green: the host port where the proxy previews the new version, on the
    /// main address (the proxy publishes it from its creation on).
    #[arg(long, env = "SLIPWAY_PREVIEW_PORT", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub preview_port: Option<u16>,

    /// Docker, behind the proxy (rolling, blue-green, canary): serve HTTPS with this certificate (PEM: the
    /// certificate, then its chain), checked against --tls-key and --host first; the proxy keeps
    /// serving it on later runs without the flag. Give a renewed one the same way.
    #[arg(long, env = "SLIPWAY_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// Docker, behind the proxy: the private key of --tls-cert (PEM), copied into the proxy
    /// container only.
    #[arg(long, env = "SLIPWAY_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Docker, behind the proxy: get --host's certificate from an ACME CA (Let's Encrypt unless
    /// --acme-ca) and have Caddy renew it; the proxy must publish container port 443
    /// (TLS-ALPN challenge) or 80 (HTTP challenge) where --host's DNS points.
    #[arg(long, env = "SLIPWAY_ACME")]
    pub acme: bool,

    /// Docker, --acme: the account's contact email for the CA's expiry notices.
    #[arg(long, env = "SLIPWAY_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,

    /// Docker, --acme: the CA's ACME directory URL (a private CA, or Let's Encrypt's staging).
    #[arg(long, env = "SLIPWAY_ACME_CA", value_name = "URL")]
    pub acme_ca: Option<String>,

    /// Docker, --acme: a PEM root to trust for --acme-ca's own HTTPS and the certificates it
    /// issues (a private CA); copied into the proxy.
    #[arg(long, env = "SLIPWAY_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<std::path::PathBuf>,

    /// Docker, behind the proxy (rolling, blue-green, canary): how long requests in flight on the old container may take to
    /// finish after traffic moves, before it is stopped.
    #[arg(long, env = "SLIPWAY_DRAIN_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = slipway_contract::cli::parse_positive_duration)]
    pub drain_timeout: std::time::Duration,
}

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

    /// `mappings` as the engine's `HostConfig.PortBindings`, keyed by container port.
    pub(super) fn bindings(mappings: &[Self]) -> HashMap<String, Option<Vec<PortBinding>>> {
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for mapping in mappings {
            bindings.entry(mapping.port_key()).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(
                PortBinding {
                    host_ip: Some(mapping.host_ip.map(|ip| ip.to_string()).unwrap_or_default()),
                    host_port: Some(mapping.host_port.to_string()),
                },
            );
        }
        bindings
    }

    pub(super) fn port_key(&self) -> String {
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

    pub(super) fn describe(&self) -> String {
        match self {
            Self::Local => "the local Docker Engine".to_owned(),
            Self::Remote { display, .. } => format!("the Docker Engine at {display}"),
        }
    }
}

#[cfg(test)]
mod properties {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn mapping() -> impl Strategy<Value = PortMapping> {
        let ip = prop_oneof![
            Just(None),
            any::<u32>().prop_map(|ip| Some(IpAddr::V4(Ipv4Addr::from(ip)))),
            any::<u128>().prop_map(|ip| Some(IpAddr::V6(Ipv6Addr::from(ip)))),
            Just(Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        ];
        (ip, 1u16.., 1u16.., prop_oneof![Just("tcp"), Just("udp")]).prop_map(
            |(host_ip, host_port, container_port, protocol)| PortMapping {
                host_ip,
                host_port,
                container_port,
                protocol,
            },
        )
    }

    proptest! {
        #[test]
        fn publish_mappings_round_trip(mapping in mapping()) {
            let written = mapping.to_string();
            prop_assert_eq!(PortMapping::parse(&written), Ok(mapping.clone()));
            if mapping.protocol == "tcp" {
                let bare = written.trim_end_matches("/tcp");
                prop_assert_eq!(PortMapping::parse(bare), Ok(mapping.clone()));
            }
            if let Some(IpAddr::V6(ip)) = mapping.host_ip {
                // Unbracketed, as `docker run -p` also takes it.
                let unbracketed = format!("{ip}:{}:{}/{}", mapping.host_port, mapping.container_port, mapping.protocol);
                prop_assert_eq!(PortMapping::parse(&unbracketed), Ok(mapping));
            }
        }

        #[test]
        fn any_publish_text_is_a_mapping_or_one_error(text in "[0-9a-f:.\\[\\]/tcpud ]{0,30}") {
            match PortMapping::parse(&text) {
                Ok(mapping) => {
                    prop_assert!(mapping.host_port > 0 && mapping.container_port > 0);
                    prop_assert_eq!(PortMapping::parse(&mapping.to_string()), Ok(mapping));
                }
                Err(message) => prop_assert!(message.starts_with("--publish `"), "{}", message),
            }
        }

        #[test]
        fn env_values_pass_through_and_never_reach_an_error(
            key in "[A-Za-z_][A-Za-z0-9_.-]{0,12}|[0-9 =-][A-Za-z]{0,4}|",
            value in "Qz9[^\0]{8,20}",
            nul in any::<bool>(),
        ) {
            let value = if nul { format!("{value}\0") } else { value };
            let text = format!("{key}={value}");
            match parse_env(&text) {
                Ok(env) => prop_assert_eq!(env, text),
                Err(message) => {
                    let marker: String = value.chars().take(8).collect();
                    prop_assert!(!message.contains(&marker), "{}", message);
                }
            }
        }
    }
}
