//! Runs a step binary and cancels it as a CI runner does: a signal once its standard
//! error shows it reached a given point.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::StepRun;

/// A run that was sent `signal` (`INT`, `TERM`) when its standard error first printed a
/// line holding `when`; `None` in `signalled_after` when it ended before that line.
#[derive(Debug)]
pub struct InterruptedRun {
    pub run: StepRun,
    /// How long the step took to end after the signal.
    pub ended_after: Option<Duration>,
}

/// Runs `command` with its sinks in `sinks_dir` (as [`crate::run_with_sinks`]) and sends
/// it `signal` when a line of its standard error holds `when`.
pub fn run_interrupted(mut command: Command, sinks_dir: &Path, when: &str, signal: &str) -> InterruptedRun {
    let github_output = sinks_dir.join("github_output");
    let dotenv = sinks_dir.join("slipway.env");
    let summary = sinks_dir.join("summary.md");
    command.env("GITHUB_OUTPUT", &github_output).env("GITHUB_STEP_SUMMARY", &summary).env("SLIPWAY_DOTENV", &dotenv);
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the step binary starts");
    let mut stdout_pipe = child.stdout.take().expect("piped stdout");
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let mut stderr = String::new();
    let mut signalled: Option<Instant> = None;
    for line in BufReader::new(child.stderr.take().expect("piped stderr")).lines() {
        let Ok(line) = line else { break };
        if signalled.is_none() && line.contains(when) {
            let sent = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status();
            assert!(sent.is_ok_and(|s| s.success()), "kill -s {signal} failed");
            signalled = Some(Instant::now());
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().expect("the step binary ends");
    let ended_after = signalled.map(|at| at.elapsed());
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let run = StepRun {
        code: status.code().unwrap_or(-1),
        stdout: stdout_reader.join().unwrap_or_default(),
        stderr,
        github_output: read(&github_output),
        dotenv: read(&dotenv),
        summary: read(&summary),
    };
    // What an interrupted step wrote is scanned for secrets like any other run's.
    let label = Path::new(command.get_program()).file_name().map(|n| n.to_string_lossy().into_owned());
    let sinks: Vec<(&str, &[u8])> = run.sinks().iter().map(|(sink, text)| (*sink, text.as_bytes())).collect();
    crate::secrets::record(&label.unwrap_or_default(), &sinks);
    InterruptedRun { run, ended_after }
}
