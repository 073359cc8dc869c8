//! containerize against real parts: the test registry's base images (built by
//! scripts/test-services.sh with jlink and umoci), checked with skopeo and umoci, and
//! run with runc and the Docker Engine. Skips without them unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use slipway_testkit::{
    ChildGuard, StepRun, build_sample_dist, build_sample_fat_jar, docker_ready, free_port, gradle_ready, maven_ready,
    oci_tools_ready, run_with_sinks, step_command, test_registry, wait_for_http,
};

fn containerize() -> Command {
    step_command(env!("CARGO_BIN_EXE_containerize"))
}

fn run(args: &[&str], sinks: &Path) -> StepRun {
    let mut command = containerize();
    command.args(args);
    run_with_sinks(command, sinks)
}

/// The sample's fat JAR, built once for this test binary.
fn fat_jar() -> &'static Path {
    static JAR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &JAR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let jar = build_sample_fat_jar(dir.path());
        (dir, jar)
    })
    .1
}

/// The sample's dist, built once for this test binary.
fn dist() -> &'static Path {
    static DIST: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIST
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let dist = build_sample_dist(dir.path());
            (dir, dist)
        })
        .1
}

fn json(text: &[u8]) -> Value {
    serde_json::from_slice(text).unwrap()
}

fn output_of(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// Unpacks `layout:tag` with umoci and runs it with runc on the host network; returns
/// a guard that stops it. The app proves itself by answering on `port`.
fn run_under_runc(layout: &Path, tag: &str, work: &Path) -> RuncContainer {
    let bundle = work.join("bundle");
    output_of(
        Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:{tag}", layout.display())).arg(&bundle),
    );
    let config_path = bundle.join("config.json");
    let mut config = json(&std::fs::read(&config_path).unwrap());
    config["process"]["terminal"] = false.into();
    // Share the host's network so the test can reach the app on loopback.
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "network");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let id = format!("slipway-test-{}", std::process::id() as u64 * 1000 + u64::from(free_port() % 1000));
    let child = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    RuncContainer { id, _child: ChildGuard(child), user: config["process"]["user"].clone() }
}

struct RuncContainer {
    id: String,
    _child: ChildGuard,
    user: Value,
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc").args(["delete", "--force", &self.id]).output();
    }
}

/// Loads `tarball` into the Docker Engine and runs `image` with PORT=8080, published
/// on `port`.
fn run_under_docker(tarball: &Path, image: &str, port: u16) -> DockerContainer {
    let loaded = String::from_utf8(output_of(Command::new("docker").arg("load").arg("-i").arg(tarball))).unwrap();
    assert!(loaded.contains(image), "docker load said: {loaded}");
    let id = String::from_utf8(output_of(
        Command::new("docker")
            .args(["run", "--detach", "--env", "PORT=8080", "--publish"])
            .arg(format!("127.0.0.1:{port}:8080"))
            .arg(image),
    ))
    .unwrap()
    .trim()
    .to_owned();
    DockerContainer { id, image: image.to_owned() }
}

struct DockerContainer {
    id: String,
    image: String,
}

impl DockerContainer {
    fn user(&self) -> String {
        let out = output_of(Command::new("docker").args(["inspect", "--format", "{{.Config.User}}", &self.id]));
        String::from_utf8(out).unwrap().trim().to_owned()
    }
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "--force", &self.id]).output();
        let _ = Command::new("docker").args(["rmi", "--force", &self.image]).output();
    }
}

fn ready_for_runtime() -> Option<String> {
    let registry = test_registry()?;
    (maven_ready() && oci_tools_ready() && docker_ready()).then_some(registry)
}

#[test]
fn fat_jar_image_runs_under_runc_and_docker_as_non_root() {
    let Some(registry) = ready_for_runtime() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let tarball = work.path().join("image.tar");
    let runc_port = free_port();
    let image = format!("{registry}/containerize-test/fat:{runc_port}");
    let base = format!("{registry}/slipway/jre:17");
    let run = run(
        &[
            "--artifact",
            fat_jar().to_str().unwrap(),
            "--base",
            &base,
            "--output",
            layout.to_str().unwrap(),
            "--tarball",
            tarball.to_str().unwrap(),
            "--image",
            &image,
            "--env",
            &format!("PORT={runc_port}"),
            "--label",
            "org.example.team=payments",
        ],
        work.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("layout"), Some(layout.to_str().unwrap()));
    assert_eq!(run.output("platforms"), Some("linux/amd64"));
    assert_eq!(run.output("tarball"), Some(tarball.to_str().unwrap()));
    assert!(run.github_output.as_deref().unwrap().contains("image-digest=sha256:"));

    // skopeo reads the layout and sees what containerize promised.
    let inspect =
        json(&output_of(Command::new("skopeo").arg("inspect").arg(format!("oci:{}:{runc_port}", layout.display()))));
    assert_eq!(inspect["Digest"], run.output("image-digest").unwrap());
    assert_eq!(inspect["Labels"]["org.opencontainers.image.version"], "1.0.0");
    assert_eq!(inspect["Labels"]["org.example.team"], "payments");
    let raw = json(&output_of(
        Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}:{runc_port}", layout.display())),
    ));
    assert_eq!(raw["annotations"]["org.opencontainers.image.base.name"], base);
    assert_eq!(raw["annotations"]["org.opencontainers.image.base.digest"], run.output("base-digest").unwrap());
    let config = json(&output_of(
        Command::new("skopeo").args(["inspect", "--config"]).arg(format!("oci:{}:{runc_port}", layout.display())),
    ));
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/sample-app-1.0.0.jar"])
    );
    assert_eq!(config["config"]["ExposedPorts"]["8080/tcp"], serde_json::json!({}));

    // runc, as the non-root user the image names.
    let container = run_under_runc(&layout, &runc_port.to_string(), work.path());
    assert_eq!(container.user["uid"], 65532);
    let version = wait_for_http(runc_port, "/version", Duration::from_secs(30)).unwrap();
    assert!(version.contains("\"1.0.0\""), "{version}");
    drop(container);

    // The Docker Engine, from the tarball.
    let docker_port = free_port();
    let container = run_under_docker(&tarball, &image, docker_port);
    assert_eq!(container.user(), "65532:65532");
    let health = wait_for_http(docker_port, "/health", Duration::from_secs(30)).unwrap();
    assert!(health.contains("UP"), "{health}");
}

fn layout_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn dist_image_splits_dependencies_runs_and_a_code_change_rebuilds_only_the_app_layer() {
    let Some(registry) = ready_for_runtime() else { return };
    if !gradle_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let base = format!("{registry}/slipway/jre:17");
    let layout = work.path().join("layout");
    let tarball = work.path().join("dist.tar");
    let port = free_port();
    let image = format!("{registry}/containerize-test/dist:{port}");
    let first = run(
        &[
            "--artifact",
            dist().to_str().unwrap(),
            "--base",
            &base,
            "--output",
            layout.to_str().unwrap(),
            "--tarball",
            tarball.to_str().unwrap(),
            "--image",
            &image,
            "--env",
            &format!("PORT={port}"),
        ],
        work.path(),
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_layers: Vec<&str> = first.output("app-layers").unwrap().split(',').collect();
    assert_eq!(first_layers.len(), 2, "dependencies and app: {first_layers:?}");

    let config = json(&output_of(
        Command::new("skopeo").args(["inspect", "--config"]).arg(format!("oci:{}:{port}", layout.display())),
    ));
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!([
            "java",
            "-XX:MaxRAMPercentage=75",
            "-cp",
            "/app/lib/sample-app-1.0.0.jar:/app/lib/gson-2.10.jar",
            "dev.slipway.sample.App"
        ])
    );

    let container = run_under_runc(&layout, &port.to_string(), work.path());
    let version = wait_for_http(port, "/version", Duration::from_secs(30)).unwrap();
    assert!(version.contains("\"1.0.0\""), "{version}");
    drop(container);
    let docker_port = free_port();
    let docker = run_under_docker(&tarball, &image, docker_port);
    assert!(wait_for_http(docker_port, "/health", Duration::from_secs(30)).unwrap().contains("UP"));
    drop(docker);

    // A code change: the app's own jar differs, its dependencies do not.
    let changed = work.path().join("changed");
    slipway_testkit::copy_project(dist(), &changed);
    let jar = changed.join("lib/sample-app-1.0.0.jar");
    let mut zip =
        zip::ZipWriter::new_append(std::fs::File::options().read(true).write(true).open(&jar).unwrap()).unwrap();
    zip.start_file("changed.txt", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut zip, b"a code change").unwrap();
    zip.finish().unwrap();
    let second = run(
        &[
            "--artifact",
            changed.to_str().unwrap(),
            "--base",
            &base,
            "--output",
            work.path().join("layout2").to_str().unwrap(),
            "--env",
            &format!("PORT={port}"),
        ],
        work.path(),
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    let second_layers: Vec<&str> = second.output("app-layers").unwrap().split(',').collect();
    assert_eq!(second_layers[0], first_layers[0], "the dependency layer is unchanged");
    assert_ne!(second_layers[1], first_layers[1], "the app layer changed");
}

#[test]
fn two_builds_of_the_same_input_are_byte_identical() {
    let Some(registry) = test_registry() else { return };
    if !maven_ready() {
        return;
    }
    let base = format!("{registry}/slipway/jre:17");
    let work = tempfile::tempdir().unwrap();
    // Another copy of the jar, with another mtime and mode: the same image.
    let copy = work.path().join("elsewhere/sample-app-1.0.0.jar");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(fat_jar(), &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
    let build = |artifact: &Path, output: &str| {
        let mut command = containerize();
        command
            .args(["--base", &base, "--image", "example.com/app:1.0"])
            .arg("--artifact")
            .arg(artifact)
            .arg("--output")
            .arg(work.path().join(output))
            .env("SOURCE_DATE_EPOCH", "1700000000");
        run_with_sinks(command, work.path())
    };
    let one = build(fat_jar(), "one");
    let two = build(&copy, "two");
    assert_eq!((one.code, two.code), (0, 0), "{}{}", one.stderr, two.stderr);
    assert_eq!(one.output("image-digest"), two.output("image-digest"));
    assert_eq!(layout_files(&work.path().join("one")), layout_files(&work.path().join("two")));

    let config = json(&output_of(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci:{}:1.0", work.path().join("one").display())),
    ));
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "SOURCE_DATE_EPOCH sets the creation time");
    let three = {
        let mut command = containerize();
        command.args(["--base", &base, "--artifact", fat_jar().to_str().unwrap(), "--creation-time", "1700000001"]);
        command.arg("--output").arg(work.path().join("three"));
        run_with_sinks(command, work.path())
    };
    assert_ne!(three.output("image-digest"), one.output("image-digest"), "another time, another image");
}

#[test]
fn a_multi_platform_base_gives_an_index_with_one_manifest_per_platform() {
    let Some(registry) = test_registry() else { return };
    if !maven_ready() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let base = format!("{registry}/slipway/jre-multi:17");
    let all = run(
        &[
            "--artifact",
            fat_jar().to_str().unwrap(),
            "--base",
            &base,
            "--output",
            work.path().join("all").to_str().unwrap(),
        ],
        work.path(),
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(all.output("platforms"), Some("linux/amd64,linux/arm64"));
    let index = json(&output_of(
        Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}", work.path().join("all").display())),
    ));
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!("{}/{}", m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap())
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(index["annotations"]["org.opencontainers.image.base.digest"], all.output("base-digest").unwrap());
    // Each platform's config keeps its base's architecture; the app layer is shared.
    let configs: Vec<&str> = all.output("config-digest").unwrap().split(',').collect();
    assert_eq!(configs.len(), 2);
    assert_ne!(configs[0], configs[1]);
    // Sparse: without --tarball no base layer is downloaded; the app layer is there.
    let manifest = json(&output_of(
        Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false"]).arg(format!("docker://{base}")),
    ));
    let first = manifest["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let platform_manifest = json(&output_of(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{registry}/slipway/jre-multi@{first}")),
    ));
    let base_layer =
        platform_manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let blobs = work.path().join("all/blobs/sha256");
    assert!(!blobs.join(&base_layer).exists(), "the base layer was not downloaded");
    let app_layer = all.output("app-layers").unwrap().trim_start_matches("sha256:").to_owned();
    assert!(blobs.join(app_layer).exists());

    let arm = run(
        &[
            "--artifact",
            fat_jar().to_str().unwrap(),
            "--base",
            &base,
            "--platform",
            "linux/arm64",
            "--output",
            work.path().join("arm").to_str().unwrap(),
        ],
        work.path(),
    );
    assert_eq!(arm.code, 0, "{}", arm.stderr);
    assert_eq!(arm.output("platforms"), Some("linux/arm64"));
    assert_eq!(arm.output("app-layers"), all.output("app-layers"));
}

/// Runs containerize expecting a refusal: exit `code`, one error line holding
/// `message`, and no layout (nor a staging directory) left behind.
fn assert_refused(args: &[&str], code: i32, message: &str) {
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let layout = out_dir.join("layout");
    let mut command = containerize();
    command.args(args).arg("--output").arg(&layout).env("GITHUB_ACTIONS", "true");
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, code, "{}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("::error title=containerize::")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains(message), "`{}` lacks `{message}`", errors[0]);
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "nothing is left in {}", out_dir.display());
    assert_eq!(run.github_output, None);
}

#[test]
fn bad_bases_are_refused_without_leaving_a_layout() {
    let Some(registry) = test_registry() else { return };
    if !maven_ready() {
        return;
    }
    let jar = fat_jar().to_str().unwrap();
    assert_refused(
        &["--artifact", jar, "--base", &format!("{registry}/slipway/no-such-base:1")],
        2,
        "does not exist in its registry (404)",
    );
    let unreachable = format!("127.0.0.1:{}/slipway/jre:17", free_port());
    assert_refused(&["--artifact", jar, "--base", &unreachable], 1, "cannot reach the registry");
    assert_refused(
        &["--artifact", jar, "--base", &format!("{registry}/slipway/jre-multi:17"), "--platform", "linux/s390x"],
        2,
        "has no image for linux/s390x; it has linux/amd64, linux/arm64",
    );
    assert_refused(
        &["--artifact", jar, "--base", &format!("{registry}/slipway/jre:17"), "--platform", "linux/arm64"],
        2,
        "has no image for linux/arm64",
    );
}

#[test]
fn bad_artifacts_and_settings_are_refused() {
    let Some(registry) = test_registry() else { return };
    let base = format!("{registry}/slipway/jre:17");
    let work = tempfile::tempdir().unwrap();
    let text = work.path().join("notes.txt");
    std::fs::write(&text, "not a jar").unwrap();
    assert_refused(&["--artifact", text.to_str().unwrap(), "--base", &base], 2, "is not a valid jar (zip) file");
    let empty_dir = work.path().join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    assert_refused(&["--artifact", empty_dir.to_str().unwrap(), "--base", &base], 2, "not a JVM distribution");

    // Compiled for Java 21, on a base with Java 17.
    let java21 = work.path().join("new-1.0.jar");
    slipway_testkit::write_zip(
        &java21,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", slipway_testkit::class_bytes(21)),
        ],
    );
    assert_refused(&["--artifact", java21.to_str().unwrap(), "--base", &base], 2, "needs Java 21 but the base");

    let java17 = work.path().join("ok-1.0.jar");
    slipway_testkit::write_zip(
        &java17,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", slipway_testkit::class_bytes(17)),
        ],
    );
    let jar = java17.to_str().unwrap();
    assert_refused(&["--artifact", jar, "--base", &base, "--env", "NOEQUALS"], 2, "--env `NOEQUALS` has no `=`");
    assert_refused(&["--artifact", jar, "--base", &base, "--env", "1X=y"], 2, "`1X` is not a valid name");
    assert_refused(
        &["--artifact", jar, "--base", &base, "--label", "bad key=1"],
        2,
        "--label `bad key=…`: `bad key` is not a valid name",
    );
    assert_refused(&["--artifact", jar, "--base", &base, "--user", "a:b:c"], 2, "--user `a:b:c` is not a user");
    assert_refused(
        &["--artifact", jar, "--base", &base, "--compression", "brotli"],
        2,
        "invalid value 'brotli' for '--compression <COMPRESSION>'",
    );
    assert_refused(
        &["--artifact", jar, "--base", "Not A Ref"],
        2,
        "--base: `Not A Ref` is not a valid image reference",
    );
    assert_refused(
        &["--artifact", jar, "--base", &base, "--platform", "linux"],
        2,
        "--platform `linux` is not a platform",
    );
    assert_refused(&["--base", &base], 2, "give --artifact");
    assert_refused(&["--artifact", jar, "--base", &base, "--add", "notes"], 2, "--add `notes` has no `:`");
    let missing = work.path().join("missing");
    let missing = format!("{}:/opt", missing.display());
    assert_refused(&["--artifact", jar, "--base", &base, "--add", &missing], 2, "does not exist");
    let relative = format!("{}:opt/notes.txt", text.display());
    assert_refused(&["--artifact", jar, "--base", &base, "--add", &relative], 2, "must be an absolute path");
    let empty_tools = format!("{}:/opt", empty_dir.display());
    assert_refused(&["--artifact", jar, "--base", &base, "--add", &empty_tools], 2, "holds no file");
    let notes = format!("{}:/opt/notes.txt", text.display());
    assert_refused(&["--add", &notes], 2, "--base is required without --artifact");
}

#[test]
fn added_files_are_layers_of_their_own_and_an_image_without_an_app_keeps_the_base_config() {
    let Some(registry) = test_registry() else { return };
    if !oci_tools_ready() {
        return;
    }
    let base = format!("{registry}/slipway/jre:17");
    let work = tempfile::tempdir().unwrap();
    let tools = work.path().join("tools");
    std::fs::create_dir_all(tools.join("share")).unwrap();
    std::fs::write(tools.join("hello"), "#!/bin/sh\necho hello\n").unwrap();
    std::fs::set_permissions(tools.join("hello"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(tools.join("share/notes.txt"), "notes").unwrap();
    // A link to a file adds the file; a link to a directory (here a loop) is left out.
    std::os::unix::fs::symlink("share/notes.txt", tools.join("notes-link")).unwrap();
    std::os::unix::fs::symlink(".", tools.join("loop")).unwrap();
    let config = work.path().join("app.conf");
    std::fs::write(&config, "port=1").unwrap();
    let layout = work.path().join("layout");
    let add_tools = format!("{}:/usr/local/bin/", tools.display());
    let add_config = format!("{}:/etc/app/app.conf", config.display());
    // --tarball: the layout then holds the base's layers too, for umoci.
    let tarball = work.path().join("image.tar");
    let run = run(
        &[
            "--base",
            &base,
            "--add",
            &add_tools,
            "--add",
            &add_config,
            "--output",
            layout.to_str().unwrap(),
            "--tarball",
            tarball.to_str().unwrap(),
        ],
        work.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layers = run.output("app-layers").unwrap();
    assert_eq!(layers.split(',').count(), 2, "one layer per --add: {layers}");

    let image = format!("oci:{}:latest", layout.display());
    let config_json = json(&output_of(Command::new("skopeo").args(["inspect", "--config"]).arg(&image)));
    let base_config = json(&output_of(
        Command::new("skopeo").args(["inspect", "--config", "--tls-verify=false"]).arg(format!("docker://{base}")),
    ));
    for key in ["Entrypoint", "Cmd", "User", "WorkingDir"] {
        assert_eq!(config_json["config"][key], base_config["config"][key], "{key} is the base's");
    }

    let bundle = work.path().join("bundle");
    output_of(
        Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", layout.display())).arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    let mode = |path: &str| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(rootfs.join(path)).unwrap().permissions()) & 0o777
    };
    assert_eq!(std::fs::read_to_string(rootfs.join("usr/local/bin/hello")).unwrap(), "#!/bin/sh\necho hello\n");
    assert_eq!(mode("usr/local/bin/hello"), 0o755);
    assert_eq!(std::fs::read_to_string(rootfs.join("usr/local/bin/share/notes.txt")).unwrap(), "notes");
    assert_eq!(mode("usr/local/bin/share/notes.txt"), 0o644);
    assert_eq!(std::fs::read_to_string(rootfs.join("usr/local/bin/notes-link")).unwrap(), "notes");
    assert!(std::fs::symlink_metadata(rootfs.join("usr/local/bin/notes-link")).unwrap().is_file());
    assert!(!rootfs.join("usr/local/bin/loop").exists());
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/app/app.conf")).unwrap(), "port=1");
    assert!(rootfs.join("opt/java/bin/java").is_file(), "the base's files are there");
}

/// `--add` with `{arch}` in its source: each platform of a multi-platform base gets its own
/// files, in a layer of its own; a platform without its files is refused before anything is
/// written.
#[test]
fn a_per_platform_add_gives_each_platform_its_own_files() {
    let Some(registry) = test_registry() else { return };
    if !oci_tools_ready() {
        return;
    }
    let base = format!("{registry}/slipway/jre-multi:17");
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir_all(bin.join(arch)).unwrap();
        std::fs::write(bin.join(arch).join("tool"), format!("tool for {arch}")).unwrap();
    }
    let add = format!("{}/{{arch}}:/usr/local/bin", bin.display());
    let layout = work.path().join("layout");
    let run = run(&["--base", &base, "--add", &add, "--output", layout.to_str().unwrap()], work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("platforms"), Some("linux/amd64,linux/arm64"));
    assert_eq!(run.output("app-layers").unwrap().split(',').count(), 2, "one layer per platform");

    // Each platform's manifest ends with its own layer, holding that platform's tool.
    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    let top = index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let blob = |digest: &str| layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let image_index = json(&std::fs::read(blob(&top)).unwrap());
    for entry in image_index["manifests"].as_array().unwrap() {
        let arch = entry["platform"]["architecture"].as_str().unwrap();
        let manifest = json(&std::fs::read(blob(entry["digest"].as_str().unwrap())).unwrap());
        let last = manifest["layers"].as_array().unwrap().last().unwrap()["digest"].as_str().unwrap().to_owned();
        let tool = output_of(Command::new("tar").arg("-xzOf").arg(blob(&last)).arg("usr/local/bin/tool"));
        assert_eq!(String::from_utf8(tool).unwrap(), format!("tool for {arch}"));
    }

    std::fs::remove_dir_all(bin.join("arm64")).unwrap();
    assert_refused(&["--base", &base, "--add", &add], 2, "bin/arm64 does not exist (for linux/arm64)");
}

/// The Docker Engine's major version, when it answers.
fn docker_major_version() -> Option<u32> {
    let output = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output().ok()?;
    String::from_utf8(output.stdout).ok()?.trim().split('.').next()?.parse().ok()
}

/// A container that containerd's own client (`ctr`) pulled and started on the Docker Engine's
/// containerd, in a namespace of its own; removed, with its image, on drop.
struct CtrContainer {
    id: String,
    image: String,
}

const CTR_NAMESPACE: &str = "slipway-test";

/// `ctr` against the Docker Engine's containerd (containerd 1.5+ pulls zstd layers).
fn ctr() -> Command {
    let socket = ["/run/docker/containerd/containerd.sock", "/run/containerd/containerd.sock"]
        .into_iter()
        .find(|socket| Path::new(socket).exists())
        .unwrap_or("/run/containerd/containerd.sock");
    let mut command = Command::new("ctr");
    command.args(["--address", socket, "--namespace", CTR_NAMESPACE]);
    command
}

/// Pulls `image` (plain HTTP: the loopback registry) with containerd and runs it on the
/// host's network with PORT=`port`.
fn run_under_containerd(image: &str, port: u16) -> CtrContainer {
    // The native snapshotter: no overlay mounts, which a container may not be allowed to make.
    output_of(ctr().args(["images", "pull", "--plain-http", "--snapshotter", "native", image]));
    let id = format!("slipway-test-{}-{port}", std::process::id());
    output_of(
        ctr()
            .args(["run", "--detach", "--net-host", "--snapshotter", "native", "--env"])
            .arg(format!("PORT={port}"))
            .arg(image)
            .arg(&id),
    );
    CtrContainer { id, image: image.to_owned() }
}

impl Drop for CtrContainer {
    fn drop(&mut self) {
        let _ = ctr().args(["tasks", "kill", "--signal", "SIGKILL", &self.id]).output();
        for _ in 0..50 {
            if ctr().args(["tasks", "delete", &self.id]).output().is_ok_and(|o| o.status.success()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = ctr().args(["containers", "delete", &self.id]).output();
        let _ = ctr().args(["images", "remove", "--sync", &self.image]).output();
    }
}

/// `--compression none` and `zstd`: each image is pushed to the loopback registry byte for
/// byte (skopeo --preserve-digests), pulled by a runtime and run. The Docker Engine pulls the
/// plain tar; zstd needs Docker Engine 23+ or containerd 1.5+: the engine when it is 23+, else
/// its containerd (`ctr`).
#[test]
fn uncompressed_and_zstd_images_are_pulled_and_run() {
    let Some(registry) = ready_for_runtime() else { return };
    let zstd_by_docker = docker_major_version().is_some_and(|major| major >= 23);
    if !zstd_by_docker
        && !slipway_testkit::prerequisite(
            "ctr (containerd's client, with the Docker Engine's containerd)",
            slipway_testkit::command_works("ctr", &["--version"]),
        )
    {
        return;
    }
    let base = format!("{registry}/slipway/jre:17");
    for (compression, media_type) in
        [("none", "application/vnd.oci.image.layer.v1.tar"), ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd")]
    {
        let work = tempfile::tempdir().unwrap();
        let layout = work.path().join("layout");
        let tag = free_port().to_string();
        let image = format!("{registry}/containerize-test/{compression}:{tag}");
        // --tarball: the layout then holds the base's layers too, for skopeo to copy.
        let run = run(
            &[
                "--artifact",
                fat_jar().to_str().unwrap(),
                "--base",
                &base,
                "--output",
                layout.to_str().unwrap(),
                "--tarball",
                work.path().join("image.tar").to_str().unwrap(),
                "--image",
                &image,
                "--compression",
                compression,
            ],
            work.path(),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let raw = json(&output_of(
            Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}:{tag}", layout.display())),
        ));
        let layers = raw["layers"].as_array().unwrap();
        let app = layers.last().unwrap();
        assert_eq!(app["mediaType"], media_type, "{compression}");
        assert_eq!(app["digest"].as_str(), run.output("app-layers"));
        assert!(
            layers[..layers.len() - 1].iter().all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"),
            "the base's layers are kept as they are: {raw}"
        );
        let config = json(&output_of(
            Command::new("skopeo").args(["inspect", "--config"]).arg(format!("oci:{}:{tag}", layout.display())),
        ));
        let diff_id = config["rootfs"]["diff_ids"].as_array().unwrap().last().unwrap().clone();
        if compression == "none" {
            assert_eq!(diff_id, app["digest"], "an uncompressed layer's digest is its diff_id");
        } else {
            assert_ne!(diff_id, app["digest"]);
        }

        output_of(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:{tag}", layout.display()))
                .arg(format!("docker://{image}")),
        );
        let pushed = json(&output_of(
            Command::new("skopeo").args(["inspect", "--tls-verify=false"]).arg(format!("docker://{image}")),
        ));
        assert_eq!(pushed["Digest"], run.output("image-digest").unwrap(), "the registry holds the image as built");

        let port = free_port();
        if compression == "none" || zstd_by_docker {
            output_of(Command::new("docker").args(["pull", "--quiet", &image]));
            let id = String::from_utf8(output_of(
                Command::new("docker")
                    .args(["run", "--detach", "--env", "PORT=8080", "--publish"])
                    .arg(format!("127.0.0.1:{port}:8080"))
                    .arg(&image),
            ))
            .unwrap()
            .trim()
            .to_owned();
            let _container = DockerContainer { id, image: image.clone() };
            let health = wait_for_http(port, "/health", Duration::from_secs(30)).unwrap();
            assert!(health.contains("UP"), "{compression}: {health}");
        } else {
            let _container = run_under_containerd(&image, port);
            let health = wait_for_http(port, "/health", Duration::from_secs(30)).unwrap();
            assert!(health.contains("UP"), "{compression}: {health}");
        }
    }
}
