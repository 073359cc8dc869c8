//! build-jar --jar and bad input, through the real binary: exit codes, the one error
//! line, and exactly what each output sink receives.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use common::{build_jar, class_bytes, output, run_with_sinks, write_zip};
use slipway_testkit::secrets::RecordedOutput;

const MANIFEST: &str = "Manifest-Version: 1.0\r\nMain-Class: dev.example.App\r\nImplementation-Version: 2.4.1\r\n\r\n";

#[test]
fn help_documents_every_flag_and_its_environment_twin() {
    let help = build_jar().arg("--help").recorded_output().unwrap();
    assert!(help.status.success());
    // clap wraps anywhere, inside `[env: NAME=]` too: compare with the line breaks removed.
    let text = String::from_utf8(help.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    for (flag, env) in [
        ("--project-dir", "SLIPWAY_PROJECT_DIR"),
        ("--tool", "SLIPWAY_TOOL"),
        ("--packaging", "SLIPWAY_PACKAGING"),
        ("--task", "SLIPWAY_TASK"),
        ("--jar", "SLIPWAY_JAR"),
        ("--skip-tests", "SLIPWAY_SKIP_TESTS"),
        ("--offline", "SLIPWAY_OFFLINE"),
        ("--build-arg", "SLIPWAY_BUILD_ARG"),
        ("--json", "SLIPWAY_JSON"),
        ("--dotenv", "SLIPWAY_DOTENV"),
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
        assert!(text.contains(&format!("[env: {env}=")), "--help lacks the env twin {env}");
    }
}

#[test]
fn inspecting_a_jar_publishes_every_output_to_every_sink() {
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("app-2.4.1.jar");
    write_zip(&jar, &[("META-INF/MANIFEST.MF", MANIFEST.into()), ("dev/example/App.class", class_bytes(21))]);
    let mut command = build_jar();
    command.arg("--jar").arg(&jar);
    let run = run_with_sinks(command, dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);

    let sha256sum = std::process::Command::new("sha256sum").arg(&jar).output().unwrap();
    let expected_sha = String::from_utf8(sha256sum.stdout).unwrap();
    let expected_sha = expected_sha.split_whitespace().next().unwrap();
    assert_eq!(output(&run.stdout, "sha256"), Some(expected_sha));
    let size = std::fs::metadata(&jar).unwrap().len().to_string();
    assert_eq!(output(&run.stdout, "size-bytes"), Some(size.as_str()));

    let redact = |text: &str| {
        text.replace(&dir.path().display().to_string(), "[DIR]")
            .replace(expected_sha, "[SHA]")
            .replace(&format!("={size}\n"), "=[SIZE]\n")
    };
    insta::assert_snapshot!(redact(&run.stdout), @r"
    artifact=[DIR]/app-2.4.1.jar
    kind=fat-jar
    main-class=dev.example.App
    java-release=21
    version=2.4.1
    sha256=[SHA]
    size-bytes=[SIZE]
    tool=none
    linkage=
    needs=
    ");
    assert_eq!(run.github_output.as_deref(), Some(run.stdout.as_str()), "key=value lines in both");
    insta::assert_snapshot!(redact(run.dotenv.as_deref().unwrap()), @r"
    SLIPWAY_ARTIFACT=[DIR]/app-2.4.1.jar
    SLIPWAY_KIND=fat-jar
    SLIPWAY_MAIN_CLASS=dev.example.App
    SLIPWAY_JAVA_RELEASE=21
    SLIPWAY_VERSION=2.4.1
    SLIPWAY_SHA256=[SHA]
    SLIPWAY_SIZE_BYTES=[SIZE]
    SLIPWAY_TOOL=none
    SLIPWAY_LINKAGE=
    SLIPWAY_NEEDS=
    ");
    let summary = run.summary.unwrap();
    assert!(summary.starts_with("### build-jar: `app-2.4.1.jar`"), "{summary}");
    assert!(summary.contains("| Java release | `21` |"), "{summary}");
}

#[test]
fn json_output_is_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("app.jar");
    write_zip(&jar, &[("META-INF/MANIFEST.MF", MANIFEST.into()), ("dev/example/App.class", class_bytes(17))]);
    let run = build_jar().arg("--json").arg("--jar").arg(&jar).recorded_output().unwrap();
    assert!(run.status.success());
    let value: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(value["java-release"], "17");
    assert_eq!(value["kind"], "fat-jar");
}

/// Runs build-jar with GitHub's sinks and checks the contract for a failure: the exit
/// code, one `::error` line with the message, and no outputs at all.
fn assert_refused(args: &[&std::ffi::OsStr], code: i32, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = build_jar();
    command.args(args).env("GITHUB_ACTIONS", "true");
    let run = run_with_sinks(command, dir.path());
    assert_eq!(run.code, code, "stderr: {}", run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("::error title=build-jar::")).collect();
    assert_eq!(errors.len(), 1, "one error line in: {}", run.stderr);
    assert!(errors[0].contains(message), "`{}` lacks `{message}`", errors[0]);
    assert!(run.stdout.is_empty(), "no outputs on stdout: {}", run.stdout);
    assert_eq!(run.github_output, None);
    assert_eq!(run.dotenv, None);
    assert!(run.summary.unwrap().contains("build-jar failed"));
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"));
}

#[test]
fn a_missing_project_directory_is_refused() {
    assert_refused(
        &["--project-dir".as_ref(), "/nonexistent/slipway".as_ref()],
        2,
        "project directory /nonexistent/slipway does not exist",
    );
}

#[test]
fn a_directory_without_build_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(&["--project-dir".as_ref(), dir.path().as_os_str()], 2, "has no build file");
}

#[test]
fn a_jar_without_main_class_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("lib.jar");
    write_zip(
        &jar,
        &[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n".to_vec()), ("a/B.class", class_bytes(17))],
    );
    assert_refused(&["--jar".as_ref(), jar.as_os_str()], 2, "has no Main-Class");
}

#[test]
fn a_corrupt_zip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("broken.jar");
    std::fs::write(&jar, b"PK\x03\x04 this is not a zip").unwrap();
    assert_refused(&["--jar".as_ref(), jar.as_os_str()], 2, "is not a valid jar (zip) file");
}

#[test]
fn a_main_class_missing_from_the_jar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("app.jar");
    write_zip(&jar, &[("META-INF/MANIFEST.MF", MANIFEST.into()), ("dev/example/Other.class", class_bytes(17))]);
    assert_refused(
        &["--jar".as_ref(), jar.as_os_str()],
        2,
        "names Main-Class dev.example.App but holds no dev/example/App.class",
    );
}

#[test]
fn a_war_without_web_inf_is_refused_and_a_real_one_inspected() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.war");
    write_zip(&bad, &[("index.html", b"hi".to_vec())]);
    assert_refused(&["--jar".as_ref(), bad.as_os_str()], 2, "WAR without WEB-INF/");

    let good = dir.path().join("shop-3.1.war");
    write_zip(
        &good,
        &[
            ("WEB-INF/web.xml", b"<web-app/>".to_vec()),
            ("WEB-INF/classes/a/Servlet.class", class_bytes(11)),
            ("WEB-INF/classes/a/New.class", class_bytes(17)),
        ],
    );
    let run = build_jar().arg("--jar").arg(&good).recorded_output().unwrap();
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert_eq!(output(&stdout, "kind"), Some("war"));
    assert_eq!(output(&stdout, "java-release"), Some("17"), "the newest class decides");
    assert_eq!(output(&stdout, "main-class"), Some(""));
    assert_eq!(output(&stdout, "version"), Some("3.1"));
}

#[test]
fn an_unknown_tool_is_one_line_exit_2() {
    assert_refused(&["--tool".as_ref(), "ant".as_ref()], 2, "invalid value 'ant' for '--tool <TOOL>'");
}

#[test]
fn environment_twins_set_flags_and_lists_take_one_value_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("app.jar");
    write_zip(&jar, &[("META-INF/MANIFEST.MF", MANIFEST.into()), ("dev/example/App.class", class_bytes(17))]);
    let run = build_jar().env("SLIPWAY_JAR", &jar).env("SLIPWAY_JSON", "true").recorded_output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.stdout.starts_with(b"{"));
    let off = build_jar().env("SLIPWAY_JAR", &jar).env("SLIPWAY_JSON", "false").recorded_output().unwrap();
    assert!(off.stdout.starts_with(b"artifact="), "SLIPWAY_JSON=false means text");
}
