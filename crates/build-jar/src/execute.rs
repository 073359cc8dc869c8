//! Runs the planned build with its output streamed into a folded log group, and
//! turns a failure into the lines that explain it (the compiler's errors). A cancelled
//! job (SIGINT, SIGTERM) is forwarded to the build's process group, which gets a bounded
//! grace to stop before it is killed; what it had started writing is removed.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use regex::Regex;
use slipway_artifact::ArtifactKind;
use slipway_contract::interrupt::{self, Cancel};
use slipway_contract::runtime::{Threads, block_on_with};
use slipway_contract::{Console, StepError};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::plan::BuildPlan;

/// How many of the build's last lines are kept to explain a failure.
const KEPT_LINES: usize = 2000;
/// How many explaining lines go into the error and the summary.
const EXPLAINING_LINES: usize = 20;
/// How long an interrupted build may take to stop before its process group is killed:
/// under GitHub Actions' 7.5 s between SIGINT and SIGTERM (and SIGKILL 2.5 s later).
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long the build's output is still read after its group was killed (a process that
/// left the group may hold the pipes open).
const AFTER_KILL: Duration = Duration::from_secs(2);

/// Runs the build; returns how long it took.
pub fn run_build(plan: &BuildPlan, console: &Console) -> Result<Duration, StepError> {
    // The build goes on when a signal comes: it is stopped here, the way it must be.
    block_on_with(Threads::Current, Cancel::AtWaitPoints, build(plan, console))?
}

async fn build(plan: &BuildPlan, console: &Console) -> Result<Duration, StepError> {
    let mut command = if plan.through_shell {
        let mut command = tokio::process::Command::new("sh");
        command.arg(&plan.program);
        command
    } else {
        tokio::process::Command::new(&plan.program)
    };
    command
        .args(&plan.args)
        .current_dir(&plan.project_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a signal reaches Maven's or Gradle's JVM behind
        // the wrapper script and every process they start, and only them.
        .process_group(0);

    let started = Instant::now();
    let started_at = SystemTime::now();
    let group = console.group(&format!("{} build: {}", plan.tool.as_str(), plan.command_line()));
    let mut child = command
        .spawn()
        .map_err(|error| StepError::usage(format!("cannot start `{}`: {error}", plan.program.display())))?;
    let process_group = child.id();
    let (sender, mut lines) = mpsc::unbounded_channel::<String>();
    let streams: [Option<Box<dyn AsyncRead + Send + Unpin>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
    ];
    for stream in streams.into_iter().flatten() {
        tokio::spawn(forward_lines(stream, sender.clone()));
    }
    drop(sender);

    let mut kept: VecDeque<String> = VecDeque::with_capacity(KEPT_LINES);
    let mut stop = Stop::default();
    let interrupted = interrupt::interrupted();
    tokio::pin!(interrupted);
    let mut output_open = true;
    // The output until it ends, then the exit status; a signal at any point starts the stop.
    let status = loop {
        tokio::select! {
            line = lines.recv(), if output_open => match line {
                Some(line) => {
                    console.write_line(&line);
                    if kept.len() == KEPT_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
                None => output_open = false,
            },
            status = child.wait(), if !output_open => break Some(status),
            signal = &mut interrupted, if stop.signal.is_none() => stop.begin(signal, process_group, console),
            () = tokio::time::sleep_until(stop.next_deadline()), if stop.signal.is_some() => {
                if !stop.escalate(process_group, console) {
                    break None;
                }
            }
        }
    };
    drop(group);

    if let Some(signal) = stop.signal {
        return Err(interrupted_error(plan, signal, started_at));
    }
    let status = status
        .unwrap_or_else(|| Err(std::io::Error::other("it did not end")))
        .map_err(|error| StepError::failed(format!("lost track of the build process: {error}")))?;
    if status.success() {
        return Ok(started.elapsed());
    }
    let kept: Vec<String> = kept.into();
    let explaining = explain_failure(&kept);
    let code = status.code().map_or_else(|| "a signal".to_owned(), |code| format!("exit code {code}"));
    let first = explaining.first().map(|line| format!(": {}", line.trim())).unwrap_or_default();
    Err(StepError::failed(format!("{} build failed with {code}{first}", plan.tool.as_str())).with_detail(explaining))
}

/// Where stopping an interrupted build stands: the signal forwarded, then SIGKILL after
/// [`STOP_GRACE`], then giving up on its output after [`AFTER_KILL`].
#[derive(Debug, Default)]
struct Stop {
    signal: Option<&'static str>,
    killed: bool,
    deadline: Option<tokio::time::Instant>,
}

impl Stop {
    fn begin(&mut self, signal: &'static str, process_group: Option<u32>, console: &Console) {
        self.signal = Some(signal);
        self.deadline = Some(tokio::time::Instant::now() + STOP_GRACE);
        console.info(&format!(
            "{signal}: stopping the build (its process group), {}s before it is killed",
            STOP_GRACE.as_secs()
        ));
        signal_group(process_group, signal.trim_start_matches("SIG"));
    }

    fn next_deadline(&self) -> tokio::time::Instant {
        self.deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))
    }

    /// At a deadline: kills the group the first time (true: keep waiting), gives up the
    /// second (false).
    fn escalate(&mut self, process_group: Option<u32>, console: &Console) -> bool {
        if self.killed {
            return false;
        }
        console.warning(&format!("the build did not stop within {}s of the signal: killing it", STOP_GRACE.as_secs()));
        signal_group(process_group, "KILL");
        self.killed = true;
        self.deadline = Some(tokio::time::Instant::now() + AFTER_KILL);
        true
    }
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to the process group `leader` leads. Through
/// `sh`'s `kill`, since the workspace forbids unsafe code (libc's kill) and no crate it
/// builds offers a safe one without more features to compile.
fn signal_group(leader: Option<u32>, signal: &str) {
    let Some(leader) = leader else { return };
    let _ = std::process::Command::new("sh")
        .args(["-c", r#"kill -s "$1" -- "-$2" 2>/dev/null"#, "sh", signal, &leader.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The one line an interrupted build ends with, after removing the artifacts it had
/// started writing (files of the planned kind written since the build started, which
/// may be cut short and which the report would otherwise point at on a retry).
fn interrupted_error(plan: &BuildPlan, signal: &str, started: SystemTime) -> StepError {
    let removed = remove_fresh_artifacts(&plan.output_dir, plan.kind, started);
    let removed = match removed.as_slice() {
        [] => String::new(),
        paths => format!(
            "; removed what it had started writing: {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    StepError::failed(format!(
        "interrupted by {signal} (the job was cancelled); the {} build was stopped before it finished{removed}",
        plan.tool.as_str()
    ))
}

fn remove_fresh_artifacts(output_dir: &Path, kind: ArtifactKind, started: SystemTime) -> Vec<PathBuf> {
    // File times lag the clock by up to a scheduler tick; nothing else writes there meanwhile.
    let since = started.checked_sub(Duration::from_millis(100)).unwrap_or(started);
    let mut removed = Vec::new();
    for path in crate::discover::fresh_candidates(output_dir, kind, since) {
        let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// Reads a stream line by line (lossy UTF-8: a build's bytes are not ours to reject).
async fn forward_lines(stream: Box<dyn AsyncRead + Send + Unpin>, sender: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buffer);
                if sender.send(line.trim_end_matches(['\n', '\r']).to_owned()).is_err() {
                    return;
                }
            }
        }
    }
}

/// The lines of a failed build's log that say why it failed: compiler errors first,
/// else Gradle's "What went wrong", else Maven's `[ERROR]` lines, else the last lines.
pub fn explain_failure(lines: &[String]) -> Vec<String> {
    // Maven and Gradle colour their output even in batch mode; the summary shows text.
    let colour = Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").ok();
    let plain: Vec<String> = lines
        .iter()
        .map(|line| colour.as_ref().map_or_else(|| line.clone(), |re| re.replace_all(line, "").into_owned()))
        .collect();
    let lines = plain.as_slice();
    let compiler = Regex::new(r"(\.(java|kt|kts|scala|groovy):\[?\d+)|^e: ").ok();
    let compiler_lines: Vec<String> = lines
        .iter()
        .filter(|line| compiler.as_ref().is_some_and(|re| re.is_match(line)))
        .map(|line| strip_maven_level(line))
        .fold(Vec::new(), |mut unique, line| {
            if !unique.contains(&line) {
                unique.push(line);
            }
            unique
        });
    if !compiler_lines.is_empty() {
        return compiler_lines.into_iter().take(EXPLAINING_LINES).collect();
    }

    if let Some(start) = lines.iter().position(|line| line.trim() == "* What went wrong:") {
        let wrong: Vec<String> = lines[start + 1..]
            .iter()
            .take_while(|line| !line.starts_with("* Try:") && !line.starts_with("* Exception is:"))
            .map(|line| line.trim_end().to_owned())
            .filter(|line| !line.trim().is_empty())
            .take(EXPLAINING_LINES)
            .collect();
        if !wrong.is_empty() {
            return wrong;
        }
    }

    let boilerplate = [
        "-> [Help 1]",
        "Re-run Maven",
        "To see the full stack trace",
        "For more information about the errors",
        "[Help 1]",
        "After correcting the problems",
    ];
    let maven_errors: Vec<String> = lines
        .iter()
        .filter(|line| line.starts_with("[ERROR]"))
        .map(|line| strip_maven_level(line))
        .filter(|line| !line.is_empty() && !boilerplate.iter().any(|b| line.contains(b)))
        .take(EXPLAINING_LINES)
        .collect();
    if !maven_errors.is_empty() {
        return maven_errors;
    }
    let skip = lines.len().saturating_sub(EXPLAINING_LINES);
    lines[skip..].iter().filter(|line| !line.trim().is_empty()).cloned().collect()
}

fn strip_maven_level(line: &str) -> String {
    line.strip_prefix("[ERROR]").unwrap_or(line).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn maven_compiler_errors_come_first_and_once() {
        let log = lines(
            "[INFO] Compiling 2 source files\n[ERROR] COMPILATION ERROR : \n[ERROR] /p/src/main/java/App.java:[5,9] ';' expected\n[INFO] 1 error\n[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.10.1:compile\n[ERROR] /p/src/main/java/App.java:[5,9] ';' expected\n[ERROR] -> [Help 1]",
        );
        assert_eq!(explain_failure(&log), vec!["/p/src/main/java/App.java:[5,9] ';' expected"]);
    }

    #[test]
    fn colour_codes_are_removed() {
        let log = lines("\x1b[1;31m[ERROR]\x1b[m Failed to execute goal: boom\x1b[0m");
        assert_eq!(explain_failure(&log), vec!["Failed to execute goal: boom"]);
    }

    #[test]
    fn gradle_javac_and_kotlin_errors() {
        let log = lines(
            "> Task :compileJava\n/p/src/App.java:5: error: cannot find symbol\n        foo();\ne: file:///p/src/App.kt:3:5 Unresolved reference: bar\n",
        );
        assert_eq!(
            explain_failure(&log),
            vec![
                "/p/src/App.java:5: error: cannot find symbol",
                "e: file:///p/src/App.kt:3:5 Unresolved reference: bar"
            ]
        );
    }

    #[test]
    fn gradle_what_went_wrong_block() {
        let log = lines(
            "FAILURE: Build failed with an exception.\n\n* What went wrong:\nTask 'buildFatJar' not found in root project 'app'.\n\n* Try:\nRun gradle tasks",
        );
        assert_eq!(explain_failure(&log), vec!["Task 'buildFatJar' not found in root project 'app'."]);
    }

    #[test]
    fn maven_errors_without_boilerplate_then_tail() {
        let log = lines(
            "[ERROR] Failed to execute goal on project app: Could not resolve dependencies\n[ERROR] \n[ERROR] -> [Help 1]\n[ERROR] Re-run Maven using the -X switch",
        );
        assert_eq!(
            explain_failure(&log),
            vec!["Failed to execute goal on project app: Could not resolve dependencies"]
        );
        let tail: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        let explained = explain_failure(&tail);
        assert_eq!(explained.len(), EXPLAINING_LINES);
        assert_eq!(explained.last().unwrap(), "line 29");
    }
}
