//! A cancelled job (SIGTERM, SIGINT) in the middle of the build: build-jar forwards the
//! signal to the build's process group, gives it a bounded grace, kills it after that,
//! removes the artifact it had started writing and ends with one line (exit 1). With a
//! stand-in `mvnw` that writes half a jar and sleeps, and with real offline Maven on the
//! sample (skips without Maven unless SLIPWAY_REQUIRE_E2E=1).

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::build_jar;
use slipway_testkit::interrupt::{InterruptedRun, run_interrupted};
use slipway_testkit::{DEBIAN_MAVEN_REPO, StepRun, copy_project, maven_ready, run_with_sinks, sample_app_dir};

/// Stands in for Maven in the middle of `package`: records its pid and its child's, writes
/// half a jar where the jar plugin writes it, says so, then waits (`IGNORE_SIGNALS=1`:
/// ignoring SIGINT and SIGTERM, as a build that hangs in its shutdown would).
const STAND_IN_MVNW: &str = r#"#!/bin/sh
echo $$ >build.pid
mkdir -p target
printf 'PK\003\004half a jar' >target/app-1.0.0.jar
if [ "${IGNORE_SIGNALS:-}" = 1 ]; then trap '' INT TERM; fi
sleep 300 &
echo $! >child.pid
echo "[INFO] Building jar: target/app-1.0.0.jar"
wait
"#;

const SHADE_POM: &str = "<project><artifactId>app</artifactId><version>1.0.0</version><build><plugins><plugin><artifactId>maven-shade-plugin</artifactId></plugin></plugins></build></project>";

/// A Maven project whose wrapper is the stand-in, with a jar of an earlier build in target/.
fn stand_in_project(dir: &Path) -> std::path::PathBuf {
    let project = dir.join("app");
    std::fs::create_dir_all(project.join("target")).unwrap();
    std::fs::write(project.join("pom.xml"), SHADE_POM).unwrap();
    std::fs::write(project.join("mvnw"), STAND_IN_MVNW).unwrap();
    let earlier = project.join("target/app-0.9.0.jar");
    std::fs::write(&earlier, b"PK\x05\x06 an earlier build's jar").unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&earlier).unwrap().set_modified(an_hour_ago).unwrap();
    project
}

/// Whether process `pid` still runs (a zombie waiting for its parent does not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

fn pid(project: &Path, file: &str) -> String {
    std::fs::read_to_string(project.join(file)).unwrap().trim().to_owned()
}

fn error_lines(run: &StepRun) -> Vec<&str> {
    run.stderr.lines().filter(|line| line.starts_with("build-jar: error: ")).collect()
}

fn interrupted(project: &Path, sinks: &Path, when: &str, signal: &str, ignore: bool) -> InterruptedRun {
    let mut command = build_jar();
    command.arg("--project-dir").arg(project).args(["--tool", "maven"]);
    if ignore {
        command.env("IGNORE_SIGNALS", "1");
    }
    run_interrupted(command, sinks, when, signal)
}

#[test]
fn a_build_cancelled_with_sigterm_stops_its_process_group_and_leaves_no_half_jar() {
    let dir = tempfile::tempdir().unwrap();
    let project = stand_in_project(dir.path());
    let cancelled = interrupted(&project, dir.path(), "[INFO] Building jar", "TERM", false);
    let run = &cancelled.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ended_after = cancelled.ended_after.expect("the build reached the jar");
    eprintln!("stand-in build cancelled with SIGTERM: ended {ended_after:?} after the signal");
    assert!(ended_after < Duration::from_secs(3), "ended {ended_after:?} after SIGTERM: {}", run.stderr);
    let half = project.join("target/app-1.0.0.jar");
    assert_eq!(
        error_lines(run),
        [format!(
            "build-jar: error: interrupted by SIGTERM (the job was cancelled); the maven build was stopped before it finished; removed what it had started writing: {}",
            half.display()
        )],
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no outputs: {}", run.stdout);
    assert!(run.github_output.as_deref().unwrap_or_default().is_empty(), "no outputs: {:?}", run.github_output);
    // The half jar is gone, the earlier build's jar is not; the build and its child ended.
    assert!(!half.exists(), "the half-written jar is left");
    assert!(project.join("target/app-0.9.0.jar").exists(), "an earlier build's jar was removed");
    assert!(!alive(&pid(&project, "build.pid")), "the wrapper still runs");
    assert!(!alive(&pid(&project, "child.pid")), "the build's child still runs");
}

#[test]
fn a_build_that_ignores_the_signal_is_killed_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let project = stand_in_project(dir.path());
    let cancelled = interrupted(&project, dir.path(), "[INFO] Building jar", "INT", true);
    let run = &cancelled.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ended_after = cancelled.ended_after.expect("the build reached the jar");
    eprintln!("stand-in build ignoring SIGINT: ended {ended_after:?} after the signal");
    // The grace is 5 s; the kill ends it at once after that.
    assert!(ended_after >= Duration::from_secs(5), "killed before the grace ended: {ended_after:?}");
    assert!(ended_after < Duration::from_secs(8), "ended {ended_after:?} after SIGINT: {}", run.stderr);
    let errors = error_lines(run);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("interrupted by SIGINT (the job was cancelled)"), "{}", errors[0]);
    assert!(run.stderr.contains("did not stop within 5s of the signal: killing it"), "{}", run.stderr);
    assert!(!project.join("target/app-1.0.0.jar").exists(), "the half-written jar is left");
    assert!(!alive(&pid(&project, "build.pid")), "the wrapper still runs");
    assert!(!alive(&pid(&project, "child.pid")), "the build's child still runs");
}

#[test]
fn real_maven_cancelled_mid_build_stops_and_the_next_run_builds() {
    if !maven_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("app");
    copy_project(&sample_app_dir(), &project);
    let maven = || {
        let mut command = build_jar();
        command
            .arg("--project-dir")
            .arg(&project)
            .args(["--tool", "maven", "--offline", "--skip-tests"])
            .arg(format!("--build-arg=-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"));
        command
    };
    // Cancelled as soon as Maven starts on the project (its JVM is up, compiling is next).
    let cancelled = run_interrupted(maven(), dir.path(), "Building sample-app", "TERM");
    let run = &cancelled.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ended_after = cancelled.ended_after.expect("Maven reached the project");
    eprintln!("real Maven cancelled with SIGTERM: ended {ended_after:?} after the signal");
    assert!(ended_after < Duration::from_secs(5), "ended {ended_after:?} after SIGTERM: {}", run.stderr);
    let errors = error_lines(run);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("interrupted by SIGTERM (the job was cancelled); the maven build was stopped"));
    assert!(!run.stderr.contains("killing it"), "Maven stops on SIGTERM: {}", run.stderr);
    assert!(!project.join("target/sample-app-1.0.0.jar").exists(), "a jar is left by the cancelled build");

    let next = run_with_sinks(maven(), dir.path());
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(project.join("target/sample-app-1.0.0.jar").is_file());
}
