//! Native executables (GraalVM's native-image) through the whole chain. GraalVM cannot be
//! installed on these machines, so the executables are real ELF files that gcc makes from
//! tests/native/server.c (an HTTP server answering /health and /version), once static
//! (`-static`) and once dynamically linked against glibc, and the projects' build tools are
//! stand-ins (tests/native/stand-in-build.sh as `gradlew` or `mvnw`) that run gcc where
//! GraalVM's Gradle and Maven plugins write their executable. What is proven: build-jar's
//! detection of the plugins, the command it runs, its discovery in the plugins' documented
//! output directories, and its proof from the ELF headers (judged by binutils' readelf);
//! containerize's image (one layer, the entrypoint, non-root, the base chosen by linkage, a
//! base lacking a needed library refused); each image answering under runc and under the
//! Docker Engine, then pushed, deployed and verified. Skips without gcc, the binaries or the
//! test services unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use slipway_testkit::{
    ChildGuard, DockerApp, LocalImage, RuncContainer, StepRun, command_works, cyclonedx_validator_ready, docker_ready,
    free_port, gcc_static_ready, oci_tools_ready, prerequisite, run_with_sinks, step_command, test_glibc_image,
    validate_cyclonedx_1_6, wait_for_http, workspace_binary, workspace_root,
};

const STARTUP: Duration = Duration::from_secs(30);
const EXECUTABLE: &str = "sample-native";
const STATIC: &str = "static";
const DYNAMIC: &str = "dynamic";

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/native").join(name)
}

fn step(name: &str) -> Command {
    step_command(workspace_binary(name).unwrap().to_str().unwrap())
}

fn run_step(command: Command, sinks: &Path) -> StepRun {
    std::fs::create_dir_all(sinks).unwrap();
    run_with_sinks(command, sinks)
}

fn binaries_ready() -> bool {
    let built = ["build-jar", "containerize", "push-image", "deploy", "verify"]
        .iter()
        .all(|name| workspace_binary(name).is_some());
    prerequisite("the suite's binaries (cargo build --workspace)", built)
        && gcc_static_ready()
        && prerequisite("binutils' readelf", command_works("readelf", &["--version"]))
}

/// A project laid out for GraalVM's Gradle plugin (`gradle`) or Maven plugin (`maven`),
/// its wrapper the stand-in build.
fn native_project(dir: &Path, tool: &str) -> PathBuf {
    let project = dir.join(format!("sample-native-{tool}"));
    std::fs::create_dir_all(project.join("src/main/c")).unwrap();
    std::fs::copy(fixture("server.c"), project.join("src/main/c/server.c")).unwrap();
    let (build_file, wrapper) = if tool == "gradle" { ("build.gradle.kts", "gradlew") } else { ("pom.xml", "mvnw") };
    std::fs::copy(fixture(build_file), project.join(build_file)).unwrap();
    std::fs::copy(fixture("stand-in-build.sh"), project.join(wrapper)).unwrap();
    project
}

/// build-jar with `--packaging auto`, the stand-in linking as `linkage` says.
fn build_jar(project: &Path, linkage: &str, sinks: &Path) -> StepRun {
    let mut command = step("build-jar");
    command.arg("--project-dir").arg(project).env("SAMPLE_NATIVE_LINKAGE", linkage);
    run_step(command, sinks)
}

/// The executables the Gradle stand-in built, once per test binary.
struct Built {
    _dir: tempfile::TempDir,
    work: PathBuf,
    builds: Vec<(&'static str, PathBuf, StepRun)>,
}

impl Built {
    fn get(&self, linkage: &str) -> (&Path, &StepRun) {
        let (_, project, run) = self.builds.iter().find(|(l, _, _)| *l == linkage).unwrap();
        (project, run)
    }

    fn executable(&self, linkage: &str) -> PathBuf {
        PathBuf::from(self.get(linkage).1.output("artifact").unwrap())
    }
}

fn built() -> Option<&'static Built> {
    if !binaries_ready() {
        return None;
    }
    static BUILT: OnceLock<Built> = OnceLock::new();
    Some(BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().to_owned();
        let mut builds = Vec::new();
        for linkage in [STATIC, DYNAMIC] {
            let project = native_project(&work.join(linkage), "gradle");
            let run = build_jar(&project, linkage, &work.join(format!("sinks-build-{linkage}")));
            assert_eq!(run.code, 0, "build-jar ({linkage}): {}", run.stderr);
            builds.push((linkage, project, run));
        }
        Built { _dir: dir, work, builds }
    }))
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// What binutils' readelf reads: the program interpreter and the DT_NEEDED libraries.
fn readelf(path: &Path) -> (Option<String>, Vec<String>) {
    let run = |flag: &str| {
        let out = Command::new("readelf").arg(flag).arg("--wide").arg(path).output().unwrap();
        assert!(out.status.success(), "readelf {flag}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let interpreter = run("--program-headers").lines().find_map(|line| {
        let rest = line.split("Requesting program interpreter: ").nth(1)?;
        Some(rest.trim_end_matches(']').to_owned())
    });
    let needs = run("--dynamic")
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1).map(|rest| rest.trim_end_matches(']').to_owned()))
        .collect();
    (interpreter, needs)
}

#[test]
fn build_jar_builds_with_the_gradle_plugins_task_and_proves_the_executable_by_its_elf_headers() {
    let Some(built) = built() else { return };
    for linkage in [STATIC, DYNAMIC] {
        let (project, run) = built.get(linkage);
        assert_eq!(run.output("kind"), Some("native"), "auto picks native with GraalVM's plugin: {}", run.stdout);
        assert_eq!(run.output("tool"), Some("gradle"));
        let executable = built.executable(linkage);
        assert_eq!(executable, project.join("build/native/nativeCompile").join(EXECUTABLE));
        assert_eq!(run.output("sha256"), Some(sha256_of(&executable).as_str()));
        assert_eq!(run.output("size-bytes"), Some(std::fs::metadata(&executable).unwrap().len().to_string().as_str()));
        assert_eq!(run.output("linkage"), Some(linkage));
        assert_eq!(run.output("main-class"), Some(""));
        assert_eq!(run.output("version"), Some("1.0.0"), "the build script's version");
        // The task the plugin defines, as build-jar ran it through the project's wrapper.
        let args = std::fs::read_to_string(project.join("build-args.txt")).unwrap();
        assert_eq!(args.lines().collect::<Vec<_>>(), ["--console=plain", "nativeCompile"], "{args}");

        // binutils' readelf, not ours, says what the executable needs.
        let (interpreter, needs) = readelf(&executable);
        assert_eq!(run.output("needs"), Some(needs.join(",").as_str()));
        if linkage == STATIC {
            assert!(interpreter.is_none() && needs.is_empty(), "{interpreter:?} {needs:?}");
        } else {
            assert!(needs.iter().any(|n| n == "libc.so.6"), "{needs:?}");
            let interpreter = interpreter.unwrap();
            assert!(run.stderr.contains(&format!("needs {}", needs.join(", "))), "{}", run.stderr);
            assert!(run.summary.as_deref().unwrap().contains(&interpreter), "{:?}", run.summary);
        }
        let dotenv = run.dotenv.as_deref().unwrap();
        assert!(dotenv.lines().any(|l| l == format!("SLIPWAY_LINKAGE={linkage}")), "{dotenv}");
        assert!(dotenv.lines().any(|l| l == "SLIPWAY_KIND=native"), "{dotenv}");
    }
}

#[test]
fn build_jar_runs_the_maven_native_profile_and_finds_the_executable_beside_the_jar() {
    if !binaries_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = native_project(dir.path(), "maven");
    let run = build_jar(&project, DYNAMIC, &dir.path().join("sinks"));
    assert_eq!(run.code, 0, "build-jar: {}", run.stderr);
    assert_eq!(run.output("kind"), Some("native"));
    assert_eq!(run.output("tool"), Some("maven"));
    assert_eq!(run.output("artifact"), Some(project.join("target").join(EXECUTABLE).to_str().unwrap()));
    assert!(project.join("target/sample-native-1.0.0.jar").is_file(), "the jar lay beside it");
    assert_eq!(run.output("version"), Some("1.0.0"), "the pom's version");
    let args = std::fs::read_to_string(project.join("build-args.txt")).unwrap();
    assert_eq!(args.lines().collect::<Vec<_>>(), ["--batch-mode", "-Pnative", "package"], "{args}");
    assert!(run.stderr.contains("native-maven-plugin (profile native)"), "{}", run.stderr);
}

#[test]
fn build_jar_refuses_what_is_not_a_native_executable() {
    if !binaries_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let gcc = |args: &[&str]| {
        let out = Command::new("gcc").args(args).current_dir(work).output().unwrap();
        assert!(out.status.success(), "gcc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::copy(fixture("greet.c"), work.join("greet.c")).unwrap();
    gcc(&["-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o", "libgreet.so.1", "greet.c"]);
    gcc(&["-c", "-o", "greet.o", "greet.c"]);
    for (file, reason) in [("libgreet.so.1", "a shared library"), ("greet.o", "an object file")] {
        let mut inspect = step("build-jar");
        inspect.arg("--jar").arg(work.join(file));
        let run = run_step(inspect, &work.join(format!("sinks-{file}")));
        assert_eq!(run.code, 2, "{file}: {}", run.stderr);
        assert!(run.stderr.contains(reason), "{file}: {}", run.stderr);
        assert!(!run.stdout.contains("kind="), "no outputs on failure: {}", run.stdout);
    }

    // --packaging native on a build without GraalVM's plugin: refused before anything runs.
    let project = work.join("plain");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("build.gradle.kts"), "plugins { application }\n").unwrap();
    std::fs::copy(fixture("stand-in-build.sh"), project.join("gradlew")).unwrap();
    let mut plain = step("build-jar");
    plain.arg("--project-dir").arg(&project).args(["--packaging", "native"]);
    let run = run_step(plain, &work.join("sinks-plain"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("org.graalvm.buildtools.native"), "{}", run.stderr);
    assert!(!project.join("build-args.txt").exists(), "the build never ran");
}

/// One containerized executable.
struct NativeImage {
    linkage: &'static str,
    executable: PathBuf,
    layout: PathBuf,
    tarball: PathBuf,
    tag: String,
    run: StepRun,
}

struct Images {
    work: PathBuf,
    glibc: String,
    images: Vec<NativeImage>,
}

/// Each executable containerized: the static one on its default base (scratch), the dynamic
/// one on the glibc base (the stand-in for the default, gcr.io/distroless/base-debian12).
fn images() -> Option<&'static Images> {
    let built = built()?;
    let glibc = test_glibc_image()?;
    static IMAGES: OnceLock<Images> = OnceLock::new();
    Some(IMAGES.get_or_init(|| {
        let work = built.work.join("images");
        let mut images = Vec::new();
        for linkage in [STATIC, DYNAMIC] {
            let executable = built.executable(linkage);
            let layout = work.join(format!("layout-{linkage}"));
            let tarball = work.join(format!("{linkage}.tar"));
            let tag = format!("slipway-test/sample-native-{linkage}:1.0.0");
            let mut containerize = step("containerize");
            containerize
                .arg("--artifact")
                .arg(&executable)
                .args(["--kind", "native", "--image", &tag])
                .arg("--output")
                .arg(&layout)
                .arg("--tarball")
                .arg(&tarball)
                .env("SOURCE_DATE_EPOCH", "1704067200");
            if linkage == DYNAMIC {
                containerize.args(["--base", &glibc]);
            }
            let run = run_step(containerize, &work.join(format!("sinks-{linkage}")));
            assert_eq!(run.code, 0, "containerize ({linkage}): {}", run.stderr);
            images.push(NativeImage { linkage, executable, layout, tarball, tag, run });
        }
        Images { work, glibc, images }
    }))
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs").join(digest.replace(':', "/"))
}

#[test]
fn containerize_puts_the_executable_in_one_layer_as_the_non_root_entrypoint_on_a_base_by_linkage() {
    let Some(images) = images() else { return };
    for image in &images.images {
        let index = json_file(&image.layout.join("index.json"));
        let manifest = json_file(&blob(&image.layout, index["manifests"][0]["digest"].as_str().unwrap()));
        let config = json_file(&blob(&image.layout, manifest["config"]["digest"].as_str().unwrap()));
        let settings = &config["config"];
        assert_eq!(settings["Entrypoint"], serde_json::json!(["/app/sample-native"]), "{settings}");
        assert_eq!(settings["User"], "65532:65532", "non-root: {settings}");
        assert!(settings["Cmd"].is_null(), "{settings}");
        assert_eq!(config["architecture"], slipway_testkit::host_oci_arch());
        let layers = manifest["layers"].as_array().unwrap();
        let (base_layers, base_text) =
            if image.linkage == STATIC { (0, "scratch") } else { (1, images.glibc.as_str()) };
        assert_eq!(layers.len(), base_layers + 1, "{}: the base's layers and one of the app's", image.linkage);
        assert!(image.run.stderr.contains(&format!("base {base_text}")), "{}", image.run.stderr);
        if image.linkage == DYNAMIC {
            assert!(
                image.run.stderr.contains("has what the executable needs: /lib64/ld-linux-x86-64.so.2, libc.so.6")
                    || !cfg!(target_arch = "x86_64"),
                "{}",
                image.run.stderr
            );
        } else {
            assert_eq!(image.run.output("base-digest"), Some(""), "scratch has no digest");
        }

        let listing = Command::new("tar")
            .arg("-tvzf")
            .arg(blob(&image.layout, layers.last().unwrap()["digest"].as_str().unwrap()))
            .output()
            .unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        let entry = listing.lines().find(|l| l.ends_with("app/sample-native")).unwrap_or_else(|| panic!("{listing}"));
        assert!(entry.starts_with("-rwxr-xr-x"), "executable: {entry}");
        let unpacked = images.work.join(format!("app-layer-{}", image.linkage));
        std::fs::create_dir_all(&unpacked).unwrap();
        let untar = Command::new("tar")
            .arg("-xzf")
            .arg(blob(&image.layout, layers.last().unwrap()["digest"].as_str().unwrap()))
            .arg("-C")
            .arg(&unpacked)
            .output()
            .unwrap();
        assert!(untar.status.success());
        assert_eq!(sha256_of(&unpacked.join("app/sample-native")), sha256_of(&image.executable));
    }
}

#[test]
fn the_native_sbom_records_the_executable_by_hash_and_its_linkage() {
    let Some(images) = images() else { return };
    for image in &images.images {
        let path = PathBuf::from(image.run.output("sbom").unwrap());
        if cyclonedx_validator_ready() {
            validate_cyclonedx_1_6(&path).unwrap_or_else(|error| panic!("CycloneDX's validator refused: {error}"));
        }
        let sbom = json_file(&path);
        let components = sbom["components"].as_array().unwrap();
        let app = components.iter().find(|c| c["type"] == "application").unwrap();
        assert_eq!(app["name"], EXECUTABLE);
        assert_eq!(app["hashes"][0]["content"], sha256_of(&image.executable));
        assert_eq!(app["evidence"]["occurrences"][0]["location"], "/app/sample-native");
        let property = |name: &str| -> Vec<String> {
            app["properties"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["name"] == name)
                .map(|p| p["value"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(property("slipway:native-linkage"), [image.linkage]);
        let (_, needs) = readelf(&image.executable);
        assert_eq!(property("slipway:native-needs"), needs);
        assert!(components.iter().all(|c| c["type"] != "library"), "no Maven components: {sbom}");
        let bases = components.iter().filter(|c| c["type"] == "container").count();
        assert_eq!(bases, usize::from(image.linkage == DYNAMIC), "scratch is no component");
    }
}

#[test]
fn a_dynamic_executable_is_refused_on_a_base_that_lacks_what_it_needs() {
    let Some(images) = images() else { return };
    let work = images.work.join("refused");
    std::fs::create_dir_all(&work).unwrap();
    // An executable that needs a library of its own, libgreet.so.1, which no base has.
    std::fs::copy(fixture("greet.c"), work.join("greet.c")).unwrap();
    std::fs::copy(fixture("server.c"), work.join("server.c")).unwrap();
    for args in [
        &["-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o", "libgreet.so.1", "greet.c"][..],
        &["-DAPP_GREETING_LIBRARY", "-o", "greeter", "server.c", "-L.", "-l:libgreet.so.1"][..],
    ] {
        let out = Command::new("gcc").args(args).current_dir(&work).output().unwrap();
        assert!(out.status.success(), "gcc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let greeter = work.join("greeter");
    let output = work.join("layout");
    let containerize = |base: Option<&str>, sinks: &str| {
        let mut command = step("containerize");
        command.arg("--artifact").arg(&greeter).arg("--output").arg(&output);
        if let Some(base) = base {
            command.args(["--base", base]);
        }
        run_step(command, &work.join(sinks))
    };
    let run = containerize(Some(&images.glibc), "sinks-glibc");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let line = run.stderr.lines().find(|l| l.contains("lacks")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(line.contains("lacks libgreet.so.1,"), "names the library, and only it: {line}");
    assert!(!output.exists(), "nothing written");
    assert!(!run.stdout.contains("layout="), "no outputs: {}", run.stdout);

    // On scratch even the program interpreter is missing.
    let (interpreter, needs) = readelf(&greeter);
    assert_eq!(needs, ["libgreet.so.1", "libc.so.6"]);
    let run = containerize(Some("scratch"), "sinks-scratch");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lacking = format!("lacks {}, libgreet.so.1, libc.so.6,", interpreter.unwrap());
    assert!(run.stderr.contains(&lacking), "{}", run.stderr);
    assert!(!output.exists());

    // The other architecture's image of a native executable does not exist.
    let mut other = step("containerize");
    let arch = if slipway_testkit::host_oci_arch() == "arm64" { "linux/amd64" } else { "linux/arm64" };
    other
        .arg("--artifact")
        .arg(&greeter)
        .args(["--base", &images.glibc, "--platform", arch])
        .arg("--output")
        .arg(&output);
    let run = run_step(other, &work.join("sinks-platform"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("--platform {arch}, but")), "{}", run.stderr);
}

/// `/health` answers, and `/version` names the version and the linkage it was built with.
fn assert_serves(port: u16, linkage: &str) {
    let health = wait_for_http(port, "/health", STARTUP).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&health).unwrap()["status"], "ok", "{health}");
    let version: Value = serde_json::from_str(&wait_for_http(port, "/version", STARTUP).unwrap()).unwrap();
    assert_eq!(version["version"], "1.0.0", "{version}");
    assert_eq!(version["linkage"], linkage, "{version}");
}

#[test]
fn native_images_answer_under_runc_as_a_non_root_user() {
    let Some(images) = images() else { return };
    if !oci_tools_ready() {
        return;
    }
    for image in &images.images {
        let work = tempfile::tempdir().unwrap();
        let bundle = work.path().join("bundle");
        let unpack = Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:1.0.0", image.layout.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(unpack.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&unpack.stderr));
        let config_path = bundle.join("config.json");
        let mut config = json_file(&config_path);
        assert_eq!(config["process"]["args"], serde_json::json!(["/app/sample-native"]));
        assert_eq!(config["process"]["user"]["uid"], 65532);
        // runc shares the host's network here, so the server listens on a free port.
        let port = free_port();
        config["process"]["env"].as_array_mut().unwrap().push(format!("PORT={port}").into());
        config["process"]["terminal"] = false.into();
        config["linux"]["namespaces"].as_array_mut().unwrap().retain(|ns| ns["type"] != "network");
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let id = format!("slipway-native-test-{}-{port}", std::process::id());
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
        assert_serves(port, image.linkage);
    }
}

#[test]
fn native_images_answer_under_docker() {
    let Some(images) = images() else { return };
    if !docker_ready() {
        return;
    }
    for image in &images.images {
        let loaded = Command::new("docker").arg("load").arg("-i").arg(&image.tarball).output().unwrap();
        assert!(loaded.status.success(), "docker load: {}", String::from_utf8_lossy(&loaded.stderr));
        let _image = LocalImage(image.tag.clone());
        let port = free_port();
        let name = format!("slipway-native-test-{}-{port}", std::process::id());
        let _cleanup = DockerApp(name.clone());
        let started = Command::new("docker")
            .args(["run", "--detach", "--name", &name, "--publish"])
            .arg(format!("127.0.0.1:{port}:8080"))
            .arg(&image.tag)
            .output()
            .unwrap();
        assert!(started.status.success(), "docker run: {}", String::from_utf8_lossy(&started.stderr));
        assert_serves(port, image.linkage);
        let user = Command::new("docker").args(["inspect", "--format", "{{.Config.User}}", &name]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "65532:65532");
    }
}

#[test]
fn native_images_are_pushed_deployed_and_verified() {
    let Some(images) = images() else { return };
    if !docker_ready() {
        return;
    }
    let registry = images.glibc.split('/').next().unwrap();
    for image in &images.images {
        let sinks = images.work.join(format!("chain-{}", image.linkage));
        let repository = format!("{registry}/native-test/sample-native-{}-{}", image.linkage, std::process::id());
        let mut push = step("push-image");
        push.arg("--layout").arg(&image.layout).args(["--image", &repository, "--tag", "1.0.0"]);
        let pushed = run_step(push, &sinks.join("push"));
        assert_eq!(pushed.code, 0, "push-image: {}", pushed.stderr);
        let image_ref = pushed.output("image-ref").unwrap().to_owned();
        assert!(pushed.output("sbom-ref").is_some_and(|r| r.starts_with(&repository)), "{}", pushed.stdout);

        let _pulled = LocalImage(image_ref.clone());
        let port = free_port();
        let name = format!("slipway-native-deploy-{}-{port}", std::process::id());
        let _cleanup = DockerApp(name.clone());
        let mut deploy = step("deploy");
        deploy.args(["--target", "docker", "--strategy", "direct", "--name", &name, "--timeout", "2m"]).args([
            "--publish",
            &format!("127.0.0.1:{port}:8080"),
            "--image",
            &image_ref,
            "--check",
            "/health",
            "--version-label",
            "v1",
        ]);
        let deployed = run_step(deploy, &sinks.join("deploy"));
        assert_eq!(deployed.code, 0, "deploy: {}", deployed.stderr);
        let url = format!("http://127.0.0.1:{port}");
        assert_eq!(deployed.output("url"), Some(url.as_str()));
        assert_eq!(deployed.output("status"), Some("deployed"));

        let mut verify = step("verify");
        verify.args(["--url", &url, "--check", "/health", "--expect-version", "1.0.0", "--timeout", "60s"]);
        let verified = run_step(verify, &sinks.join("verify"));
        assert_eq!(verified.code, 0, "verify: {}", verified.stderr);
        assert_eq!(verified.output("healthy"), Some("true"));
        assert_eq!(verified.output("version-seen"), Some("1.0.0"));
    }
}
