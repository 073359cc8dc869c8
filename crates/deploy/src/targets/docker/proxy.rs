//! The proxy container: Caddy holding the published address while app containers come
//! and go behind it on a Docker network of its own. Its configuration is changed only
//! through Caddy's own interface: the file is copied into the container and `caddy
//! reload` run there (`docker exec`), which posts it to the admin API on the
//! container's loopback; no admin port is ever reachable from the network.

use std::collections::HashMap;
use std::io::Read as _;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig, NetworkCreateRequest,
    NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptions, DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;

use super::caddy::{CaddyConfig, TlsFiles};
use super::engine::{LABEL_MANAGED, describe, is_not_found};
use super::flags::PortMapping;
use super::tls::ServedCertificate;

/// Marks the proxy container; its value is the Caddy configuration's file.
pub const LABEL_PROXY: &str = "dev.slipway.proxy";

/// Where deploy writes the configuration it loads, inside the proxy container.
const CONFIG_DIR: &str = "/config/slipway";
const CONFIG_NAME: &str = "caddy.json";
/// Where deploy copies the apps' certificates and keys, inside the proxy container.
const TLS_DIR: &str = "/config/slipway/tls";
/// Where Caddy saves the configuration it last loaded (`XDG_CONFIG_HOME=/config`, as in
/// the official image): the truth of what the proxy routes, kept across its restarts.
const AUTOSAVE: &str = "/config/caddy/autosave.json";
/// The longest one `caddy reload` may take.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Lets the kernel hand connections queued on the listening socket Caddy closes at a
/// reload to the socket that replaces it (Linux 5.14+), instead of resetting them:
/// Caddy binds every configuration's listener anew with SO_REUSEPORT.
const MIGRATE_REQUESTS: &str = "net.ipv4.tcp_migrate_req";

/// The proxy container's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// Its container name.
    pub name: String,
    pub image: String,
    /// The Docker network it shares with the app containers.
    pub network: String,
}

impl ProxySettings {
    pub fn new(name: String, image: String) -> Self {
        let network = format!("{name}-net");
        Self { name, image, network }
    }
}

/// The container's published ports, as `--publish` mappings.
pub fn published(container: &ContainerInspectResponse) -> Vec<PortMapping> {
    PortMapping::bound_by(container)
}

/// Whether the container is a slipway proxy.
pub fn is_proxy(container: &ContainerInspectResponse) -> bool {
    container.config.as_ref().and_then(|c| c.labels.as_ref()).is_some_and(|labels| labels.contains_key(LABEL_PROXY))
}

/// Creates the network unless it exists; true when it was created.
pub async fn ensure_network(docker: &Docker, name: &str) -> Result<bool, String> {
    match docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await {
        Ok(_) => return Ok(false),
        Err(error) if is_not_found(&error) => {}
        Err(error) => return Err(format!("cannot inspect the network {name}: {}", describe(&error))),
    }
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        labels: Some(HashMap::from([(LABEL_MANAGED.to_owned(), "true".to_owned())])),
        ..NetworkCreateRequest::default()
    };
    docker.create_network(request).await.map_err(|e| format!("cannot create the network {name}: {}", describe(&e)))?;
    Ok(true)
}

/// Creates (not starts) the proxy container: Caddy resumes from its last loaded
/// configuration after any restart, else the one deploy wrote.
///
/// `aliases` name the proxy on its network (an app's `--host`): containers there reach the
/// app by its public name through the proxy, as an ACME CA validating that name does.
pub async fn create(
    docker: &Docker,
    proxy: &ProxySettings,
    publish: &[PortMapping],
    aliases: &[String],
) -> Result<String, String> {
    let bindings = PortMapping::bindings(publish);
    let config_file = format!("{CONFIG_DIR}/{CONFIG_NAME}");
    let body = |sysctls: Option<HashMap<String, String>>| ContainerCreateBody {
        image: Some(proxy.image.clone()),
        cmd: Some(["caddy", "run", "--resume", "--config", &config_file].map(str::to_owned).to_vec()),
        labels: Some(HashMap::from([
            (LABEL_PROXY.to_owned(), config_file.clone()),
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
        ])),
        exposed_ports: Some(bindings.keys().cloned().collect()),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings.clone()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            sysctls,
            ..HostConfig::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                proxy.network.clone(),
                EndpointSettings {
                    aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
                    ..EndpointSettings::default()
                },
            )])),
        }),
        ..ContainerCreateBody::default()
    };
    let options = || CreateContainerOptions { name: Some(proxy.name.clone()), ..CreateContainerOptions::default() };
    let migrate = HashMap::from([(MIGRATE_REQUESTS.to_owned(), "1".to_owned())]);
    let created = match docker.create_container(Some(options()), body(Some(migrate))).await {
        Ok(created) => created,
        // An older kernel has no such setting; reloads may then reset a queued connection.
        Err(error) if describe(&error).contains(MIGRATE_REQUESTS) => docker
            .create_container(Some(options()), body(None))
            .await
            .map_err(|e| format!("cannot create the proxy {}: {}", proxy.name, describe(&e)))?,
        Err(error) => return Err(format!("cannot create the proxy {}: {}", proxy.name, describe(&error))),
    };
    Ok(created.id)
}

/// Reads one file out of a container (running or not); `None` when it does not exist.
async fn read_file(docker: &Docker, container: &str, path: &str) -> Result<Option<Vec<u8>>, String> {
    let options = DownloadFromContainerOptions { path: path.to_owned() };
    let mut stream = docker.download_from_container(container, Some(options));
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => archive.extend_from_slice(&bytes),
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => return Err(format!("cannot read {path} from {container}: {}", describe(&error))),
        }
    }
    let mut tar = tar::Archive::new(archive.as_slice());
    let entries = tar.entries().map_err(|e| format!("cannot read {path} from {container}: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("cannot read {path} from {container}: {e}"))?;
        if entry.header().entry_type().is_file() {
            let mut contents = Vec::new();
            entry.read_to_end(&mut contents).map_err(|e| format!("cannot read {path} from {container}: {e}"))?;
            return Ok(Some(contents));
        }
    }
    Ok(None)
}

/// Copies `contents` into the container as `dir/name` (the directory made if missing).
async fn write_file(docker: &Docker, container: &str, dir: &str, name: &str, contents: &[u8]) -> Result<(), String> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    let relative = format!("{}/{name}", dir.trim_start_matches('/'));
    builder
        .append_data(&mut header, &relative, contents)
        .and_then(|()| builder.finish())
        .map_err(|e| format!("cannot pack {name}: {e}"))?;
    let archive = builder.into_inner().map_err(|e| format!("cannot pack {name}: {e}"))?;
    let options = UploadToContainerOptions { path: "/".to_owned(), ..UploadToContainerOptions::default() };
    docker
        .upload_to_container(container, Some(options), bollard::body_full(archive.into()))
        .await
        .map_err(|e| format!("cannot copy {dir}/{name} into {container}: {}", describe(&e)))
}

/// Runs a command in the container; its exit code and what it printed.
async fn exec(docker: &Docker, container: &str, cmd: &[&str], timeout: Duration) -> Result<(i64, String), String> {
    let options = CreateExecOptions {
        cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..CreateExecOptions::default()
    };
    let run = async {
        let created = docker
            .create_exec(container, options)
            .await
            .map_err(|e| format!("cannot run `{}` in {container}: {}", cmd.join(" "), describe(&e)))?;
        let mut printed = String::new();
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| format!("cannot run `{}` in {container}: {}", cmd.join(" "), describe(&e)))?
        {
            while let Some(Ok(chunk)) = output.next().await {
                printed.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        let inspect = docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| format!("cannot read how `{}` ended: {}", cmd.join(" "), describe(&e)))?;
        Ok((inspect.exit_code.unwrap_or(-1), printed))
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| Err(format!("`{}` in {container} took over {}s", cmd.join(" "), timeout.as_secs())))
}

/// What the proxy routes now: the configuration Caddy last loaded, else the one deploy
/// last wrote (a proxy that never loaded one), else `None` (nothing written yet).
pub async fn read_config(docker: &Docker, proxy: &str) -> Result<Option<CaddyConfig>, String> {
    let saved = match read_file(docker, proxy, AUTOSAVE).await? {
        Some(bytes) => Some(bytes),
        None => read_file(docker, proxy, &format!("{CONFIG_DIR}/{CONFIG_NAME}")).await?,
    };
    saved.map(|bytes| CaddyConfig::parse(&bytes)).transpose()
}

/// The proxy's Caddy version (`v2.11.7`), or why it is unknown.
pub async fn version(docker: &Docker, proxy: &str) -> String {
    match exec(docker, proxy, &["caddy", "version"], Duration::from_secs(10)).await {
        Ok((0, printed)) => printed.split_whitespace().next().unwrap_or("unknown").to_owned(),
        Ok((code, _)) => format!("unknown (caddy version exited {code})"),
        Err(error) => format!("unknown ({error})"),
    }
}

/// Copies the app's certificate and key into the proxy, under names made of their
/// fingerprint (a new certificate is a new configuration; an old one stays readable
/// until the configuration naming it is replaced).
pub async fn write_tls(
    docker: &Docker,
    proxy: &str,
    app: &str,
    certificate: &ServedCertificate,
) -> Result<TlsFiles, String> {
    let stem = format!("{app}-{}", certificate.fingerprint);
    write_file(docker, proxy, TLS_DIR, &format!("{stem}.crt"), &certificate.chain_pem).await?;
    write_file(docker, proxy, TLS_DIR, &format!("{stem}.key"), &certificate.key_pem).await?;
    Ok(TlsFiles { certificate: format!("{TLS_DIR}/{stem}.crt"), key: format!("{TLS_DIR}/{stem}.key") })
}

/// Copies the root of the app's private ACME CA into the proxy; its path there.
pub async fn write_acme_root(
    docker: &Docker,
    proxy: &str,
    app: &str,
    pem: &[u8],
    fingerprint: &str,
) -> Result<String, String> {
    let name = format!("{app}-acme-root-{fingerprint}.pem");
    write_file(docker, proxy, TLS_DIR, &name, pem).await?;
    Ok(format!("{TLS_DIR}/{name}"))
}

/// Reads a file deploy wrote into the proxy.
pub async fn read_written(docker: &Docker, proxy: &str, path: &str) -> Result<Vec<u8>, String> {
    read_file(docker, proxy, path).await?.ok_or_else(|| format!("the proxy {proxy} has no {path}"))
}

/// The first certificate (DER) of a PEM file in the proxy: what it serves for an app.
pub async fn read_certificate(docker: &Docker, proxy: &str, path: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let pem = read_written(docker, proxy, path).await?;
    let first = CertificateDer::pem_slice_iter(&pem).next();
    match first {
        Some(Ok(der)) => Ok(der.to_vec()),
        _ => Err(format!("{path} in the proxy {proxy} holds no certificate")),
    }
}

/// Writes the configuration deploy starts a new proxy with.
pub async fn seed(docker: &Docker, proxy: &str, config: &CaddyConfig) -> Result<(), String> {
    write_file(docker, proxy, CONFIG_DIR, CONFIG_NAME, &config.to_bytes()).await
}

/// Loads `config` into the running proxy, atomically (Caddy keeps the old one if the
/// new one fails), then reads back what Caddy saved to prove it took it.
pub async fn load(docker: &Docker, proxy: &str, config: &CaddyConfig, deadline: Instant) -> Result<(), String> {
    write_file(docker, proxy, CONFIG_DIR, CONFIG_NAME, &config.to_bytes()).await?;
    let file = format!("{CONFIG_DIR}/{CONFIG_NAME}");
    let timeout = RELOAD_TIMEOUT.min(deadline.saturating_duration_since(Instant::now())).max(Duration::from_secs(1));
    let (code, printed) = exec(docker, proxy, &["caddy", "reload", "--config", &file, "--force"], timeout).await?;
    if code != 0 {
        let last = printed.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no output").trim();
        return Err(format!("the proxy {proxy} refused the new configuration (caddy reload exited {code}): {last}"));
    }
    match read_config(docker, proxy).await? {
        Some(loaded) if &loaded == config => Ok(()),
        _ => Err(format!("the proxy {proxy} reloaded, but its saved configuration is not the one sent")),
    }
}

/// Waits until a just started proxy takes a configuration through its admin API.
pub async fn wait_started(docker: &Docker, proxy: &str, config: &CaddyConfig, deadline: Instant) -> Result<(), String> {
    let until = deadline.min(Instant::now() + Duration::from_secs(30));
    loop {
        match load(docker, proxy, config, deadline).await {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= until => {
                return Err(format!("the proxy {proxy} did not start taking configuration: {error}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
