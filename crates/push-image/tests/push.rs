//! push-image against Debian's real registry on loopback: an open one, one with
//! htpasswd basic auth, and the open one behind a fault injector that signs its URLs.
//! Every push is checked with skopeo. (The fault campaign is in `faults.rs`.) Skips without the test registries unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use common::{push_image, top_digest};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_testkit::faults::{FaultPlan, FaultProxy, SignedUrls};
use slipway_testkit::{StepRun, class_bytes, run_with_sinks, test_registry, write_zip};

const AUTH_REGISTRY: &str = "127.0.0.1:5556";
const AUTH_USER: &str = "slipway";
/// The htpasswd registry's password, one of the suite's canaries (the secret scan looks for it).
const AUTH_PASSWORD: &str = slipway_testkit::secrets::REGISTRY_PASSWORD;

/// A unique repository name for this test run.
fn unique(name: &str) -> String {
    format!("push-test/{name}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// A small runnable-looking jar whose bytes differ on every call (a new app layer).
fn fresh_jar(dir: &Path) -> PathBuf {
    let jar = dir.join(format!("app-{}.jar", fastrand::u32(..)));
    let noise: Vec<u8> = (0..64 * 1024).map(|_| fastrand::u8(..)).collect();
    write_zip(
        &jar,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", class_bytes(17)),
            ("noise.bin", noise),
        ],
    );
    jar
}

/// An OCI layout made by containerize itself (in process), on `base`.
fn layout(dir: &Path, base: &str, tarball: bool) -> PathBuf {
    let output = dir.join(format!("layout-{}", fastrand::u32(..)));
    let jar = fresh_jar(dir);
    let mut args = slipway_containerize::ContainerizeArgs::for_artifact(&jar, base, &output).unwrap();
    args.tarball = tarball.then(|| dir.join("image.tar"));
    let log = CapturedLog::default();
    slipway_containerize::run(&args, &log.console("containerize", CiMode::Plain))
        .unwrap_or_else(|e| panic!("{e}: {}", log.text()));
    output
}

/// `skopeo inspect` of a pushed image: its digest, or None when it is not there.
fn remote_digest(reference: &str, creds: Option<&str>) -> Option<String> {
    let mut command = Command::new("skopeo");
    command.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(creds) = creds {
        command.args(["--creds", creds]);
    }
    let output = command.arg(format!("docker://{reference}")).output().unwrap();
    output.status.success().then(|| {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&output.stdout)))
    })
}

fn push(args: &[&str], layout: &Path, sinks: &Path) -> StepRun {
    let mut command = push_image();
    command.arg("--layout").arg(layout).args(args);
    run_with_sinks(command, sinks)
}

#[test]
fn pushes_a_sparse_layout_mounting_base_layers_then_skips_everything_on_a_repush() {
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), &format!("{registry}/slipway/jre:17"), false);
    let repository = format!("{registry}/{}", unique("sparse"));
    let first = push(&["--image", &repository, "--tag", "1.0", "--tag", "latest"], &layout, work.path());
    assert_eq!(first.code, 0, "{}", first.stderr);
    let digest = top_digest(&layout);
    assert_eq!(first.output("image-ref"), Some(format!("{repository}@{digest}").as_str()));
    assert_eq!(first.output("digest"), Some(digest.as_str()));
    assert_eq!(first.output("tags"), Some("1.0,latest"));
    assert_eq!(first.output("blobs-mounted"), Some("1"), "the base layer is mounted, not copied");
    assert_eq!(first.output("blobs-uploaded"), Some("2"), "config and app layer");
    for tag in ["1.0", "latest"] {
        assert_eq!(remote_digest(&format!("{repository}:{tag}"), None), Some(digest.clone()));
    }

    let again = push(&["--image", &repository, "--tag", "1.0"], &layout, work.path());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.output("bytes-uploaded"), Some("0"));
    assert_eq!(again.output("blobs-skipped"), Some("3"));
    assert!(again.summary.unwrap().contains("already there"));
}

#[test]
fn missing_base_layers_stream_from_their_registry_to_another() {
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), &format!("{registry}/slipway/jre:17"), false);
    let repository = format!("{AUTH_REGISTRY}/{}", unique("streamed"));
    let mut command = push_image();
    command
        .arg("--layout")
        .arg(&layout)
        .args(["--image", &repository, "--tag", "v1", "--username", AUTH_USER])
        .env("REGISTRY_PASSWORD", AUTH_PASSWORD);
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("blobs-uploaded"), Some("3"), "the base layer came across too");
    assert_eq!(run.output("blobs-mounted"), Some("0"));
    let creds = format!("{AUTH_USER}:{AUTH_PASSWORD}");
    assert_eq!(remote_digest(&format!("{repository}:v1"), Some(&creds)), Some(top_digest(&layout)));
    // Layers are fetched through skopeo from the destination: the image is complete there.
    let copy = work.path().join("copy");
    let copied = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", "--src-creds", &creds])
        .arg(format!("docker://{repository}:v1"))
        .arg(format!("oci:{}:v1", copy.display()))
        .output()
        .unwrap();
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
}

#[test]
fn the_auth_registry_accepts_explicit_stdin_config_json_and_helper_logins_and_refuses_wrong_ones() {
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), &format!("{registry}/slipway/jre:17"), true);
    let creds = format!("{AUTH_USER}:{AUTH_PASSWORD}");
    let check = |run: &StepRun, repository: &str| {
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(remote_digest(&format!("{repository}:1"), Some(&creds)), Some(top_digest(&layout)));
        let log: Vec<&str> = run.stderr.lines().filter(|l| !l.starts_with("::add-mask::")).collect();
        assert!(!log.join("\n").contains(AUTH_PASSWORD), "the password reaches the log only to be masked");
    };

    let explicit = format!("{AUTH_REGISTRY}/{}", unique("explicit"));
    let mut command = push_image();
    command.arg("--layout").arg(&layout).args(["--image", &explicit, "--tag", "1", "--username", AUTH_USER]);
    command.env("REGISTRY_PASSWORD", AUTH_PASSWORD).env("GITHUB_ACTIONS", "true");
    let run = run_with_sinks(command, work.path());
    check(&run, &explicit);
    assert!(
        run.stderr.starts_with(&format!("::add-mask::{AUTH_PASSWORD}\n")),
        "masked before anything else: {}",
        run.stderr
    );

    let stdin = format!("{AUTH_REGISTRY}/{}", unique("stdin"));
    let mut child = push_image()
        .arg("--layout")
        .arg(&layout)
        .args(["--image", &stdin, "--tag", "1", "--username", AUTH_USER, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{AUTH_PASSWORD}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    slipway_testkit::secrets::record_output("push-image", &output);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(remote_digest(&format!("{stdin}:1"), Some(&creds)), Some(top_digest(&layout)));

    // docker's config.json with an `auths` entry.
    use base64_like::encode;
    let config_dir = work.path().join("docker-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths":{{"{AUTH_REGISTRY}":{{"auth":"{}"}}}}}}"#, encode(&creds)),
    )
    .unwrap();
    let from_config = format!("{AUTH_REGISTRY}/{}", unique("config"));
    let mut command = push_image();
    command
        .arg("--layout")
        .arg(&layout)
        .args(["--image", &from_config, "--tag", "1"])
        .env("DOCKER_CONFIG", &config_dir);
    check(&run_with_sinks(command, work.path()), &from_config);

    // A real credential helper executable on PATH, named by credHelpers.
    let helper_dir = work.path().join("helper-bin");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = helper_dir.join("docker-credential-slipwaytest");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = \"{AUTH_REGISTRY}\" ] || exit 1\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{AUTH_USER}\",\"Secret\":\"{AUTH_PASSWORD}\"}}' \"$server\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper_config = work.path().join("helper-config");
    std::fs::create_dir_all(&helper_config).unwrap();
    std::fs::write(
        helper_config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{AUTH_REGISTRY}":"slipwaytest"}}}}"#),
    )
    .unwrap();
    let from_helper = format!("{AUTH_REGISTRY}/{}", unique("helper"));
    let path = format!("{}:{}", helper_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = push_image();
    command
        .arg("--layout")
        .arg(&layout)
        .args(["--image", &from_helper, "--tag", "1"])
        .env("DOCKER_CONFIG", &helper_config)
        .env("PATH", path);
    check(&run_with_sinks(command, work.path()), &from_helper);

    // Wrong credentials: exit 2, one line, nothing tagged.
    let refused = format!("{AUTH_REGISTRY}/{}", unique("refused"));
    let mut command = push_image();
    command.arg("--layout").arg(&layout).args(["--image", &refused, "--tag", "1", "--username", AUTH_USER]);
    command.env("REGISTRY_PASSWORD", slipway_testkit::secrets::WRONG_REGISTRY_PASSWORD);
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.lines().last().unwrap().contains("refused to let these credentials push"), "{}", run.stderr);
    assert_eq!(remote_digest(&format!("{refused}:1"), Some(&creds)), None);
}

mod base64_like {
    /// Standard base64, for writing a docker config.json in a test.
    pub fn encode(text: &str) -> String {
        let output = std::process::Command::new("base64")
            .arg("-w0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut output = output;
        std::io::Write::write_all(output.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        String::from_utf8(output.wait_with_output().unwrap().stdout).unwrap()
    }
}

/// push-image refusing: exit `code`, one error line with `message`, no outputs.
fn assert_refused(args: &[&str], layout: &Path, code: i32, message: &str) {
    let work = tempfile::tempdir().unwrap();
    let mut command = push_image();
    command.arg("--layout").arg(layout).args(args).env("GITHUB_ACTIONS", "true");
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, code, "{}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("::error title=push-image::")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains(message), "`{}` lacks `{message}`", errors[0]);
    assert_eq!(run.github_output, None);
}

#[test]
fn bad_input_is_refused_before_anything_is_pushed() {
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), &format!("{registry}/slipway/jre:17"), false);
    let repository = format!("{registry}/{}", unique("bad"));
    assert_refused(
        &["--image", "127.0.0.1:5555/Upper/Case", "--tag", "1"],
        &layout,
        2,
        "is not a valid image reference",
    );
    assert_refused(&["--image", &repository, "--tag=-bad"], &layout, 2, "tag `-bad` is not valid");
    assert_refused(&["--image", &repository], &layout, 2, "no tag: give --tag");
    assert_refused(&["--image", &repository, "--tag", "1"], &work.path().join("absent"), 2, "does not exist");
    assert_refused(&["--image", &repository, "--tag", "1"], work.path(), 2, "is not an OCI image layout");
    assert_refused(
        &["--image", &repository, "--tag", "1", "--password-stdin"],
        &layout,
        2,
        "--password-stdin needs --username",
    );
    let unreachable = format!("127.0.0.1:{}/app", slipway_testkit::free_port());
    assert_refused(&["--image", &unreachable, "--tag", "1"], &layout, 1, "cannot reach the registry");

    // A corrupt blob: refused before any upload, so the repository never appears.
    let app_layer = {
        let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let manifest_digest =
            index["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(manifest_digest)).unwrap()).unwrap();
        manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned()
    };
    let blob = layout.join("blobs/sha256").join(app_layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    assert_refused(&["--image", &repository, "--tag", "1"], &layout, 2, "does not match its digest");
    assert_eq!(remote_digest(&format!("{repository}:1"), None), None, "no tag moved");
}

#[test]
fn dry_run_checks_and_plans_but_pushes_nothing() {
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), &format!("{registry}/slipway/jre:17"), false);
    let repository = format!("{registry}/{}", unique("dry"));
    let run = push(&["--image", &repository, "--tag", "1", "--dry-run"], &layout, work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("plan: mount sha256:"), "{}", run.stderr);
    assert!(run.stderr.contains("plan: upload sha256:"), "{}", run.stderr);
    assert!(run.stderr.contains("dry run, nothing pushed"));
    assert_eq!(run.output("bytes-uploaded"), Some("0"));
    assert_eq!(remote_digest(&format!("{repository}:1"), None), None);
}

/// In no URL's query, so only URL redaction (not secret masking) can keep it out.
const CANARY: &str = "SECRETCANARY";

#[test]
fn signed_upload_locations_and_blob_redirects_never_reach_what_push_image_writes() {
    let Some(registry) = test_registry() else { return };
    let upstream: u16 = registry.rsplit(':').next().unwrap().parse().unwrap();
    let signed = SignedUrls {
        query: format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F{CANARY}&X-Amz-Signature={CANARY}0f3a9c"
        ),
        sign_upload_locations: true,
        redirect_blob_gets: true,
    };
    let calm = FaultPlan::calm(0x5eed);
    // The base's registry redirects blob GETs to signed URLs (as S3-backed ones do); the
    // destination hands out signed upload sessions and fails some requests besides.
    let base = FaultProxy::start_signed(upstream, calm, signed.clone()).unwrap();
    let destination = FaultProxy::start_signed(upstream, FaultPlan { error_500: 60, ..calm }, signed).unwrap();
    let work = tempfile::tempdir().unwrap();
    let layout = layout(work.path(), &format!("127.0.0.1:{}/slipway/jre:17", base.port), false);
    // The first requests to signed URLs die without an answer: the retries print their errors.
    base.break_signed(2);
    destination.break_signed(3);
    let repository = format!("127.0.0.1:{}/{}", destination.port, unique("signed"));
    let mut command = push_image();
    command.arg("--layout").arg(&layout).args(["--image", &repository, "--tag", "1", "--timeout", "2m"]);
    command.env("GITHUB_ACTIONS", "true");
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_never_wrote(CANARY);
    use std::sync::atomic::Ordering;
    assert!(base.stats.redirects.load(Ordering::Relaxed) > 0, "the base layer came through a signed redirect");
    assert_eq!(base.stats.broken_signed.load(Ordering::Relaxed), 2);
    assert!(destination.stats.signed_locations.load(Ordering::Relaxed) > 0);
    assert_eq!(destination.stats.broken_signed.load(Ordering::Relaxed), 3);
    let retries: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("retry ")).collect();
    assert!(retries.len() >= 5, "every cut-off request is retried:\n{}", run.stderr);
    let signed_uploads = retries.iter().filter(|l| l.contains("/blobs/uploads/") && l.contains("?…")).count();
    assert!(signed_uploads >= 3, "a cut-off upload's line names its URL without the query:\n{}", run.stderr);
    let direct = repository.replace(&format!("127.0.0.1:{}", destination.port), &registry);
    assert_eq!(remote_digest(&format!("{direct}:1"), None), Some(top_digest(&layout)));

    // A push that gives up: its error line and the failure summary name the URL too. Only
    // the signed URLs fail now: a random 500 as the last failure would name no URL (which
    // request the seeded 500s hit shifts with every request the first push made).
    destination.set_plan(calm);
    destination.break_signed(u64::MAX);
    let layout = self::layout(work.path(), "scratch", false);
    let mut command = push_image();
    command.arg("--layout").arg(&layout).args(["--image", &repository, "--tag", "2", "--timeout", "3s"]);
    command.env("GITHUB_ACTIONS", "true");
    let failed = run_with_sinks(command, work.path());
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    failed.assert_never_wrote(CANARY);
    let error = failed.stderr.lines().find(|l| l.starts_with("::error title=push-image::")).unwrap();
    assert!(error.contains("/blobs/uploads/") && error.contains("?…"), "{error}");
    assert!(failed.summary.unwrap().contains("?…"));
}
