//! Runs the planned build with its output streamed into a folded log group, and
//! turns a failure into the lines that explain it (the compiler's errors).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use regex::Regex;
use slipway_contract::{Console, StepError};

use crate::plan::BuildPlan;

/// How many of the build's last lines are kept to explain a failure.
const KEPT_LINES: usize = 2000;
/// How many explaining lines go into the error and the summary.
const EXPLAINING_LINES: usize = 20;

/// Runs the build; returns how long it took.
pub fn run_build(plan: &BuildPlan, console: &Console) -> Result<Duration, StepError> {
    let mut command = if plan.through_shell {
        let mut command = Command::new("sh");
        command.arg(&plan.program);
        command
    } else {
        Command::new(&plan.program)
    };
    command
        .args(&plan.args)
        .current_dir(&plan.project_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let started = Instant::now();
    let group = console.group(&format!("{} build: {}", plan.tool.as_str(), plan.command_line()));
    let mut child = command
        .spawn()
        .map_err(|error| StepError::usage(format!("cannot start `{}`: {error}", plan.program.display())))?;
    let (sender, lines) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let sender = sender.clone();
        std::thread::spawn(move || forward_lines(stream, &sender))
    })
    .collect();
    drop(sender);

    let mut kept: VecDeque<String> = VecDeque::with_capacity(KEPT_LINES);
    for line in lines {
        console.write_line(&line);
        if kept.len() == KEPT_LINES {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status =
        child.wait().map_err(|error| StepError::failed(format!("lost track of the build process: {error}")))?;
    drop(group);

    if status.success() {
        return Ok(started.elapsed());
    }
    let kept: Vec<String> = kept.into();
    let explaining = explain_failure(&kept);
    let code = status.code().map_or_else(|| "a signal".to_owned(), |code| format!("exit code {code}"));
    let first = explaining.first().map(|line| format!(": {}", line.trim())).unwrap_or_default();
    Err(StepError::failed(format!("{} build failed with {code}{first}", plan.tool.as_str())).with_detail(explaining))
}

/// Reads a stream line by line (lossy UTF-8: a build's bytes are not ours to reject).
fn forward_lines(stream: Box<dyn Read + Send>, sender: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
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
