//! Support for slipway's integration tests.
//!
//! Tests that need a real counterpart (Maven, Gradle, Java, the Docker Engine, a
//! registry, act) ask [`prerequisite`] first: on a machine without it they skip with
//! a notice, but under `SLIPWAY_REQUIRE_E2E=1` (set by `.ci/run`) a missing
//! prerequisite fails the test, so CI never passes by skipping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

pub mod certificates;
pub mod faults;
pub mod http;
pub mod interrupt;
pub mod kube_api;
pub mod prometheus;
pub mod registries;
pub mod secrets;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether a missing prerequisite must fail the test (`SLIPWAY_REQUIRE_E2E=1`).
pub fn e2e_required() -> bool {
    std::env::var("SLIPWAY_REQUIRE_E2E").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `true` when `what` is available; otherwise skips (returns `false`) or, under
/// `SLIPWAY_REQUIRE_E2E=1`, panics naming what is missing.
pub fn prerequisite(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(!e2e_required(), "prerequisite missing: {what} (SLIPWAY_REQUIRE_E2E=1 forbids skipping)");
    eprintln!("SKIPPED: prerequisite missing: {what}");
    false
}

/// Whether `program args...` runs and exits 0.
pub fn command_works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Debian's Maven repository, where offline Maven builds find their plugins.
pub const DEBIAN_MAVEN_REPO: &str = "/usr/share/maven-repo";

/// Maven plus the plugins the sample's pom pins, from Debian's repository.
pub fn maven_ready() -> bool {
    prerequisite(
        "mvn and Debian's Maven repository with maven-shade-plugin (apt-get install maven libmaven-shade-plugin-java)",
        command_works("mvn", &["--version"])
            && Path::new(DEBIAN_MAVEN_REPO).join("org/apache/maven/plugins/maven-shade-plugin").is_dir(),
    )
}

/// Debian's Gradle plus gson in Debian's repository.
pub fn gradle_ready() -> bool {
    prerequisite(
        "gradle and gson in Debian's Maven repository (apt-get install gradle libgoogle-gson-java)",
        command_works("gradle", &["--version", "--offline"])
            && Path::new(DEBIAN_MAVEN_REPO).join("com/google/code/gson").is_dir(),
    )
}

pub fn java_ready() -> bool {
    prerequisite("java (a JDK 17 or newer)", command_works("java", &["-version"]))
}

/// The workspace root (the directory holding the root Cargo.toml and Cargo.lock).
///
/// Found from the running test's own `CARGO_MANIFEST_DIR` (cargo sets it when it runs a
/// test), not from testkit's compile-time one: cargo shares testkit's build between
/// checkouts of the workspace in different folders (its hash uses the path relative to the
/// workspace), so a compile-time path can name another checkout.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", start.display()))
        .to_owned()
}

/// The bundled sample application.
pub fn sample_app_dir() -> PathBuf {
    workspace_root().join("workflows-examples/sample-app")
}

/// Copies a project tree without its build outputs, so tests build in isolation.
pub fn copy_project(from: &Path, to: &Path) {
    copy_skipping(from, to, &["target", "build", ".gradle"]);
}

/// Copies every file under `from` into `to`, build outputs included.
pub fn copy_tree(from: &Path, to: &Path) {
    copy_skipping(from, to, &[]);
}

fn copy_skipping(from: &Path, to: &Path, skipped: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if skipped.iter().any(|skip| name == *skip) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_skipping(&entry.path(), &target, skipped);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Serves `dir` over plain HTTP on a free loopback port (Python's http.server) until the
/// guard drops; returns once `ready_path` answers 200.
pub fn serve_directory(dir: &Path, ready_path: &str) -> (ChildGuard, u16) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    wait_for_http(port, ready_path, Duration::from_secs(20)).unwrap();
    (guard, port)
}

/// moto's server (PyPI `moto[server]`) on a free loopback port until the guard drops:
/// its endpoint (`http://127.0.0.1:PORT`), or `None` when moto is not installed (a skip,
/// or a failure under `SLIPWAY_REQUIRE_E2E=1`).
pub fn moto_server() -> Option<(ChildGuard, String)> {
    let available = command_works("moto_server", &["--help"]);
    if !prerequisite("moto's server (pip install 'moto[server]')", available) {
        return None;
    }
    let port = free_port();
    let server = ChildGuard(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((server, format!("http://127.0.0.1:{port}")))
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// A child process killed when the guard drops, so a failing test leaves no server behind.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET against 127.0.0.1:`port`; returns the status and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Polls `path` on `port` until it answers 200 or `timeout` passes; returns the body.
pub fn wait_for_http(port: u16, path: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never tried");
    while Instant::now() < deadline {
        match http_get(port, path) {
            Ok((200, body)) => return Ok(body),
            Ok((status, _)) => last = format!("status {status}"),
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("127.0.0.1:{port}{path} did not answer 200 within {timeout:?}: {last}"))
}

/// The loopback registry `scripts/test-services.sh start` runs (`SLIPWAY_TEST_REGISTRY`,
/// default 127.0.0.1:5555), when it answers and holds the test JRE image.
pub fn test_registry() -> Option<String> {
    let registry = std::env::var("SLIPWAY_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5555".to_owned());
    let port = registry.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(5555);
    let serving = http_get(port, "/v2/slipway/jre/tags/list")
        .is_ok_and(|(status, body)| status == 200 && body.contains("\"17\""));
    prerequisite(
        &format!("the test registry at {registry} with slipway/jre:17 (scripts/test-services.sh start)"),
        serving,
    )
    .then_some(registry)
}

pub fn docker_ready() -> bool {
    prerequisite("the Docker Engine (docker info)", command_works("docker", &["info"]))
}

/// A container runc runs for a test: deleted (with its `runc run` child) when dropped.
#[derive(Debug)]
pub struct RuncContainer {
    pub id: String,
    pub child: ChildGuard,
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc").args(["delete", "--force", &self.id]).output();
    }
}

/// Removes what deploy or `docker run` made under the app name it holds (as
/// [`remove_docker_app`]), when dropped.
#[derive(Debug)]
pub struct DockerApp(pub String);

impl Drop for DockerApp {
    fn drop(&mut self) {
        remove_docker_app(&self.0);
    }
}

/// Removes an image the Docker Engine loaded or pulled, when dropped (declare it before
/// the app's guard, so that it drops after the containers are gone).
#[derive(Debug)]
pub struct LocalImage(pub String);

impl Drop for LocalImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["image", "rm", "--force", &self.0]).output();
    }
}

/// Removes everything deploy's Docker target may have made for the app `name`, by either
/// strategy: its containers behind the proxy (by label), the proxy, the lock and the
/// proxy's network, and the direct strategy's `name`, `-previous`, `-next`, `-replaced`.
pub fn remove_docker_app(name: &str) {
    let listed =
        Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=dev.slipway.app={name}")]).output();
    let mut containers: Vec<String> = listed
        .map(|out| String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    containers
        .extend(["", "-proxy", "-lock", "-previous", "-next", "-replaced"].map(|suffix| format!("{name}{suffix}")));
    let _ = Command::new("docker").args(["rm", "--force"]).args(&containers).output();
    let _ = Command::new("docker").args(["network", "rm", &format!("{name}-proxy-net")]).output();
}

/// skopeo, umoci and runc (as root), to check images with third-party tools.
pub fn oci_tools_ready() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    prerequisite(
        "skopeo, umoci and runc, as root (apt-get install skopeo umoci runc)",
        root && command_works("skopeo", &["--version"])
            && command_works("umoci", &["--version"])
            && command_works("runc", &["--version"]),
    )
}

fn run_checked(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds the sample's fat JAR with Maven into `dir` and returns the jar.
pub fn build_sample_fat_jar(dir: &Path) -> PathBuf {
    build_sample_fat_jar_version(dir, "1.0.0")
}

/// Builds the sample's fat JAR as `version` (its pom's project version rewritten), so
/// tests can tell two deployed builds apart by what `/version` serves.
pub fn build_sample_fat_jar_version(dir: &Path, version: &str) -> PathBuf {
    let project = dir.join(format!("sample-app-maven-{version}"));
    copy_project(&sample_app_dir(), &project);
    let pom_path = project.join("pom.xml");
    let pom = std::fs::read_to_string(&pom_path).unwrap();
    let project_version = "<artifactId>sample-app</artifactId>\n  <version>1.0.0</version>";
    assert!(pom.contains(project_version), "the sample's pom no longer starts with its version");
    let rewritten = pom.replacen(
        project_version,
        &format!("<artifactId>sample-app</artifactId>\n  <version>{version}</version>"),
        1,
    );
    std::fs::write(&pom_path, rewritten).unwrap();
    run_checked(
        Command::new("mvn")
            .args(["--batch-mode", "--quiet", "--offline", "-DskipTests", "package"])
            .arg(format!("-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"))
            .current_dir(&project),
        "mvn package of the sample",
    );
    project.join(format!("target/sample-app-{version}.jar"))
}

/// A binary of the workspace, next to the running test's own directory
/// (`target/<profile>/<name>`, built by `cargo build --workspace`), when it is there.
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe.parent()?.parent()?.join(name);
    binary.is_file().then_some(binary)
}

/// Builds the sample's distribution with Gradle into `dir` and returns its directory.
pub fn build_sample_dist(dir: &Path) -> PathBuf {
    let project = dir.join("sample-app-gradle");
    copy_project(&sample_app_dir(), &project);
    run_checked(
        Command::new("gradle")
            .args(["--offline", "--quiet", "--no-daemon", "installDist"])
            .arg(format!("-PslipwayRepo=file://{DEBIAN_MAVEN_REPO}"))
            .current_dir(&project),
        "gradle installDist of the sample",
    );
    project.join("build/install/sample-app")
}

/// Everything one run of a step binary left behind.
#[derive(Debug)]
pub struct StepRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub github_output: Option<String>,
    pub dotenv: Option<String>,
    pub summary: Option<String>,
}

impl StepRun {
    /// The output `key` from the `key=value` lines on standard output.
    pub fn output(&self, key: &str) -> Option<&str> {
        output_value(&self.stdout, key)
    }

    /// Everything the step wrote: standard output and error, $GITHUB_OUTPUT, the dotenv
    /// report and the step summary, each named.
    pub fn sinks(&self) -> [(&'static str, &str); 5] {
        [
            ("stdout", self.stdout.as_str()),
            ("stderr", self.stderr.as_str()),
            ("GITHUB_OUTPUT", self.github_output.as_deref().unwrap_or_default()),
            ("dotenv", self.dotenv.as_deref().unwrap_or_default()),
            ("GITHUB_STEP_SUMMARY", self.summary.as_deref().unwrap_or_default()),
        ]
    }

    /// Fails when anything the step wrote holds `secret`.
    pub fn assert_never_wrote(&self, secret: &str) {
        for (sink, text) in self.sinks() {
            assert!(!text.contains(secret), "{sink} holds `{secret}`:\n{text}");
        }
    }
}

/// The value of `key` among `key=value` lines.
pub fn output_value<'a>(lines: &'a str, key: &str) -> Option<&'a str> {
    lines.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// A step binary with none of the CI variables of the machine running the tests.
pub fn step_command(binary: &str) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("SLIPWAY_")
            || name.starts_with("GITHUB_")
            || name == "GITLAB_CI"
            || name == "CI"
            || name == "SOURCE_DATE_EPOCH"
        {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` with `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY` and the dotenv report
/// pointed into `sinks_dir`; what it wrote is recorded for the secret scan ([`secrets`]).
pub fn run_with_sinks(mut command: Command, sinks_dir: &Path) -> StepRun {
    let github_output = sinks_dir.join("github_output");
    let dotenv = sinks_dir.join("slipway.env");
    let summary = sinks_dir.join("summary.md");
    command.env("GITHUB_OUTPUT", &github_output).env("GITHUB_STEP_SUMMARY", &summary).env("SLIPWAY_DOTENV", &dotenv);
    let output = command.output().expect("the step binary runs");
    let read = |path: &PathBuf| std::fs::read_to_string(path).ok();
    let run = StepRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        github_output: read(&github_output),
        dotenv: read(&dotenv),
        summary: read(&summary),
    };
    let label = Path::new(command.get_program()).file_name().map(|n| n.to_string_lossy().into_owned());
    let sinks: Vec<(&str, &[u8])> = run.sinks().iter().map(|(sink, text)| (*sink, text.as_bytes())).collect();
    secrets::record(&label.unwrap_or_default(), &sinks);
    run
}

/// A class file header for Java `release` (major version release + 44).
pub fn class_bytes(release: u16) -> Vec<u8> {
    let mut bytes = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0];
    bytes.extend_from_slice(&(release + 44).to_be_bytes());
    bytes.extend_from_slice(&[0; 16]);
    bytes
}

/// Writes a zip (jar or war) holding `entries`.
pub fn write_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// OCI's name for this machine's architecture.
pub fn host_oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A base image exactly as umoci writes it, nothing rewritten: `umoci init`, `new`,
/// `insert` (one layer: a JRE's `release` file) and `config` (this machine's platform,
/// `JAVA_VERSION=17.0.9`), in a fresh layout `dir/umoci` tagged `tag`. umoci 0.4 leaves
/// `mediaType` out of its manifests, as the OCI image spec allows. Needs [`oci_tools_ready`].
pub fn umoci_image(dir: &Path, tag: &str) -> PathBuf {
    let layout = dir.join("umoci");
    let image = format!("{}:{tag}", layout.display());
    let source = dir.join("umoci-rootfs");
    std::fs::create_dir_all(source.join("java")).unwrap();
    std::fs::write(source.join("java/release"), "JAVA_VERSION=\"17.0.9\"\n").unwrap();
    run_checked(Command::new("umoci").args(["init", "--layout"]).arg(&layout), "umoci init");
    run_checked(Command::new("umoci").args(["new", "--image", &image]), "umoci new");
    run_checked(
        Command::new("umoci").args(["insert", "--image", &image]).arg(source.join("java")).arg("/opt/java"),
        "umoci insert",
    );
    run_checked(
        Command::new("umoci").args([
            "config",
            "--image",
            &image,
            "--os",
            "linux",
            "--architecture",
            host_oci_arch(),
            "--config.env",
            "JAVA_VERSION=17.0.9",
            "--config.env",
            "PATH=/opt/java/bin:/usr/bin:/bin",
        ]),
        "umoci config",
    );
    layout
}

/// `skopeo copy --preserve-digests oci:LAYOUT:TAG docker://REFERENCE` to a loopback registry:
/// the manifest lands byte for byte as the layout holds it.
pub fn skopeo_copy_to_registry(layout: &Path, tag: &str, reference: &str) {
    run_checked(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{reference}")),
        "skopeo copy",
    );
}

/// The manifest `reference` names in a loopback registry, as served (`skopeo inspect --raw`).
pub fn skopeo_raw_manifest(reference: &str) -> Vec<u8> {
    let output = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(output.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// The bundled sample servlet app, packaged as a WAR.
pub fn sample_war_dir() -> PathBuf {
    workspace_root().join("workflows-examples/sample-war")
}

/// Maven plus Debian's war plugin and Jakarta Servlet API, which the sample WAR's pom pins.
pub fn maven_war_ready() -> bool {
    let repo = Path::new(DEBIAN_MAVEN_REPO);
    prerequisite(
        "mvn, maven-war-plugin and jakarta.servlet-api in Debian's Maven repository (apt-get install maven libmaven-war-plugin-java libjakarta-servlet-api-java)",
        command_works("mvn", &["--version"])
            && repo.join("org/apache/maven/plugins/maven-war-plugin").is_dir()
            && repo.join("jakarta/servlet/jakarta.servlet-api").is_dir(),
    )
}

/// The tomcat:10-jre17 stand-in `scripts/test-services.sh start` pushes to the test registry
/// (`SLIPWAY_TEST_TOMCAT_IMAGE`), when the registry holds it.
pub fn test_tomcat_image() -> Option<String> {
    test_base_image("SLIPWAY_TEST_TOMCAT_IMAGE", "slipway/tomcat:10-jre17", "the Tomcat base")
}

/// The gcr.io/distroless/base-debian12 stand-in (glibc only) `scripts/test-services.sh start`
/// pushes to the test registry (`SLIPWAY_TEST_GLIBC_IMAGE`), when the registry holds it.
pub fn test_glibc_image() -> Option<String> {
    test_base_image("SLIPWAY_TEST_GLIBC_IMAGE", "slipway/glibc:12", "the glibc base")
}

/// A base image of the test registry, named by `variable` or `default` (`repository:tag`).
fn test_base_image(variable: &str, default: &str, what: &str) -> Option<String> {
    let registry = test_registry()?;
    let image = std::env::var(variable).unwrap_or_else(|_| format!("{registry}/{default}"));
    let (repository, tag) = image.strip_prefix(&format!("{registry}/")).and_then(|rest| rest.rsplit_once(':'))?;
    let port = registry.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(5555);
    let serving = http_get(port, &format!("/v2/{repository}/tags/list"))
        .is_ok_and(|(status, body)| status == 200 && body.contains(&format!("\"{tag}\"")));
    prerequisite(&format!("{what} {image} in the test registry (scripts/test-services.sh start)"), serving)
        .then_some(image)
}

/// gcc with glibc's static libraries (`gcc -static` works), to make the native executables
/// the native tests containerize.
pub fn gcc_static_ready() -> bool {
    let static_libc = Command::new("gcc")
        .arg("-print-file-name=libc.a")
        .output()
        .is_ok_and(|out| Path::new(String::from_utf8_lossy(&out.stdout).trim()).is_absolute());
    prerequisite(
        "gcc with glibc's static libraries (apt-get install gcc libc6-dev)",
        command_works("gcc", &["--version"]) && static_libc,
    )
}

/// Builds the sample WAR with Maven into `dir` and returns the war.
pub fn build_sample_war(dir: &Path) -> PathBuf {
    let project = dir.join("sample-war");
    copy_project(&sample_war_dir(), &project);
    run_checked(
        Command::new("mvn")
            .args(["--batch-mode", "--quiet", "--offline", "-DskipTests", "package"])
            .arg(format!("-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"))
            .current_dir(&project),
        "mvn package of the sample WAR",
    );
    project.join("target/sample-war-1.0.0.war")
}

/// CycloneDX's own Python library with its JSON schema validator (PyPI
/// `cyclonedx-python-lib[json-validation]`), the judge of the SBOMs containerize writes.
pub fn cyclonedx_validator_ready() -> bool {
    prerequisite(
        "CycloneDX's validator (python3 -m pip install 'cyclonedx-python-lib[json-validation]')",
        command_works("python3", &["-c", "from cyclonedx.validation.json import JsonStrictValidator"]),
    )
}

/// Validates `sbom` against CycloneDX 1.6's JSON schema with CycloneDX's own validator;
/// `Err` holds what it found wrong.
pub fn validate_cyclonedx_1_6(sbom: &Path) -> Result<(), String> {
    const SCRIPT: &str = "import sys\n\
        from cyclonedx.schema import SchemaVersion\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        print(error if error else 'valid')\n\
        sys.exit(1 if error else 0)\n";
    let output = Command::new("python3").args(["-c", SCRIPT]).arg(sbom).output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

/// The packages Maven itself resolves for `project` at runtime (compile and runtime scope:
/// what a fat JAR, a dist or a WAR carries), as sorted `pkg:maven` purls, from
/// `mvn dependency:list` offline against Debian's repository.
pub fn maven_runtime_purls(project: &Path) -> Vec<String> {
    let listing = project.join("target/slipway-dependency-list.txt");
    run_checked(
        Command::new("mvn")
            .args(["--batch-mode", "--quiet", "--offline", "dependency:list", "-DincludeScope=runtime"])
            .arg(format!("-DoutputFile={}", listing.display()))
            .arg(format!("-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"))
            .current_dir(project),
        "mvn dependency:list",
    );
    let text = std::fs::read_to_string(&listing).unwrap();
    // `   com.google.code.gson:gson:jar:2.10:compile -- module gson (auto)`
    let mut purls: Vec<String> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|coordinates| {
            let parts: Vec<&str> = coordinates.split(':').collect();
            match parts.as_slice() {
                [group, artifact, _type, version, _scope] | [group, artifact, _type, _, version, _scope] => {
                    Some(format!("pkg:maven/{group}/{artifact}@{version}"))
                }
                _ => None,
            }
        })
        .collect();
    purls.sort();
    purls
}
