//! build-jar against real Maven, offline against Debian's Maven repository, on copies
//! of the bundled sample application. Skips without Maven unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{build_jar, output, run_with_sinks};
use slipway_testkit::{
    ChildGuard, DEBIAN_MAVEN_REPO, copy_project, free_port, maven_ready, sample_app_dir, wait_for_http,
};

fn maven_build(project: &Path) -> Command {
    let mut command = build_jar();
    command
        .arg("--project-dir")
        .arg(project)
        .args(["--tool", "maven", "--offline", "--skip-tests"])
        .arg(format!("--build-arg=-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"))
        .env("GITHUB_ACTIONS", "true");
    command
}

fn sample_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_project(&sample_app_dir(), &dir.path().join("app"));
    dir
}

#[test]
fn sample_fat_jar_builds_offline_and_serves_health() {
    if !maven_ready() {
        return;
    }
    let dir = sample_copy();
    let project = dir.path().join("app");
    let run = run_with_sinks(maven_build(&project), dir.path());
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The build's own output is folded into one group.
    let group_start = run.stderr.lines().position(|l| l.starts_with("::group::maven build: ")).expect("a group");
    let group_end = run.stderr.lines().position(|l| l == "::endgroup::").expect("the group closes");
    assert!(group_start < group_end && run.stderr.contains("BUILD SUCCESS"));

    let artifact = project.join("target/sample-app-1.0.0.jar");
    let github_output = run.github_output.unwrap();
    for key in ["artifact", "kind", "main-class", "java-release", "version", "sha256", "size-bytes"] {
        assert!(output(&github_output, key).is_some(), "$GITHUB_OUTPUT lacks {key}");
        assert!(output(&run.stdout, key).is_some(), "stdout lacks {key}");
    }
    assert_eq!(output(&github_output, "artifact"), Some(artifact.to_str().unwrap()));
    assert_eq!(output(&github_output, "kind"), Some("fat-jar"));
    assert_eq!(output(&github_output, "main-class"), Some("dev.slipway.sample.App"));
    assert_eq!(output(&github_output, "java-release"), Some("17"));
    assert_eq!(output(&github_output, "version"), Some("1.0.0"));
    let sha256sum = Command::new("sha256sum").arg(&artifact).output().unwrap();
    let expected = String::from_utf8(sha256sum.stdout).unwrap();
    assert_eq!(output(&github_output, "sha256"), expected.split_whitespace().next());
    assert!(run.dotenv.unwrap().contains("SLIPWAY_KIND=fat-jar\n"));

    let port = free_port();
    let _app = ChildGuard(
        Command::new("java")
            .arg("-jar")
            .arg(&artifact)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = wait_for_http(port, "/health", Duration::from_secs(30)).unwrap();
    assert!(health.contains("UP"), "{health}");
    let version = wait_for_http(port, "/version", Duration::from_secs(5)).unwrap();
    assert!(version.contains("\"1.0.0\""), "{version}");
}

#[test]
fn a_compile_error_fails_with_the_compiler_message() {
    if !maven_ready() {
        return;
    }
    let dir = sample_copy();
    let project = dir.path().join("app");
    let source = project.join("src/main/java/dev/slipway/sample/App.java");
    let text = std::fs::read_to_string(&source).unwrap();
    let broken = text.replacen("public final class App {", "public final class App {\n    int broken = ;", 1);
    assert_ne!(text, broken, "the sample's App class declaration changed; update this test");
    std::fs::write(&source, broken).unwrap();

    let run = run_with_sinks(maven_build(&project), dir.path());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.stderr.lines().find(|l| l.starts_with("::error title=build-jar::")).expect("an error line");
    assert!(error.contains("maven build failed with exit code 1"), "{error}");
    assert!(error.contains("App.java:["), "the compiler's location is in the line: {error}");
    assert!(error.contains("illegal start of expression"), "the compiler's message is in the line: {error}");
    assert!(run.summary.unwrap().contains("illegal start of expression"));
    assert_eq!(run.github_output, None);
    assert!(run.stdout.is_empty());
}

#[test]
fn several_candidate_artifacts_are_listed_and_refused() {
    if !maven_ready() {
        return;
    }
    let dir = sample_copy();
    let project = dir.path().join("app");
    // An attached shaded jar leaves the plain jar beside it: two runnable-looking jars.
    let pom = std::fs::read_to_string(project.join("pom.xml")).unwrap();
    let attached = pom.replacen(
        "<createDependencyReducedPom>false</createDependencyReducedPom>",
        "<createDependencyReducedPom>false</createDependencyReducedPom><shadedArtifactAttached>true</shadedArtifactAttached><shadedClassifierName>fat</shadedClassifierName>",
        1,
    );
    assert_ne!(pom, attached, "the sample's shade configuration changed; update this test");
    std::fs::write(project.join("pom.xml"), attached).unwrap();

    let run = run_with_sinks(maven_build(&project), dir.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    let error = run.stderr.lines().find(|l| l.starts_with("::error title=build-jar::")).unwrap();
    assert!(error.contains("2 candidate artifacts (sample-app-1.0.0-fat.jar, sample-app-1.0.0.jar)"), "{error}");
    assert_eq!(run.github_output, None);
}
