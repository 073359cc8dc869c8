//! A cancelled job (SIGINT, as GitHub Actions sends first) ends verify at once with
//! one error line and exit 1, instead of a process killed mid-line or a wait that runs
//! to its --timeout.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

use std::time::Duration;

use slipway_testkit::interrupt::run_interrupted;
use slipway_testkit::{free_port, step_command};

#[test]
fn an_interrupted_verify_ends_at_once_with_one_error_line_and_exit_1() {
    // Nothing listens on the port: verify retries for up to five minutes.
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut command = step_command(env!("CARGO_BIN_EXE_verify"));
    command.args(["--url", &url, "--timeout", "5m"]);
    let sinks = tempfile::tempdir().unwrap();
    let interrupted = run_interrupted(command, sinks.path(), "attempt 1 failed", "INT");
    let run = &interrupted.run;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ended_after = interrupted.ended_after.expect("verify reached its first retry");
    assert!(ended_after < Duration::from_secs(3), "ended {ended_after:?} after SIGINT");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "verify: error: interrupted by SIGINT (the job was cancelled); the step stopped before it finished"
    );
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("backtrace"), "{}", run.stderr);
    assert!(run.github_output.as_deref().unwrap_or_default().is_empty(), "no outputs of a run that did not finish");
}
