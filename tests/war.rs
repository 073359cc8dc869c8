//! A WAR in a servlet container, for real: the sample servlet app (workflows-examples/
//! sample-war) built by build-jar with Maven offline, put by containerize into the webapps
//! directory of the tomcat:10-jre17 stand-in that scripts/test-services.sh assembles from
//! Debian's Tomcat 10, and the image run by runc and by the Docker Engine, then pushed,
//! deployed (docker, direct) and verified. Each answers /health and /version on its context
//! path (ROOT.war: `/`). Runs the binaries `cargo build --workspace` made; skips without
//! them or their prerequisites unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use slipway_testkit::{
    ChildGuard, DEBIAN_MAVEN_REPO, DockerApp, LocalImage, RuncContainer, StepRun, copy_project,
    cyclonedx_validator_ready, docker_ready, free_port, http_get, maven_runtime_purls, maven_war_ready,
    oci_tools_ready, prerequisite, run_with_sinks, sample_war_dir, step_command, test_tomcat_image,
    validate_cyclonedx_1_6, wait_for_http, workspace_binary,
};

const WEBAPPS: &str = "/usr/local/tomcat/webapps";
/// Tomcat starts in a few seconds; a loaded CI machine gets more.
const STARTUP: Duration = Duration::from_secs(90);

fn step(name: &str) -> Command {
    step_command(workspace_binary(name).unwrap().to_str().unwrap())
}

fn run_step(command: Command, sinks: &Path) -> StepRun {
    std::fs::create_dir_all(sinks).unwrap();
    run_with_sinks(command, sinks)
}

/// What the chain made of the sample WAR, once per test binary.
struct WarImage {
    _work: tempfile::TempDir,
    work: PathBuf,
    build: StepRun,
    containerize: StepRun,
    project: PathBuf,
    war: PathBuf,
    layout: PathBuf,
    tarball: PathBuf,
    base: String,
}

/// The sample WAR built by build-jar and containerized onto the Tomcat base, or `None`
/// (skipped) without the binaries, Maven's war plugin or the Tomcat base.
fn war_image() -> Option<&'static WarImage> {
    let built = ["build-jar", "containerize", "push-image", "deploy", "verify"]
        .iter()
        .all(|name| workspace_binary(name).is_some());
    if !(prerequisite("the suite's binaries (cargo build --workspace)", built) && maven_war_ready()) {
        return None;
    }
    let base = test_tomcat_image()?;
    static IMAGE: OnceLock<WarImage> = OnceLock::new();
    Some(IMAGE.get_or_init(|| build_war_image(base)))
}

fn build_war_image(base: String) -> WarImage {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_owned();
    let project = work.join("sample-war");
    copy_project(&sample_war_dir(), &project);

    let mut build = step("build-jar");
    build
        .arg("--project-dir")
        .arg(&project)
        .args(["--tool", "maven", "--offline", "--skip-tests"])
        .arg(format!("--build-arg=-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"));
    let build = run_step(build, &work.join("sinks-build"));
    assert_eq!(build.code, 0, "build-jar: {}", build.stderr);
    let war = PathBuf::from(build.output("artifact").unwrap());

    let layout = work.join("layout");
    let tarball = work.join("image.tar");
    let mut containerize = step("containerize");
    containerize
        .arg("--artifact")
        .arg(&war)
        .args(["--base", &base, "--webapps-dir", WEBAPPS, "--image", "slipway-test/sample-war:1.0.0"])
        .arg("--output")
        .arg(&layout)
        .arg("--tarball")
        .arg(&tarball)
        .env("SOURCE_DATE_EPOCH", "1704067200");
    let containerize = run_step(containerize, &work.join("sinks-containerize"));
    assert_eq!(containerize.code, 0, "containerize: {}", containerize.stderr);
    WarImage { _work: dir, work, build, containerize, project, war, layout, tarball, base }
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join(digest.replace(':', "/"))
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// `/version` names the sample and its version, served at the root context by Tomcat.
fn assert_serves_the_sample(port: u16) {
    let health = wait_for_http(port, "/health", STARTUP).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&health).unwrap()["status"], "ok", "{health}");
    let version: Value = serde_json::from_str(&wait_for_http(port, "/version", STARTUP).unwrap()).unwrap();
    assert_eq!(version["version"], "1.0.0", "{version}");
    assert_eq!(version["contextPath"], "", "ROOT.war is the root context: {version}");
    assert!(version["container"].as_str().unwrap().starts_with("Apache Tomcat/10."), "{version}");
}

#[test]
fn build_jar_builds_the_war_and_containerize_puts_it_in_tomcats_webapps() {
    let Some(image) = war_image() else { return };
    let build = &image.build;
    assert_eq!(build.output("kind"), Some("war"), "packaging war detected: {}", build.stdout);
    assert_eq!(build.output("version"), Some("1.0.0"));
    assert_eq!(build.output("java-release"), Some("17"));
    assert_eq!(build.output("main-class"), Some(""), "a servlet container starts a WAR");
    assert!(image.war.ends_with("target/sample-war-1.0.0.war"), "{}", image.war.display());
    assert_eq!(build.output("sha256"), Some(sha256_of(&image.war).as_str()));
    let listing = Command::new("unzip").arg("-Z1").arg(&image.war).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    for entry in
        ["WEB-INF/web.xml", "WEB-INF/lib/gson-2.10.jar", "WEB-INF/classes/dev/slipway/sample/war/StatusServlet.class"]
    {
        assert!(listing.lines().any(|line| line == entry), "{entry} in the WAR:\n{listing}");
    }
    assert!(!listing.contains("servlet-api"), "the provided servlet API stays out of WEB-INF/lib:\n{listing}");

    // The image: the base's own command, user and working directory, the WAR as ROOT.war.
    let run = &image.containerize;
    let index = json_file(&image.layout.join("index.json"));
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap();
    assert_eq!(run.output("image-digest"), Some(manifest_digest));
    let manifest = json_file(&blob(&image.layout, manifest_digest));
    let config = json_file(&blob(&image.layout, manifest["config"]["digest"].as_str().unwrap()));
    let settings = &config["config"];
    assert_eq!(settings["Cmd"], serde_json::json!(["catalina.sh", "run"]), "{settings}");
    assert!(settings["Entrypoint"].is_null(), "no java entrypoint for a WAR: {settings}");
    assert_eq!(settings["WorkingDir"], "/usr/local/tomcat");
    assert!(settings["User"].as_str().unwrap_or_default().is_empty(), "the base's user: {settings}");
    assert!(settings["Env"].as_array().unwrap().iter().any(|e| e == "CATALINA_HOME=/usr/local/tomcat"));
    assert_eq!(settings["Labels"]["org.opencontainers.image.version"], "1.0.0");

    let app_layer = manifest["layers"].as_array().unwrap().last().unwrap();
    let unpacked = image.work.join("app-layer");
    std::fs::create_dir_all(&unpacked).unwrap();
    let layer = blob(&image.layout, app_layer["digest"].as_str().unwrap());
    let untar = Command::new("tar").arg("-xzf").arg(&layer).arg("-C").arg(&unpacked).output().unwrap();
    assert!(untar.status.success(), "tar: {}", String::from_utf8_lossy(&untar.stderr));
    let root_war = unpacked.join("usr/local/tomcat/webapps/ROOT.war");
    assert_eq!(sha256_of(&root_war), sha256_of(&image.war), "the layer holds the WAR as ROOT.war");
}

#[test]
fn the_wars_sbom_lists_web_inf_lib_as_maven_resolved_it_hashed_and_valid() {
    let Some(image) = war_image() else { return };
    if !cyclonedx_validator_ready() {
        return;
    }
    let path = PathBuf::from(image.containerize.output("sbom").unwrap());
    assert_eq!(path, image.layout.join("sbom.cdx.json"));
    validate_cyclonedx_1_6(&path).unwrap_or_else(|error| panic!("CycloneDX's validator refused the SBOM: {error}"));
    let sbom = json_file(&path);
    let components = sbom["components"].as_array().unwrap();
    let app = components.iter().find(|c| c["type"] == "application").unwrap();
    assert_eq!(app["purl"], "pkg:maven/dev.slipway/sample-war@1.0.0");
    assert_eq!(app["hashes"][0]["content"], sha256_of(&image.war));
    assert_eq!(app["evidence"]["occurrences"][0]["location"], format!("{WEBAPPS}/ROOT.war"));
    let libraries: Vec<&Value> = components.iter().filter(|c| c["type"] == "library").collect();
    let mut purls: Vec<String> = libraries.iter().map(|c| c["purl"].as_str().unwrap().to_owned()).collect();
    purls.sort();
    // The provided servlet API is Tomcat's, not the WAR's: runtime scope is what WEB-INF/lib holds.
    assert_eq!(purls, maven_runtime_purls(&image.project));
    for library in libraries {
        let location = library["evidence"]["occurrences"][0]["location"].as_str().unwrap();
        let entry = location.strip_prefix(&format!("{WEBAPPS}/ROOT.war!/")).unwrap();
        assert!(entry.starts_with("WEB-INF/lib/"), "{location}");
        let jar = Command::new("unzip").arg("-p").arg(&image.war).arg(entry).output().unwrap().stdout;
        let jar_path = image.work.join("jar-from-war.jar");
        std::fs::write(&jar_path, jar).unwrap();
        assert_eq!(library["hashes"][0]["content"], sha256_of(&jar_path), "{location}");
    }
    let base = components.iter().find(|c| c["type"] == "container").unwrap();
    assert_eq!(base["version"], image.containerize.output("base-digest").unwrap());
    assert_eq!(base["name"], image.base.as_str());
}

#[test]
fn the_war_image_answers_on_its_context_path_under_runc() {
    let Some(image) = war_image() else { return };
    if !oci_tools_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    let unpack = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:1.0.0", image.layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(unpack.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&unpack.stderr));
    // runc shares the host's network here, so Tomcat listens on a free port instead of 8080.
    let port = free_port();
    let server_xml = bundle.join("rootfs/usr/local/tomcat/conf/server.xml");
    let text = std::fs::read_to_string(&server_xml).unwrap();
    assert!(text.contains("port=\"8080\""), "the base's server.xml listens on 8080");
    std::fs::write(&server_xml, text.replace("port=\"8080\"", &format!("port=\"{port}\""))).unwrap();
    let config_path = bundle.join("config.json");
    let mut config = json_file(&config_path);
    assert_eq!(config["process"]["args"], serde_json::json!(["catalina.sh", "run"]));
    config["process"]["terminal"] = false.into();
    config["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != "network");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();

    let id = format!("slipway-war-test-{}-{port}", std::process::id());
    let child = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _container = RuncContainer { id, child: ChildGuard(child) };
    assert_serves_the_sample(port);
    // Tomcat expanded the WAR it was given in its webapps directory.
    assert!(bundle.join("rootfs/usr/local/tomcat/webapps/ROOT/WEB-INF/lib/gson-2.10.jar").is_file());
}

#[test]
fn the_war_image_answers_on_its_context_path_under_docker() {
    let Some(image) = war_image() else { return };
    if !docker_ready() {
        return;
    }
    let loaded = Command::new("docker").arg("load").arg("-i").arg(&image.tarball).output().unwrap();
    assert!(loaded.status.success(), "docker load: {}", String::from_utf8_lossy(&loaded.stderr));
    let _image = LocalImage("slipway-test/sample-war:1.0.0".to_owned());
    let port = free_port();
    let name = format!("slipway-war-test-{}-{port}", std::process::id());
    let _cleanup = DockerApp(name.clone());
    let started = Command::new("docker")
        .args(["run", "--detach", "--name", &name, "--publish"])
        .arg(format!("127.0.0.1:{port}:8080"))
        .arg("slipway-test/sample-war:1.0.0")
        .output()
        .unwrap();
    assert!(started.status.success(), "docker run: {}", String::from_utf8_lossy(&started.stderr));
    assert_serves_the_sample(port);
}

#[test]
fn the_war_image_is_pushed_deployed_and_verified() {
    let Some(image) = war_image() else { return };
    if !docker_ready() {
        return;
    }
    let registry = image.base.split('/').next().unwrap();
    let repository = format!("{registry}/war-test/sample-war-{}", std::process::id());
    let mut push = step("push-image");
    push.arg("--layout").arg(&image.layout).args(["--image", &repository, "--tag", "1.0.0"]);
    let pushed = run_step(push, &image.work.join("sinks-push"));
    assert_eq!(pushed.code, 0, "push-image: {}", pushed.stderr);
    let image_ref = pushed.output("image-ref").unwrap().to_owned();
    assert!(image_ref.starts_with(&format!("{repository}@sha256:")), "{image_ref}");
    assert_sbom_is_a_referrer(image, &repository, &pushed);
    // Pushed again (another tag), the same SBOM gives the same referrer, listed once.
    let mut again = step("push-image");
    again.arg("--layout").arg(&image.layout).args(["--image", &repository, "--tag", "again"]);
    let again = run_step(again, &image.work.join("sinks-push-again"));
    assert_eq!(again.code, 0, "push-image again: {}", again.stderr);
    assert_eq!(again.output("sbom-ref"), pushed.output("sbom-ref"), "the referrer is reproducible");
    assert_sbom_is_a_referrer(image, &repository, &again);
    // The fallback index already listed it: the second push read it and wrote nothing more.
    assert!(again.stderr.contains("already attached"), "{}", again.stderr);

    let _pulled = LocalImage(image_ref.clone());
    let port = free_port();
    let name = format!("slipway-war-deploy-{}-{port}", std::process::id());
    let _cleanup = DockerApp(name.clone());
    let mut deploy = step("deploy");
    deploy.args(["--target", "docker", "--strategy", "direct", "--name", &name, "--timeout", "3m"]).args([
        "--publish",
        &format!("127.0.0.1:{port}:8080"),
        "--image",
        &image_ref,
        "--version-label",
        "v1",
    ]);
    let deployed = run_step(deploy, &image.work.join("sinks-deploy"));
    assert_eq!(deployed.code, 0, "deploy: {}", deployed.stderr);
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(deployed.output("url"), Some(url.as_str()));
    assert_eq!(deployed.output("status"), Some("deployed"));

    let mut verify = step("verify");
    verify.args(["--url", &url, "--check", "/health", "--expect-version", "1.0.0", "--timeout", "90s"]);
    let verified = run_step(verify, &image.work.join("sinks-verify"));
    assert_eq!(verified.code, 0, "verify: {}", verified.stderr);
    assert_eq!(verified.output("healthy"), Some("true"));
    assert_eq!(verified.output("version-seen"), Some("1.0.0"));
}

/// The SBOM was pushed as an OCI 1.1 referrer of the image, found by clients that are not
/// ours: the registry (distribution 2.8) has no referrers API, so the spec's fallback tag
/// `sha256-<image digest hex>` lists it, read with skopeo, and its blob read with curl.
fn assert_sbom_is_a_referrer(image: &WarImage, repository: &str, pushed: &StepRun) {
    let image_digest = pushed.output("digest").unwrap();
    let sbom_ref = pushed.output("sbom-ref").unwrap();
    let sbom_digest = sbom_ref.strip_prefix(&format!("{repository}@")).unwrap_or_else(|| panic!("{sbom_ref}"));
    let (registry, path) = repository.split_once('/').unwrap();
    let port: u16 = registry.rsplit(':').next().unwrap().parse().unwrap();
    let (status, _) = http_get(port, &format!("/v2/{path}/referrers/{image_digest}")).unwrap();
    assert_eq!(status, 404, "distribution 2.8 has no referrers API, so the fallback is what is tested");
    assert!(pushed.stderr.contains("referrers tag"), "{}", pushed.stderr);

    let raw = |reference: &str| -> Value {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let index = raw(&format!("{repository}:{}", image_digest.replacen(':', "-", 1)));
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let entries: Vec<&Value> = index["manifests"].as_array().unwrap().iter().collect();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(entries[0]["digest"], sbom_digest);
    assert_eq!(entries[0]["artifactType"], "application/vnd.cyclonedx+json");

    let manifest = raw(sbom_ref);
    assert_eq!(manifest["artifactType"], "application/vnd.cyclonedx+json");
    assert_eq!(manifest["subject"]["digest"], image_digest);
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = Command::new("curl")
        .args(["--silent", "--fail", "--max-time", "10"])
        .arg(format!("http://{registry}/v2/{path}/blobs/{layer}"))
        .output()
        .unwrap();
    assert!(blob.status.success());
    assert_eq!(blob.stdout, std::fs::read(image.layout.join("sbom.cdx.json")).unwrap(), "the SBOM itself");
}
