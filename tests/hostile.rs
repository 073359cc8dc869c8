//! Every step under hostile environments ends the contract's way: exit 1 or 2, exactly one
//! error line, never a panic or a backtrace (issue 12). Each binary runs with:
//!
//! - each environment twin (every flag's `env`, read from the step's clap definition) in
//!   turn holding invalid UTF-8, then holding a huge value: 128 KiB, what Linux allows one
//!   environment string (`MAX_ARG_STRLEN`); push-image also reads a 1 MiB password from
//!   standard input;
//! - a read-only working directory (with relative output paths), `/proc` when the tests
//!   run as root (root writes through a mode-0555 directory);
//! - no CA certificates (`SSL_CERT_FILE=/dev/null`, `SSL_CERT_DIR` empty) against an
//!   HTTPS address, which made the HTTP client panic before.
//!
//! Every run is set up to fail before it changes anything: registries and URLs are
//! closed loopback ports, `DOCKER_HOST` a socket that does not exist, AWS endpoints closed
//! loopback ports. Needs the suite's binaries (`cargo build --workspace`).

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::CommandFactory as _;
use slipway_testkit::{class_bytes, free_port, prerequisite, step_command, workspace_binary, write_zip};

/// The environment twins of `step`'s flags.
fn twins(step: &str) -> Vec<String> {
    let command = match step {
        "build-jar" => slipway_build_jar::Cli::command(),
        "containerize" => slipway_containerize::Cli::command(),
        "push-image" => slipway_push_image::Cli::command(),
        "deploy" => slipway_deploy::Cli::command(),
        "verify" => slipway_verify::Cli::command(),
        other => panic!("no step {other}"),
    };
    command.get_arguments().filter_map(|arg| Some(arg.get_env()?.to_str()?.to_owned())).collect()
}

/// How one run went wrong, or `None` when it kept the contract.
fn broken_contract(step: &str, output: &std::process::Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    let error_lines = stderr.lines().filter(|line| line.starts_with(&format!("{step}: error: "))).count();
    let problem = if !matches!(code, Some(1 | 2)) {
        format!("exit {code:?}, not 1 or 2")
    } else if error_lines != 1 {
        format!("{error_lines} error lines, not one")
    } else if ["panicked", "stack backtrace", "RUST_BACKTRACE", "internal error"].iter().any(|s| stderr.contains(s)) {
        "a panic or a backtrace".to_owned()
    } else {
        return None;
    };
    let shown: String = stderr.chars().take(2000).collect();
    Some(format!("{problem}; stderr:\n{shown}"))
}

/// A step's baseline: an environment (every input through its twin) that fails before
/// changing anything, and the files it needs.
struct Setup {
    step: &'static str,
    binary: PathBuf,
    env: Vec<(String, OsString)>,
    /// The same inputs against an HTTPS address, for the no-CA run.
    https_env: Vec<(String, OsString)>,
    _work: tempfile::TempDir,
}

fn closed() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn env(pairs: &[(&str, &OsStr)]) -> Vec<(String, OsString)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn app_jar(dir: &Path) -> PathBuf {
    let jar = dir.join("app.jar");
    write_zip(
        &jar,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", class_bytes(17)),
        ],
    );
    jar
}

fn setup(step: &'static str) -> Option<Setup> {
    let binary = workspace_binary(step);
    if !prerequisite(&format!("target/debug/{step} (cargo build --workspace)"), binary.is_some()) {
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // An HTTPS address nothing listens on: not loopback by the contract's rule, so the
    // steps use HTTPS for it, on this machine all the same.
    let https_host = format!("0.0.0.0:{}", free_port());
    let (env, https_env) = match step {
        "build-jar" => {
            std::fs::create_dir_all(dir.join("empty")).unwrap();
            let base = env(&[("SLIPWAY_PROJECT_DIR", dir.join("empty").as_os_str())]);
            (base.clone(), base)
        }
        "containerize" => {
            let jar = app_jar(dir);
            let out = dir.join("out");
            let with = |base: &str| {
                env(&[
                    ("SLIPWAY_ARTIFACT", jar.as_os_str()),
                    ("SLIPWAY_BASE", OsStr::new(base)),
                    ("SLIPWAY_OUTPUT", out.as_os_str()),
                ])
            };
            (with(&format!("{}/base:1", closed())), with(&format!("{https_host}/base:1")))
        }
        "push-image" => {
            let layout = dir.join("layout");
            let args = slipway_containerize::ContainerizeArgs::for_artifact(&app_jar(dir), "scratch", &layout).unwrap();
            let log = slipway_contract::console::CapturedLog::default();
            slipway_containerize::run(&args, &log.console("containerize", slipway_contract::CiMode::Plain))
                .unwrap_or_else(|e| panic!("{e}: {}", log.text()));
            let with = |image: &str| {
                env(&[
                    ("SLIPWAY_LAYOUT", layout.as_os_str()),
                    ("SLIPWAY_IMAGE", OsStr::new(image)),
                    ("SLIPWAY_TAG", OsStr::new("1")),
                    ("SLIPWAY_TIMEOUT", OsStr::new("5s")),
                ])
            };
            (with(&format!("{}/app", closed())), with(&format!("{https_host}/app")))
        }
        "deploy" => {
            let digest = format!("sha256:{}", "a".repeat(64));
            let docker = env(&[
                ("SLIPWAY_TARGET", OsStr::new("docker")),
                ("SLIPWAY_IMAGE_REF", OsStr::new(&format!("{}/app@{digest}", closed()))),
                ("SLIPWAY_DRY_RUN", OsStr::new("true")),
                ("SLIPWAY_TIMEOUT", OsStr::new("5s")),
            ]);
            let endpoint = format!("https://{https_host}");
            let eb = env(&[
                ("SLIPWAY_TARGET", OsStr::new("elastic-beanstalk")),
                ("SLIPWAY_IMAGE_REF", OsStr::new(&format!("{https_host}/app@{digest}"))),
                ("SLIPWAY_APPLICATION", OsStr::new("shop")),
                ("SLIPWAY_ENVIRONMENT", OsStr::new("shop-prod")),
                ("SLIPWAY_DRY_RUN", OsStr::new("true")),
                ("SLIPWAY_TIMEOUT", OsStr::new("5s")),
                ("AWS_ENDPOINT_URL", OsStr::new(&endpoint)),
            ]);
            (docker, eb)
        }
        "verify" => {
            let with = |url: &str| {
                env(&[
                    ("SLIPWAY_URL", OsStr::new(url)),
                    ("SLIPWAY_TIMEOUT", OsStr::new("300ms")),
                    ("SLIPWAY_REQUEST_TIMEOUT", OsStr::new("200ms")),
                ])
            };
            (with(&format!("http://{}/", closed())), with(&format!("https://{https_host}/")))
        }
        other => panic!("no step {other}"),
    };
    Some(Setup { step, binary: binary.unwrap(), env, https_env, _work: work })
}

impl Setup {
    /// The step with its baseline environment and nothing from the machine that could
    /// reach a real service.
    fn command(&self, env: &[(String, OsString)]) -> Command {
        let mut command = step_command(self.binary.to_str().unwrap());
        command
            .current_dir(self._work.path())
            .env("RUST_BACKTRACE", "1")
            .env("DOCKER_HOST", "unix:///nonexistent/slipway-hostile/docker.sock")
            .env("DOCKER_CONFIG", self._work.path().join("no-docker-config"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIAHOSTILETEST")
            .env("AWS_SECRET_ACCESS_KEY", slipway_testkit::secrets::AWS_SECRET_ACCESS_KEY)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ENDPOINT_URL", format!("http://{}", closed()))
            .stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }

    fn run(&self, what: &str, mut command: Command, failures: &mut Vec<String>) {
        let output = command.output().unwrap();
        slipway_testkit::secrets::record_output(self.step, &output);
        if let Some(problem) = broken_contract(self.step, &output) {
            failures.push(format!("{} with {what}: {problem}", self.step));
        }
    }
}

/// Linux refuses an environment string longer than this (`MAX_ARG_STRLEN`), name included.
const MAX_ENV_STRING: usize = 128 * 1024 - 1;

fn check(step: &'static str) {
    let Some(setup) = setup(step) else { return };
    let mut failures = Vec::new();

    // The baseline itself keeps the contract.
    setup.run("its baseline", setup.command(&setup.env), &mut failures);

    for twin in twins(step) {
        let mut invalid = setup.env.clone();
        invalid.retain(|(name, _)| name != &twin);
        invalid.push((twin.clone(), OsStr::from_bytes(b"\xff\xfe bad \xc3\x28 utf-8").to_owned()));
        setup.run(&format!("invalid UTF-8 in {twin}"), setup.command(&invalid), &mut failures);

        let mut huge = setup.env.clone();
        huge.retain(|(name, _)| name != &twin);
        huge.push((twin.clone(), OsString::from("9".repeat(MAX_ENV_STRING - twin.len() - 1))));
        setup.run(&format!("a 128 KiB value in {twin}"), setup.command(&huge), &mut failures);
    }

    // A read-only working directory, outputs named relative to it.
    let read_only = if Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        PathBuf::from("/proc")
    } else {
        let dir = setup._work.path().join("read-only");
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        dir
    };
    let mut relative = setup.env.clone();
    relative.push(("SLIPWAY_DOTENV".to_owned(), OsString::from("report.env")));
    if step == "containerize" {
        relative.retain(|(name, _)| name != "SLIPWAY_OUTPUT" && name != "SLIPWAY_BASE");
        relative.push(("SLIPWAY_OUTPUT".to_owned(), OsString::from("image")));
        relative.push(("SLIPWAY_BASE".to_owned(), OsString::from("scratch")));
    }
    if step == "build-jar" {
        // An artifact that inspects fine: only writing the report can fail.
        relative.retain(|(name, _)| name != "SLIPWAY_PROJECT_DIR");
        relative.push(("SLIPWAY_JAR".to_owned(), app_jar(setup._work.path()).into_os_string()));
    }
    let mut command = setup.command(&relative);
    command.current_dir(&read_only);
    setup.run(&format!("the read-only working directory {}", read_only.display()), command, &mut failures);

    // No CA certificates, against an HTTPS address: an empty bundle, with and without an
    // empty certificate directory besides.
    let mut command = setup.command(&setup.https_env);
    command.env("SSL_CERT_FILE", "/dev/null").env("SSL_CERT_DIR", setup._work.path().join("no-certs"));
    setup.run("SSL_CERT_FILE=/dev/null and an empty SSL_CERT_DIR", command, &mut failures);
    let mut command = setup.command(&setup.https_env);
    command.env("SSL_CERT_FILE", "/dev/null");
    setup.run("SSL_CERT_FILE=/dev/null", command, &mut failures);

    if step == "push-image" {
        // A 1 MiB password on standard input.
        let mut env = setup.env.clone();
        env.push(("SLIPWAY_USERNAME".to_owned(), OsString::from("someone")));
        env.push(("SLIPWAY_PASSWORD_STDIN".to_owned(), OsString::from("true")));
        let mut child =
            setup.command(&env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut stdin, &vec![b'p'; 1024 * 1024]);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        slipway_testkit::secrets::record_output(step, &output);
        if let Some(problem) = broken_contract(step, &output) {
            failures.push(format!("push-image with a 1 MiB password on stdin: {problem}"));
        }
    }

    assert!(failures.is_empty(), "{} run(s) broke the contract:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn build_jar_keeps_the_contract_under_hostile_environments() {
    check("build-jar");
}

#[test]
fn containerize_keeps_the_contract_under_hostile_environments() {
    check("containerize");
}

#[test]
fn push_image_keeps_the_contract_under_hostile_environments() {
    check("push-image");
}

#[test]
fn deploy_keeps_the_contract_under_hostile_environments() {
    check("deploy");
}

#[test]
fn verify_keeps_the_contract_under_hostile_environments() {
    check("verify");
}
