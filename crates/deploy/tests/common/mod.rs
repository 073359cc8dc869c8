//! Test support for the Docker target: the sample app's images, built once per test
//! binary with containerize and push-image (in process) on the loopback registry, and
//! a deploy command with a clean environment. Traffic stays on loopback.
#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_testkit::{StepRun, run_with_sinks, step_command};

/// Three digest-pinned images of the sample app on the loopback registry.
#[derive(Debug, Clone)]
pub struct Images {
    /// Answers /health; `APP_MARK=v1` in its environment.
    pub v1: String,
    /// Another build of the sample, serving version 2.0.0 (`APP_MARK=v2`).
    pub v2: String,
    /// Exits at once: the JVM refuses an unknown -XX flag.
    pub broken: String,
    /// Serves version 2.0.0 and answers every `GET /` with 500 (`APP_FAIL_PERCENT=100`).
    pub failing: String,
}

/// The images, or `None` (skipped) without Docker, the test registry or Maven.
pub fn images() -> Option<Images> {
    if !(slipway_testkit::docker_ready() && slipway_testkit::maven_ready()) {
        return None;
    }
    let registry = slipway_testkit::test_registry()?;
    static IMAGES: OnceLock<Images> = OnceLock::new();
    Some(IMAGES.get_or_init(|| build_images(&registry)).clone())
}

fn build_images(registry: &str) -> Images {
    let work = tempfile::tempdir().unwrap();
    let jar = slipway_testkit::build_sample_fat_jar(work.path());
    // v2 is another build: it serves version 2.0.0, so verify can tell the two apart.
    let jar_v2 = slipway_testkit::build_sample_fat_jar_version(work.path(), "2.0.0");
    let repository = format!("{registry}/deploy-test/app-{}-{}", std::process::id(), fastrand::u32(..));
    let base = format!("{registry}/slipway/jre:17");
    let image = |tag: &str, jar: &Path, env: &[&str], jvm_flags: &[&str]| {
        let layout = containerize(work.path(), jar, &base, tag, env, jvm_flags);
        push(&layout, &repository, tag)
    };
    Images {
        v1: image("v1", &jar, &["APP_MARK=v1"], &[]),
        v2: image("v2", &jar_v2, &["APP_MARK=v2"], &[]),
        broken: image("broken", &jar, &["APP_MARK=broken"], &["-XX:+UnknownFlagThatFails"]),
        failing: image("failing", &jar_v2, &["APP_MARK=failing", "APP_FAIL_PERCENT=100"], &[]),
    }
}

/// The sample's fat JAR, built once per test binary (`None` without Maven).
pub fn sample_jar() -> Option<&'static Path> {
    if !slipway_testkit::maven_ready() {
        return None;
    }
    static JAR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, jar) = JAR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let jar = slipway_testkit::build_sample_fat_jar(dir.path());
        (dir, jar)
    });
    Some(jar.as_path())
}

/// The sample (v1) on the test JRE base with a layer of `kib` KiB of fresh random bytes on
/// top, pushed to `registry` under a new repository: no engine holds that layer yet, so a
/// pull of it downloads it. Its digest-pinned reference, with the repository alone.
pub fn fresh_image(registry: &str, base_registry: &str, jar: &Path, kib: usize) -> (String, String) {
    let work = tempfile::tempdir().unwrap();
    let noise = work.path().join("noise");
    std::fs::create_dir_all(&noise).unwrap();
    let mut bytes = vec![0u8; kib * 1024];
    fastrand::fill(&mut bytes);
    std::fs::write(noise.join("noise.bin"), bytes).unwrap();
    let output = work.path().join("layout");
    let base = format!("{base_registry}/slipway/jre:17");
    let mut args = slipway_containerize::ContainerizeArgs::for_artifact(jar, &base, &output).unwrap();
    args.env = vec!["APP_MARK=fresh".to_owned()];
    args.add = vec![format!("{}:/opt/noise", noise.display())];
    let log = CapturedLog::default();
    slipway_containerize::run(&args, &log.console("containerize", CiMode::Plain))
        .unwrap_or_else(|e| panic!("containerize: {e}: {}", log.text()));
    let repository = format!("deploy-test/fresh-{}-{}", std::process::id(), fastrand::u32(..));
    let reference = push(&output, &format!("{registry}/{repository}"), "1");
    (reference, repository)
}

fn containerize(dir: &Path, jar: &Path, base: &str, tag: &str, env: &[&str], jvm_flags: &[&str]) -> PathBuf {
    let output = dir.join(format!("layout-{tag}"));
    let mut args = slipway_containerize::ContainerizeArgs::for_artifact(jar, base, &output).unwrap();
    args.env = env.iter().map(|e| (*e).to_owned()).collect();
    args.jvm_flag = jvm_flags.iter().map(|f| (*f).to_owned()).collect();
    let log = CapturedLog::default();
    slipway_containerize::run(&args, &log.console("containerize", CiMode::Plain))
        .unwrap_or_else(|e| panic!("containerize {tag}: {e}: {}", log.text()));
    output
}

fn push(layout: &Path, repository: &str, tag: &str) -> String {
    let args = slipway_push_image::PushImageArgs {
        layout: layout.to_owned(),
        image: repository.to_owned(),
        tag: vec![tag.to_owned()],
        tags_from_ref: false,
        concurrency: 4,
        timeout: Duration::from_secs(300),
        username: None,
        password_stdin: false,
        insecure_registry: Vec::new(),
        dry_run: false,
        sbom: None,
    };
    let log = CapturedLog::default();
    let report = slipway_push_image::run(&args, &log.console("push-image", CiMode::Plain))
        .unwrap_or_else(|e| panic!("push-image {tag}: {e}: {}", log.text()));
    report.outputs.get("image-ref").unwrap().to_owned()
}

/// The deploy binary with none of the machine's CI variables.
pub fn deploy_command() -> Command {
    step_command(env!("CARGO_BIN_EXE_deploy"))
}

/// Runs a deploy command with its sinks in a fresh directory.
pub fn run(command: Command) -> StepRun {
    let sinks = tempfile::tempdir().unwrap();
    run_with_sinks(command, sinks.path())
}

/// A unique container name for one test.
pub fn unique_name(what: &str) -> String {
    format!("slipway-test-{what}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// Removes every container a deployment under `name` may have made, when dropped.
pub use slipway_testkit::DockerApp as Containers;

/// `docker inspect --format FORMAT NAME`, or `None` when there is no such container.
pub fn inspect(name: &str, format: &str) -> Option<String> {
    let output =
        Command::new("docker").args(["inspect", "--type", "container", "--format", format, name]).output().unwrap();
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The caddy:2 stand-in on the loopback registry, if it is there.
pub fn proxy_image() -> Option<String> {
    let registry = slipway_testkit::test_registry()?;
    let image = std::env::var("SLIPWAY_TEST_CADDY_IMAGE").unwrap_or_else(|_| format!("{registry}/slipway/caddy:2"));
    let present =
        slipway_testkit::command_works("skopeo", &["inspect", "--tls-verify=false", &format!("docker://{image}")]);
    slipway_testkit::prerequisite(&format!("the proxy image {image} (scripts/test-services.sh start)"), present)
        .then_some(image)
}

/// What [`version_served`] says of a connection closed before any answer.
pub const CLOSED_UNANSWERED: &str = "closed without an answer";

/// One GET /version on a new connection to 127.0.0.1:`port`; the version the app
/// reports, or why there was none.
pub fn version_served(port: u16) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| format!("read: {e}"))?;
    if answer.is_empty() {
        return Err(CLOSED_UNANSWERED.to_owned());
    }
    let status = answer.split_whitespace().nth(1).unwrap_or("none");
    if status != "200" {
        return Err(format!("HTTP {status}: {}", answer.lines().next().unwrap_or("no answer")));
    }
    let version = answer.split("\"version\":\"").nth(1).and_then(|rest| rest.split('"').next());
    version.map(str::to_owned).ok_or_else(|| format!("no version in {answer}"))
}

/// The app's containers behind the proxy, `NAME STATE`, sorted.
pub fn app_containers(name: &str) -> Vec<String> {
    let listed = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}} {{.State}}", "--filter", &format!("label=dev.slipway.app={name}")])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The one `::error`/`error:` line a failed run ends with.
pub fn error_line(run: &StepRun) -> &str {
    run.stderr.lines().rfind(|line| line.contains("error")).unwrap_or_default()
}
