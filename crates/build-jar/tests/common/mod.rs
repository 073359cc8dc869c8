//! Running the build-jar binary the way CI does, with a clean environment.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Everything one run of build-jar left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub github_output: Option<String>,
    pub dotenv: Option<String>,
    pub summary: Option<String>,
}

/// The binary with no CI variables of the machine running the tests.
pub fn build_jar() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_build-jar"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("SLIPWAY_") || name.starts_with("GITHUB_") || name == "GITLAB_CI" || name == "CI" {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` with every sink pointed into `sinks_dir`.
pub fn run_with_sinks(mut command: Command, sinks_dir: &Path) -> Run {
    let github_output = sinks_dir.join("github_output");
    let dotenv = sinks_dir.join("slipway.env");
    let summary = sinks_dir.join("summary.md");
    command.env("GITHUB_OUTPUT", &github_output).env("GITHUB_STEP_SUMMARY", &summary).env("SLIPWAY_DOTENV", &dotenv);
    let Output { status, stdout, stderr } = command.output().expect("build-jar runs");
    let read = |path: &PathBuf| std::fs::read_to_string(path).ok();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        github_output: read(&github_output),
        dotenv: read(&dotenv),
        summary: read(&summary),
    }
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

/// The output `key` from `key=value` lines.
pub fn output<'a>(lines: &'a str, key: &str) -> Option<&'a str> {
    lines.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}
