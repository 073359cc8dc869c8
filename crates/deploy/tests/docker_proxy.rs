//! The Docker target's rolling strategy behind a real Caddy proxy (the caddy:2 stand-in
//! scripts/test-services.sh builds from Caddy's release binary), on the real Docker
//! Engine: while a client polls the published address, a new connection per request,
//! deploy rolls v1 -> v2, tries a version that crashes, and rolls back, and the client
//! sees no request refused, reset, answered with an error or by the wrong version; the
//! one thing a configuration load of Caddy can do is close, unanswered, a connection its
//! old server had just read (golang/go#65802; about one in 50 loads at this poll rate),
//! and those are counted and bounded by one a load. Then the failure paths: an
//! unpullable proxy image, a proxy removed by hand, a deployment already running; and
//! HTTPS with a certificate the test made, judged by verify trusting the test's CA. Skips
//! without Docker, the registry, Maven or the proxy image unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    CLOSED_UNANSWERED, Containers, app_containers, deploy_command, error_line, images, inspect, proxy_image, run,
    unique_name, version_served,
};
use slipway_testkit::{StepRun, free_port};

fn deploy<S: AsRef<std::ffi::OsStr>>(name: &str, port: u16, proxy: &str, args: &[S]) -> StepRun {
    let mut command = deploy_command();
    command
        .args(["--target", "docker", "--name", name, "--timeout", "3m", "--proxy-image", proxy])
        .args(["--publish", &format!("127.0.0.1:{port}:8080"), "--check", "/health", "--drain-timeout", "5s"])
        .args(args);
    run(command)
}

/// What a poller saw: answers by version, connections closed with no answer (by a
/// configuration load of the proxy), and every other failure.
#[derive(Debug, Default)]
struct Seen {
    served: BTreeMap<String, usize>,
    closed_unanswered: usize,
    failures: Vec<String>,
}

impl Seen {
    /// No failure but at most `loads_closed` connections closed unanswered (refused,
    /// reset, 5xx and wrong versions are failures, never bounded), and each
    /// version seen often enough to have been really served.
    fn assert_clean(&self, loads_closed: usize, versions: &[&str]) {
        assert!(self.failures.is_empty(), "{} failed requests: {:#?} ({self:?})", self.failures.len(), self.failures);
        assert!(self.closed_unanswered <= loads_closed, "{self:?}");
        for version in versions {
            assert!(self.served.get(*version).is_some_and(|n| *n > 10), "{version}: {self:?}");
        }
    }
}

/// A client polling the published address every 25 ms until stopped.
struct Poller {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Seen>,
}

impl Poller {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut seen = Seen::default();
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                match version_served(port) {
                    Ok(version) => *seen.served.entry(version).or_insert(0) += 1,
                    Err(error) if error == CLOSED_UNANSWERED => seen.closed_unanswered += 1,
                    Err(error) => seen.failures.push(format!("{:.2}s: {error}", started.elapsed().as_secs_f64())),
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            seen
        });
        Self { stop, handle }
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

#[test]
fn rolling_deploys_a_crash_and_a_rollback_never_fail_a_request() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = unique_name("rolling");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    // v1 on an empty host: the proxy is created in front of it.
    let first = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.output("url"), Some(url.as_str()));
    assert_eq!(first.output("status"), Some("deployed"));
    assert_eq!(first.output("previous-version"), Some(""));
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));
    assert!(first.stderr.contains(&format!("create the network {name}-proxy-net and the proxy {name}-proxy")));
    assert_eq!(inspect(&format!("{name}-proxy"), "{{.State.Status}}").as_deref(), Some("running"));
    let app_ports = inspect(first.output("deployment-id").unwrap(), "{{json .HostConfig.PortBindings}}").unwrap();
    assert!(app_ports == "{}" || app_ports == "null", "app containers publish nothing: {app_ports}");

    let poller = Poller::start(port);

    // v2 rolls in beside v1; v1 is drained, stopped and kept.
    let second = deploy(&name, port, &proxy, &["--image", &images.v2, "--version-label", "v2"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.output("status"), Some("deployed"));
    assert_eq!(second.output("previous-version"), Some("v1"));
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"), "deploy ended serving the version it reported");
    // The summary names the proxy's Caddy and what its saved configuration routes to.
    let summary = second.summary.as_deref().unwrap_or_default();
    let new_container = inspect(second.output("deployment-id").unwrap(), "{{.Name}}").unwrap();
    assert!(summary.contains(&format!("`{name}-proxy (Caddy v2.")), "{summary}");
    assert!(
        summary.contains(&format!("| routes to | `{}:8080` |", new_container.trim_start_matches('/'))),
        "{summary}"
    );

    // A version that crashes never takes traffic: exit 1, v2 serves throughout.
    let broken = deploy(&name, port, &proxy, &["--image", &images.broken, "--version-label", "broken"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(error_line(&broken).contains("exited with code 1"), "{}", broken.stderr);
    assert!(error_line(&broken).contains("still routes to what it served before"), "{}", broken.stderr);
    assert_eq!(broken.output("status"), Some("unchanged"));
    assert!(broken.stderr.contains("Unrecognized VM option"), "the container's log explains: {}", broken.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));

    // Rollback brings v1 back the same way; v2 is kept for the next one.
    let mut command = deploy_command();
    command.args(["--target", "docker", "--name", &name, "--rollback", "--check", "/health", "--drain-timeout", "5s"]);
    let rollback = run(command);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert_eq!(rollback.output("status"), Some("rolled-back"));
    assert_eq!(rollback.output("version-label"), Some("v1"));
    assert_eq!(rollback.output("previous-version"), Some("v2"));
    assert_eq!(rollback.output("url"), Some(url.as_str()), "the proxy's own address, without --publish");
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // Eight configuration loads (two for each deploy and the rollback), each of which may
    // close one connection (golang/go#65802, measured in the README): the bound is one a
    // load, so chance never fails the test while anything else that drops a request does.
    poller.finish().assert_clean(8, &["1.0.0", "2.0.0"]);

    // At rest: the live container and one stopped for a rollback; no lock, no leftovers.
    let containers = app_containers(&name);
    assert_eq!(containers.len(), 2, "{containers:?}");
    assert_eq!(containers.iter().filter(|c| c.ends_with(" running")).count(), 1, "{containers:?}");
    assert_eq!(inspect(&format!("{name}-lock"), "{{.Id}}"), None);
}

#[test]
fn an_unpullable_proxy_a_removed_proxy_and_a_held_lock() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let registry = slipway_testkit::test_registry().unwrap();
    let name = unique_name("proxy-faults");
    let _cleanup = Containers(name.clone());
    let port = free_port();

    // The proxy image cannot be pulled: exit 1 before anything is created.
    let missing = format!("{registry}/deploy-test/no-such-proxy:2");
    let unpullable = deploy(&name, port, &missing, &["--image", &images.v1, "--version-label", "v1"]);
    assert_eq!(unpullable.code, 1, "{}", unpullable.stderr);
    assert!(error_line(&unpullable).contains("cannot pull the proxy image"), "{}", unpullable.stderr);
    assert_eq!(unpullable.output("status"), Some("unchanged"));
    assert_eq!(inspect(&format!("{name}-proxy"), "{{.Id}}"), None);
    assert!(app_containers(&name).is_empty(), "{:?}", app_containers(&name));

    let first = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1"]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    // The proxy removed by hand is re-created, and the app is routed again.
    Command::new("docker").args(["rm", "-f", &format!("{name}-proxy")]).output().unwrap();
    let again = deploy(&name, port, &proxy, &["--image", &images.v2, "--version-label", "v2"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));

    // Another deployment holds the lock: refused, nothing changed.
    let lock = format!("{name}-lock");
    let until = (std::time::SystemTime::now() + Duration::from_secs(600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let held = Command::new("docker")
        .args(["create", "--name", &lock, "--label", &format!("dev.slipway.lock.expires={until}")])
        .args(["--label", "dev.slipway.lock.holder=another run", &proxy, "true"])
        .output()
        .unwrap();
    assert!(held.status.success(), "{}", String::from_utf8_lossy(&held.stderr));
    let before = app_containers(&name);
    let busy = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1-again"]);
    assert_eq!(busy.code, 1, "{}", busy.stderr);
    assert!(error_line(&busy).contains("another deployment of"), "{}", busy.stderr);
    assert!(error_line(&busy).contains("another run"), "{}", busy.stderr);
    assert_eq!(busy.output("status"), Some("busy"));
    assert_eq!(app_containers(&name), before);
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));

    // A lock past its deadline (a runner killed mid-run) is taken over.
    Command::new("docker").args(["rm", "-f", &lock]).output().unwrap();
    let stale = Command::new("docker")
        .args(["create", "--name", &lock, "--label", "dev.slipway.lock.expires=1", &proxy, "true"])
        .output()
        .unwrap();
    assert!(stale.status.success());
    let taken = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1-again"]);
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    assert!(taken.stderr.contains("taking over the lock"), "{}", taken.stderr);
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));
    assert_eq!(inspect(&lock, "{{.Id}}"), None);
}

#[test]
fn blue_green_previews_then_promotes_or_rejects_and_a_canary_splits_traffic_by_weight() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = unique_name("phased");
    let _cleanup = Containers(name.clone());
    let (port, preview_port) = (free_port(), free_port());
    let preview = preview_port.to_string();
    let with_preview = |args: &[&str]| {
        let mut all = vec!["--preview-port".to_owned(), preview.clone()];
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        all
    };

    let first = deploy(&name, port, &proxy, &with_preview(&["--image", &images.v1, "--version-label", "v1"]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let poller = Poller::start(port);

    // Blue-green: v2 answers on the preview port only; reject drops it.
    let green = ["--strategy", "blue-green"];
    let staged = deploy(
        &name,
        port,
        &proxy,
        &with_preview(&[&green[..], &["--image", &images.v2, "--version-label", "v2"]].concat()),
    );
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    assert_eq!(staged.output("status"), Some("green-ready"));
    assert_eq!(staged.output("url"), Some(format!("http://127.0.0.1:{preview_port}").as_str()));
    assert_eq!(version_served(preview_port).as_deref(), Ok("2.0.0"));
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"), "the live version keeps all traffic");
    let again = deploy(&name, port, &proxy, &with_preview(&["--image", &images.v2]));
    assert_eq!(again.code, 2, "a second deployment waits for promote or reject: {}", again.stderr);
    assert!(error_line(&again).contains("in progress"), "{}", again.stderr);
    let rejected = deploy(&name, port, &proxy, &with_preview(&[&green[..], &["--reject"]].concat()));
    assert_eq!(rejected.code, 0, "{}", rejected.stderr);
    assert_eq!(rejected.output("status"), Some("rejected"));
    assert_eq!(rejected.output("version-label"), Some("v1"));
    assert!(version_served(preview_port).is_err(), "nothing previews any more");
    assert_eq!(app_containers(&name).len(), 1, "{:?}", app_containers(&name));

    // Blue-green again, promoted: v2 takes all traffic, v1 is kept stopped.
    let staged = deploy(
        &name,
        port,
        &proxy,
        &with_preview(&[&green[..], &["--image", &images.v2, "--version-label", "v2"]].concat()),
    );
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    let promoted = deploy(&name, port, &proxy, &with_preview(&[&green[..], &["--promote"]].concat()));
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(promoted.output("version-label"), Some("v2"));
    assert_eq!(promoted.output("previous-version"), Some("v1"));
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));

    // Canary: 20% of requests go to the new version, by weight; promote gives it all.
    let canary = deploy(
        &name,
        port,
        &proxy,
        &["--strategy", "canary", "--steps", "10,20", "--bake", "1s", "--image", &images.v1, "--version-label", "v1b"],
    );
    assert_eq!(canary.code, 0, "{}", canary.stderr);
    assert_eq!(canary.output("status"), Some("canary"));
    assert!(canary.stderr.contains("takes 20% of"), "{}", canary.stderr);
    assert!(canary.summary.as_deref().unwrap_or_default().contains("(80%), "), "{:?}", canary.summary);
    let samples = 200;
    let on_canary = (0..samples).filter(|_| version_served(port).as_deref() == Ok("1.0.0")).count();
    assert!((30..=50).contains(&on_canary), "{on_canary} of {samples} requests on the 20% canary");
    let promoted = deploy(&name, port, &proxy, &["--strategy", "canary", "--promote"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    assert_eq!(promoted.output("status"), Some("promoted"));
    assert_eq!(promoted.output("version-label"), Some("v1b"));
    assert!((0..20).all(|_| version_served(port).as_deref() == Ok("1.0.0")));

    // Thirteen configuration loads, one possible close each.
    poller.finish().assert_clean(13, &["1.0.0", "2.0.0"]);
}

/// verify, in process, against `url` with the test CA trusted: its outputs.
fn verify_over_tls(url: &str, version: &str, ca: &std::path::Path) -> BTreeMap<String, String> {
    #[derive(clap::Parser)]
    struct Verify {
        #[command(flatten)]
        args: slipway_verify::VerifyArgs,
    }
    let ca = ca.to_string_lossy();
    let verify = <Verify as clap::Parser>::try_parse_from([
        "verify",
        "--url",
        url,
        "--check",
        "/health",
        "--expect-version",
        version,
        "--ca-cert",
        &ca,
        "--tls-min-days",
        "7",
        "--timeout",
        "60s",
    ])
    .unwrap();
    let log = slipway_contract::console::CapturedLog::default();
    let report = slipway_verify::run(&verify.args, &log.console("verify", slipway_contract::CiMode::Plain))
        .unwrap_or_else(|e| panic!("verify {url}: {e}\n{}", log.text()));
    report.outputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn https_with_the_given_certificate_is_served_through_the_proxy_and_kept_across_deploys() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = unique_name("https");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let files = tempfile::tempdir().unwrap();
    let certificates = slipway_testkit::certificates::TestCertificates::new(&["localhost", "127.0.0.1"], 30);
    let (ca, cert, key) = certificates.write(files.path());
    let other_dir = tempfile::tempdir().unwrap();
    let other = slipway_testkit::certificates::TestCertificates::new(&["localhost"], 30);
    let (_, _, other_key) = other.write(other_dir.path());
    let tls = |key: &std::path::Path| {
        vec!["--tls-cert".to_owned(), cert.display().to_string(), "--tls-key".to_owned(), key.display().to_string()]
    };

    // A key of another certificate: exit 2 before anything is created.
    let args = [vec!["--image".to_owned(), images.v1.clone()], tls(&other_key)].concat();
    let mismatched = deploy(&name, port, &proxy, &args);
    assert_eq!(mismatched.code, 2, "{}", mismatched.stderr);
    assert!(error_line(&mismatched).contains("does not belong to the certificate"), "{}", mismatched.stderr);
    assert_eq!(inspect(&format!("{name}-proxy"), "{{.Id}}"), None);

    // v1 over HTTPS: the URL says so, and verify trusts it through the test CA.
    let args =
        [vec!["--image".to_owned(), images.v1.clone(), "--version-label".into(), "v1".into()], tls(&key)].concat();
    let first = deploy(&name, port, &proxy, &args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let url = format!("https://127.0.0.1:{port}");
    assert_eq!(first.output("url"), Some(url.as_str()));
    let verified = verify_over_tls(&url, "1.0.0", &ca);
    assert_eq!(verified.get("version-seen").map(String::as_str), Some("1.0.0"), "{verified:?}");
    assert_eq!(verified.get("tls-days-left").map(String::as_str), Some("30"), "{verified:?}");
    assert!(first.summary.as_deref().unwrap_or_default().contains("HTTPS certificate"));
    first.assert_never_wrote(certificates.server_key_pem.lines().nth(1).unwrap());

    // Plain HTTP on the address is not served any more.
    assert!(version_served(port).is_err(), "the proxy speaks TLS only");

    // v2 without the flags: the proxy keeps serving the certificate it has.
    let second = deploy(&name, port, &proxy, &["--image", &images.v2, "--version-label", "v2"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.output("url"), Some(url.as_str()));
    let verified = verify_over_tls(&url, "2.0.0", &ca);
    assert_eq!(verified.get("version-seen").map(String::as_str), Some("2.0.0"), "{verified:?}");

    // A renewed certificate (another key) is taken with the next switch.
    let renewed = slipway_testkit::certificates::TestCertificates::new(&["localhost", "127.0.0.1"], 90);
    let renewed_dir = tempfile::tempdir().unwrap();
    let (renewed_ca, renewed_cert, renewed_key) = renewed.write(renewed_dir.path());
    let args = [
        "--image",
        &images.v1,
        "--version-label",
        "v1",
        "--tls-cert",
        &renewed_cert.display().to_string(),
        "--tls-key",
        &renewed_key.display().to_string(),
    ]
    .map(str::to_owned);
    let third = deploy(&name, port, &proxy, &args);
    assert_eq!(third.code, 0, "{}", third.stderr);
    let verified = verify_over_tls(&url, "1.0.0", &renewed_ca);
    assert_eq!(verified.get("tls-days-left").map(String::as_str), Some("90"), "{verified:?}");

    // A canary judged by analysis probes the new version over the proxy's HTTPS, trusting
    // the certificate the proxy serves (no flag repeats it).
    let judged = deploy(
        &name,
        port,
        &proxy,
        &["--image", &images.v2, "--version-label", "v2", "--strategy", "canary", "--steps", "50"]
            .into_iter()
            .chain(["--bake", "2s", "--max-error-rate", "5%", "--expect-version", "2.0.0"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(judged.code, 0, "{}", judged.stderr);
    assert_eq!(judged.output("status"), Some("promoted"), "{}", judged.stderr);
    let verified = verify_over_tls(&url, "2.0.0", &renewed_ca);
    assert_eq!(verified.get("version-seen").map(String::as_str), Some("2.0.0"), "{verified:?}");
}

/// Removes a container the test started, when dropped.
struct RemoveContainer(String);

impl Drop for RemoveContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "--force", &self.0]).output();
    }
}

/// GET /version over TLS to 127.0.0.1:`port` asking for `name` (SNI), trusting only the
/// roots in `root_pem`: the version served.
fn version_over_tls(port: u16, name: &str, root_pem: &[u8]) -> Result<String, String> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), server).unwrap();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::Stream::new(&mut connection, &mut socket);
    let request = format!("GET /version HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("TLS: {e}"))?;
    let mut answer = Vec::new();
    // A peer that closes without close_notify still delivered what it sent.
    if let Err(error) = stream.read_to_end(&mut answer)
        && answer.is_empty()
    {
        return Err(format!("TLS: {error}"));
    }
    let answer = String::from_utf8_lossy(&answer);
    let version = answer.split("\"version\":\"").nth(1).and_then(|rest| rest.split('"').next());
    version.map(str::to_owned).ok_or_else(|| format!("no version in {answer}"))
}

#[test]
fn https_from_an_acme_ca_that_validates_the_host_through_the_proxy() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = unique_name("acme");
    let _cleanup = Containers(name.clone());
    let files = tempfile::tempdir().unwrap();
    let network = format!("{name}-proxy-net");
    let made = Command::new("docker").args(["network", "create", &network]).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));

    // The CA: Caddy's ACME server (smallstep's), `acme.test` on the proxy's network, its
    // directory served over HTTPS under its own root, which nothing trusts but this test.
    let ca_config = files.path().join("acme-ca.json");
    let config = serde_json::json!({
        "apps": {
            "pki": {"certificate_authorities": {"local": {"install_trust": false}}},
            "http": {"servers": {"acme": {
                "listen": [":443"],
                "routes": [{"handle": [{"handler": "acme_server", "ca": "local"}]}],
                "tls_connection_policies": [{"default_sni": "acme.test"}]
            }}},
            "tls": {
                "certificates": {"automate": ["acme.test"]},
                "automation": {"policies": [{"subjects": ["acme.test"], "issuers": [{"module": "internal", "ca": "local"}]}]}
            }
        }
    });
    std::fs::write(&ca_config, serde_json::to_vec(&config).unwrap()).unwrap();
    let ca = format!("{name}-acme-ca");
    let _ca_cleanup = RemoveContainer(ca.clone());
    let started = Command::new("docker")
        .args(["run", "--detach", "--name", &ca, "--network", &network, "--network-alias", "acme.test"])
        .args(["--volume", &format!("{}:/etc/caddy/acme.json:ro", ca_config.display())])
        .args([&proxy, "caddy", "run", "--config", "/etc/caddy/acme.json"])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let root = files.path().join("acme-root.pem");
    let until = Instant::now() + Duration::from_secs(30);
    while !Command::new("docker")
        .args(["cp", &format!("{ca}:/data/caddy/pki/authorities/local/root.crt")])
        .arg(&root)
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < until, "the ACME CA made no root within 30s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let root_pem = std::fs::read(&root).unwrap();

    // No port the CA could reach: refused before anything changes.
    let port = free_port();
    let acme = |publish: &str, image: &str, version: &str| {
        let mut command = deploy_command();
        command
            .args(["--target", "docker", "--name", &name, "--timeout", "3m", "--proxy-image", &proxy])
            .args(["--publish", publish, "--check", "/health", "--drain-timeout", "5s"])
            .args(["--image", image, "--version-label", version, "--host", "shop.test", "--acme"])
            .args(["--acme-email", "ops@shop.test", "--acme-ca", "https://acme.test/acme/local/directory"])
            .arg("--acme-ca-root")
            .arg(&root);
        run(command)
    };
    let unreachable = acme(&format!("127.0.0.1:{port}:8443"), &images.v1, "v1");
    assert_eq!(unreachable.code, 2, "{}", unreachable.stderr);
    assert!(error_line(&unreachable).contains("no container port 443"), "{}", unreachable.stderr);
    assert_eq!(inspect(&format!("{name}-proxy"), "{{.Id}}"), None);

    // The proxy asks the CA for shop.test; the CA validates it (TLS-ALPN) by reaching the
    // proxy under that name; deploy's probe waits for the certificate it trusts.
    let first = acme(&format!("127.0.0.1:{port}:443"), &images.v1, "v1");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.output("url"), Some(format!("https://127.0.0.1:{port}").as_str()));
    assert_eq!(version_over_tls(port, "shop.test", &root_pem).as_deref(), Ok("1.0.0"));

    // The next version keeps the certificate Caddy holds, without the flags.
    let mut command = deploy_command();
    command
        .args(["--target", "docker", "--name", &name, "--timeout", "3m", "--proxy-image", &proxy])
        .args(["--check", "/health", "--drain-timeout", "5s", "--host", "shop.test"])
        .args(["--image", &images.v2, "--version-label", "v2"]);
    let second = run(command);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(version_over_tls(port, "shop.test", &root_pem).as_deref(), Ok("2.0.0"));
}

/// A Unix socket in front of the Docker Engine's that the test can cut: every
/// connection through it dropped and new ones refused, as a deploy sees an engine that
/// restarts or a host that goes away.
struct EngineLink {
    path: std::path::PathBuf,
    cut: Arc<AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
    _dir: tempfile::TempDir,
}

impl EngineLink {
    fn start() -> Self {
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<std::sync::Mutex<Vec<UnixStream>>> = Arc::default();
        let (cut_flag, streams) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if cut_flag.load(Ordering::SeqCst) {
                    continue; // dropped: the engine is gone
                }
                let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else { continue };
                let pipe = |mut from: UnixStream, mut to: UnixStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
                let mut open = streams.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(engine.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), engine.try_clone().unwrap());
                pipe(engine, client);
            }
        });
        Self { path, cut, open, _dir: dir }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The engine goes away: open connections dropped, new ones refused.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn an_engine_lost_mid_deploy_ends_unknown_saying_what_to_do_and_the_next_run_recovers() {
    let Some(images) = images() else { return };
    let Some(proxy) = proxy_image() else { return };
    let name = unique_name("engine-lost");
    let _cleanup = Containers(name.clone());
    let port = free_port();
    let first = deploy(&name, port, &proxy, &["--image", &images.v1, "--version-label", "v1"]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    // v2's deploy talks to the engine through a link the test cuts once v2's container
    // runs beside v1's (deploy is then waiting for it to answer through the proxy).
    let link = EngineLink::start();
    let mut command = deploy_command();
    command
        .env("DOCKER_HOST", link.docker_host())
        .args(["--target", "docker", "--name", &name, "--timeout", "40s", "--proxy-image", &proxy])
        .args(["--publish", &format!("127.0.0.1:{port}:8080"), "--check", "/health", "--drain-timeout", "5s"])
        .args(["--image", &images.v2, "--version-label", "v2"]);
    let started = Instant::now();
    let lost = std::thread::spawn(move || run(command));
    let until = Instant::now() + Duration::from_secs(60);
    while app_containers(&name).iter().filter(|c| c.ends_with(" running")).count() < 2 {
        assert!(Instant::now() < until, "v2's container never ran: {:?}", app_containers(&name));
        std::thread::sleep(Duration::from_millis(50));
    }
    link.cut();
    let lost = lost.join().unwrap();
    assert_eq!(lost.code, 1, "{}", lost.stderr);
    assert_eq!(lost.output("status"), Some("unknown"), "{}", lost.stderr);
    let error = error_line(&lost);
    assert!(error.contains("Look before acting"), "{}", lost.stderr);
    assert!(error.contains("deploy again"), "{}", lost.stderr);
    assert!(lost.stderr.contains("it lapses a minute after this run's --timeout"), "{}", lost.stderr);
    // The proxy never moved: v1 serves.
    assert_eq!(version_served(port).as_deref(), Ok("1.0.0"));

    // While the lost run's lock lasts (its deadline and a minute), another run is refused
    // and changes nothing.
    let before = app_containers(&name);
    let busy = deploy(&name, port, &proxy, &["--image", &images.v2, "--version-label", "v2"]);
    assert_eq!(busy.code, 1, "{}", busy.stderr);
    assert_eq!(busy.output("status"), Some("busy"), "{}", busy.stderr);
    assert_eq!(app_containers(&name), before);
    // The operator does what the warning said (the lost run is gone), and the next run
    // removes what the lost run left and deploys.
    assert!(started.elapsed() < Duration::from_secs(100), "the lock was still the lost run's");
    Command::new("docker").args(["rm", &format!("{name}-lock")]).output().unwrap();
    let recovered = deploy(&name, port, &proxy, &["--image", &images.v2, "--version-label", "v2"]);
    assert_eq!(recovered.code, 0, "{}", recovered.stderr);
    assert!(recovered.stderr.contains("left by an earlier run"), "{}", recovered.stderr);
    assert_eq!(recovered.output("status"), Some("deployed"));
    assert_eq!(version_served(port).as_deref(), Ok("2.0.0"));
    let containers = app_containers(&name);
    assert_eq!(containers.len(), 2, "v2 live, v1 kept for a rollback: {containers:?}");

    // An engine restart restarts the proxy and the live container (restart policy
    // unless-stopped): Caddy resumes the configuration it last loaded and serves v2 again.
    let live = recovered.output("deployment-id").unwrap().to_owned();
    let restarted = Command::new("docker").args(["restart", &format!("{name}-proxy"), &live]).output().unwrap();
    assert!(restarted.status.success(), "{}", String::from_utf8_lossy(&restarted.stderr));
    let until = Instant::now() + Duration::from_secs(60);
    while version_served(port).as_deref() != Ok("2.0.0") {
        assert!(Instant::now() < until, "after a restart: {:?}", version_served(port));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(inspect(&live, "{{.HostConfig.RestartPolicy.Name}}").as_deref(), Some("unless-stopped"));
    assert_eq!(
        inspect(&format!("{name}-proxy"), "{{.HostConfig.RestartPolicy.Name}}").as_deref(),
        Some("unless-stopped")
    );
}
