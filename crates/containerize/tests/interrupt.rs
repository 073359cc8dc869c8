//! A cancelled job (SIGTERM, SIGINT) while containerize writes a layer: it stops at once
//! with one line (exit 1), the layout an earlier run wrote is left as it was, no staged
//! half layout is left beside it, and the next run writes the new one. Needs nothing but
//! the binary (the base is scratch).

#![allow(clippy::unwrap_used)] // Test helpers panic on broken fixtures, as tests do.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use slipway_testkit::interrupt::run_interrupted;
use slipway_testkit::{StepRun, run_with_sinks, step_command};

fn containerize(added: &Path, layout: &Path) -> Command {
    let mut command = step_command(env!("CARGO_BIN_EXE_containerize"));
    command.args(["--base", "scratch", "--add", &format!("{}:/opt/data", added.display())]).arg("--output").arg(layout);
    command
}

/// Every file under `root` (relative path, bytes), sorted.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                found.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn error_lines(run: &StepRun) -> Vec<&str> {
    run.stderr.lines().filter(|line| line.starts_with("containerize: error: ")).collect()
}

fn cancelled_mid_layer_leaves_the_earlier_layout(signal: &str) {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let layout = out.join("layout");
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("small.txt"), "the first image").unwrap();
    let first = run_with_sinks(containerize(&data, &layout), work.path());
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = files(&layout);

    // 256 MiB of random bytes: compressing them takes long enough to be cancelled midway.
    let mut noise = vec![0u8; 256 << 20];
    fastrand::fill(&mut noise);
    std::fs::write(data.join("big.bin"), &noise).unwrap();
    drop(noise);
    let cancelled = run_interrupted(containerize(&data, &layout), work.path(), "base scratch", signal);
    let run = &cancelled.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ended_after = cancelled.ended_after.expect("containerize reached the layers");
    eprintln!("containerize cancelled with SIG{signal} mid-layer: ended {ended_after:?} after the signal");
    assert!(ended_after < Duration::from_secs(3), "ended {ended_after:?} after SIG{signal}: {}", run.stderr);
    assert!(!run.stderr.contains("layer added-1"), "the layer was written before the signal: {}", run.stderr);
    assert_eq!(
        error_lines(run),
        [format!(
            "containerize: error: interrupted by SIG{signal} (the job was cancelled); the step stopped before it finished"
        )],
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "no outputs: {}", run.stdout);
    // Nothing half done: the earlier layout is byte for byte as it was, nothing staged is left.
    assert!(files(&layout) == before, "the earlier layout changed");
    assert_eq!(names(&out), ["layout"], "a staged layout is left beside the output");

    let next = run_with_sinks(containerize(&data, &layout), work.path());
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(files(&layout) != before, "the next run wrote the new image");
    assert_eq!(names(&out), ["layout"]);
}

#[test]
fn containerize_cancelled_with_sigterm_mid_layer_leaves_no_half_layout() {
    cancelled_mid_layer_leaves_the_earlier_layout("TERM");
}

#[test]
fn containerize_cancelled_with_sigint_mid_layer_leaves_no_half_layout() {
    cancelled_mid_layer_leaves_the_earlier_layout("INT");
}
