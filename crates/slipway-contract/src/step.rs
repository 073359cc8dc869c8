//! The frame every binary runs in: parse flags, run the step, publish outputs or
//! render the failure, and exit with the contract's code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::summary::Summary;
use crate::{CommonArgs, Console, Outputs, Sinks, StepError};

/// A step's command line: its clap struct (the step's flags with [`CommonArgs`] flattened
/// in), declared in the step's library with [`step_cli!`](crate::step_cli), so that tools
/// (the actions' generator, the chain's tests) read the same definitions as the binary.
pub trait StepCli: Parser {
    /// The step's name, as its binary, log lines and annotations say it.
    const STEP: &'static str;

    fn common(&self) -> &CommonArgs;

    /// Runs the step with the flags parsed.
    fn run(&self, console: &Console) -> Result<StepReport, StepError>;
}

/// What a successful step hands back: its outputs and its summary section.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub outputs: Outputs,
    pub summary: Summary,
}

/// Declares a step's command line in its library: `pub struct Cli` (the step's flags with
/// the contract's output flags flattened in) and its [`StepCli`] impl, which runs the
/// library's `run(&args, &console)`. The binary's `main` is then [`main::<Cli>()`](main).
///
/// ```text
/// slipway_contract::step_cli! {
///     #[command(name = "verify", version, about = "...")]
///     step: "verify", args: VerifyArgs, run: run
/// }
/// ```
#[macro_export]
macro_rules! step_cli {
    ($(#[$meta:meta])* step: $name:expr, args: $args:ty, run: $run:path $(,)?) => {
        /// The step's command line: its own flags, then the contract's output flags.
        #[derive(Debug, ::clap::Parser)]
        $(#[$meta])*
        pub struct Cli {
            #[command(flatten)]
            pub args: $args,
            #[command(flatten)]
            pub common: $crate::CommonArgs,
        }

        impl $crate::step::StepCli for Cli {
            const STEP: &'static str = $name;

            fn common(&self) -> &$crate::CommonArgs {
                &self.common
            }

            fn run(&self, console: &$crate::Console) -> ::std::result::Result<$crate::StepReport, $crate::StepError> {
                $run(&self.args, console)
            }
        }
    };
}

/// A step binary's `main`: parses `C` and runs it under the contract ([`run_step`]).
pub fn main<C: StepCli>() -> ExitCode {
    run_step(C::STEP, |cli: C, console| cli.run(console))
}

/// Runs `body` as the step `step` and returns the process exit code.
pub fn run_step<C, F>(step: &'static str, body: F) -> ExitCode
where
    C: StepCli,
    F: FnOnce(C, &Console) -> Result<StepReport, StepError>,
{
    install_panic_hook(step);
    let console = Console::from_env(step);
    let nonempty_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let summary_path = nonempty_path("GITHUB_STEP_SUMMARY");
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind as Kind;
            if matches!(error.kind(), Kind::DisplayHelp | Kind::DisplayVersion) {
                let _ = error.print();
                return ExitCode::SUCCESS;
            }
            // A flag error is bad input like any other: one line, a summary, exit 2.
            let failure = StepError::usage(clap_error_line(&error.render().to_string()));
            let code =
                conclude(&console, &Sinks::default(), summary_path.as_deref(), Err(failure), &mut std::io::stdout());
            return ExitCode::from(code);
        }
    };
    let sinks = Sinks {
        github_output: nonempty_path("GITHUB_OUTPUT"),
        dotenv: cli.common().dotenv.clone().filter(|path| !path.as_os_str().is_empty()),
        json: cli.common().json,
    };
    let result = body(cli, &console);
    let code = conclude(&console, &sinks, summary_path.as_deref(), result, &mut std::io::stdout().lock());
    ExitCode::from(code)
}

/// Publishes a step's result and returns its exit code: outputs and summary on
/// success; on failure the explaining lines, one error line, and a failure summary,
/// with no outputs at all.
pub fn conclude(
    console: &Console,
    sinks: &Sinks,
    summary_path: Option<&Path>,
    result: Result<StepReport, StepError>,
    stdout: &mut dyn Write,
) -> u8 {
    let failure = match result {
        Ok(report) => match publish(console, sinks, summary_path, &report, stdout) {
            Ok(()) => return 0,
            Err(error) => error,
        },
        Err(error) => error,
    };
    for line in &failure.detail {
        console.write_line(line);
    }
    if let Some(outputs) = &failure.outputs
        && !outputs.iter().any(|(_, value)| console.contains_secret(value))
        && let Err(error) = sinks.publish(outputs, stdout)
    {
        console.warning(&format!("cannot publish the failure's outputs: {error}"));
    }
    let message = failure.one_line();
    console.error(&message);
    if let Some(path) = summary_path {
        let mut summary = Summary::new(&format!("❌ {} failed", console.step()));
        summary.line(&console.redact(&message));
        if !failure.detail.is_empty() {
            let detail: Vec<String> = failure.detail.iter().map(|line| console.redact(line)).collect();
            summary.code_block(&detail);
        }
        if let Err(error) = summary.append_to(path) {
            console.warning(&format!("cannot write the step summary {}: {error}", path.display()));
        }
    }
    failure.exit_code()
}

fn publish(
    console: &Console,
    sinks: &Sinks,
    summary_path: Option<&Path>,
    report: &StepReport,
    stdout: &mut dyn Write,
) -> Result<(), StepError> {
    if let Some((key, _)) = report.outputs.iter().find(|(_, value)| console.contains_secret(value)) {
        return Err(StepError::failed(format!(
            "output `{key}` would reveal a secret; no output was published (this is a bug in slipway)"
        )));
    }
    if let Some(warning) =
        sinks.publish(&report.outputs, stdout).map_err(|error| StepError::failed(error.to_string()))?
    {
        console.warning(&warning);
    }
    if let Some(path) = summary_path {
        let markdown = console.redact(report.summary.markdown());
        let write = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(markdown.as_bytes()));
        if let Err(error) = write {
            console.warning(&format!("cannot write the step summary {}: {error}", path.display()));
        }
    }
    Ok(())
}

/// Folds clap's multi-line message into one line: the first paragraph, `error:` dropped.
pub fn clap_error_line(rendered: &str) -> String {
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty() && !line.starts_with("For more information"))
        .filter(|line| !line.starts_with("Usage:"))
        .collect();
    let joined = paragraph.join(" ");
    let line = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("{line} (see --help)")
}

fn install_panic_hook(step: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let reason = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("{step}: internal error: {reason}{location} (this is a bug in slipway; please report it)");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CiMode;
    use crate::console::CapturedLog;

    fn report(outputs: Outputs) -> StepReport {
        let mut summary = Summary::new("build-jar");
        summary.line("built");
        StepReport { outputs, summary }
    }

    #[test]
    fn success_publishes_every_sink() {
        let dir = tempfile::tempdir().unwrap();
        let log = CapturedLog::default();
        let console = log.console("build-jar", CiMode::GitHub);
        let sinks =
            Sinks { github_output: Some(dir.path().join("out")), dotenv: Some(dir.path().join("env")), json: false };
        let summary = dir.path().join("summary.md");
        let mut outputs = Outputs::new();
        outputs.set("kind", "fat-jar");
        let mut stdout = Vec::new();
        let code = conclude(&console, &sinks, Some(&summary), Ok(report(outputs)), &mut stdout);
        assert_eq!(code, 0);
        assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "kind=fat-jar\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("env")).unwrap(), "SLIPWAY_KIND=fat-jar\n");
        assert_eq!(std::fs::read_to_string(summary).unwrap(), "### build-jar\n\nbuilt\n\n");
        assert_eq!(stdout, b"kind=fat-jar\n");
        assert_eq!(log.text(), "");
    }

    #[test]
    fn failure_writes_detail_error_line_and_summary_but_no_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let log = CapturedLog::default();
        let console = log.console("build-jar", CiMode::GitHub);
        console.add_mask("hunter2");
        let sinks = Sinks { github_output: Some(dir.path().join("out")), ..Sinks::default() };
        let summary = dir.path().join("summary.md");
        let error = StepError::failed("the build failed: password hunter2\nrejected")
            .with_detail(vec!["App.java:3: error: ';' expected".into()]);
        let mut stdout = Vec::new();
        let code = conclude(&console, &sinks, Some(&summary), Err(error), &mut stdout);
        assert_eq!(code, 1);
        assert!(!dir.path().join("out").exists());
        assert!(stdout.is_empty());
        insta::assert_snapshot!(log.text(), @r"
        ::add-mask::hunter2
        App.java:3: error: ';' expected
        ::error title=build-jar::the build failed: password *** rejected
        ");
        insta::assert_snapshot!(std::fs::read_to_string(summary).unwrap(), @r"
        ### ❌ build-jar failed

        the build failed: password *** rejected

        ```
        App.java:3: error: ';' expected
        ```
        ");
    }

    #[test]
    fn an_output_holding_a_secret_is_never_published() {
        let dir = tempfile::tempdir().unwrap();
        let log = CapturedLog::default();
        let console = log.console("push-image", CiMode::Plain);
        console.add_mask("t0ken");
        let sinks = Sinks { github_output: Some(dir.path().join("out")), ..Sinks::default() };
        let mut outputs = Outputs::new();
        outputs.set("image-ref", "registry/app").set("leak", "Bearer t0ken");
        let mut stdout = Vec::new();
        let code = conclude(&console, &sinks, None, Ok(report(outputs)), &mut stdout);
        assert_eq!(code, 1);
        assert!(stdout.is_empty());
        assert!(!dir.path().join("out").exists());
        assert!(log.text().contains("output `leak` would reveal a secret"));
    }

    #[test]
    fn a_failure_publishes_only_the_outputs_that_describe_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = CapturedLog::default();
        let console = log.console("verify", CiMode::GitHub);
        let sinks = Sinks { github_output: Some(dir.path().join("out")), ..Sinks::default() };
        let mut outputs = Outputs::new();
        outputs.set("healthy", "false").set("attempts", 7);
        let error = StepError::failed("unhealthy").with_outputs(outputs);
        let mut stdout = Vec::new();
        assert_eq!(conclude(&console, &sinks, None, Err(error), &mut stdout), 1);
        assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "healthy=false\nattempts=7\n");
        assert_eq!(stdout, b"healthy=false\nattempts=7\n");
        assert_eq!(log.text(), "::error title=verify::unhealthy\n");
    }

    #[test]
    fn usage_errors_exit_2() {
        let log = CapturedLog::default();
        let console = log.console("verify", CiMode::Plain);
        let code = conclude(&console, &Sinks::default(), None, Err(StepError::usage("bad")), &mut Vec::new());
        assert_eq!(code, 2);
        assert_eq!(log.text(), "verify: error: bad\n");
    }

    #[test]
    fn clap_errors_fold_to_one_line() {
        let rendered = "error: invalid value 'ant' for '--tool <TOOL>'\n  [possible values: auto, maven, gradle]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_line(rendered),
            "invalid value 'ant' for '--tool <TOOL>' [possible values: auto, maven, gradle] (see --help)"
        );
    }
}
