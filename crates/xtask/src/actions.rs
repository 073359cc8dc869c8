//! The GitHub Actions, written from the binaries' clap definitions: `actions/<step>/action.yml`
//! for each step and the top-level `action.yml` that chains them.
//!
//! What clap knows becomes the inputs: each flag is an input of the same name, described by
//! its help (with its possible values and default), `required` when the flag is, `'false'`
//! by default for a boolean, "One per line" for a repeatable flag, and passed to the binary
//! as the flag's environment twin through `env:` (never `${{ … }}` inside `run:`). What clap
//! cannot know is data here: the secret inputs (passed as environment variables, never as
//! flags), the outputs' descriptions (in `slipway_contract::keys`), and the top-level chain's
//! wiring.

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Args as _, Command, CommandFactory as _};
use slipway_contract::CommonArgs;
use slipway_contract::keys::{self, LINKS, OutputKey};

/// A reason the actions cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "{step} --{flag} has no environment twin, so an action cannot pass it; give it `env = \"SLIPWAY_…\"` (CONTRACT.md)"
    )]
    NoEnvTwin { step: String, flag: String },
    #[error("{step}: the positional argument `{id}` cannot be an action input; make it a flag")]
    Positional { step: String, id: String },
    #[error(
        "{step} --{flag} would take a secret as a flag value ({why}); secrets reach the binary through the environment, never as a flag (CONTRACT.md)"
    )]
    SecretFlag { step: String, flag: String, why: String },
    #[error("the generator's data names {step} --{flag}, which {step} does not have")]
    UnknownFlag { step: String, flag: String },
    #[error("the generator's data names no top-level description for the secret input `{input}`")]
    UnknownSecret { input: String },
    #[error("the top-level action would have two inputs named `{name}`")]
    DuplicateInput { name: String },
}

/// A secret input: passed to the binary as an environment variable, never as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretInput {
    pub input: &'static str,
    pub variable: &'static str,
    pub description: &'static str,
    /// The input's default, as written in the YAML.
    pub default: &'static str,
}

/// Environment variables that hold secrets: no flag may have one as its environment twin.
const SECRET_VARIABLES: [&str; 4] = ["REGISTRY_PASSWORD", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// Flags an action cannot feed: they read standard input.
const STDIN_FLAGS: [&str; 1] = ["password-stdin"];

const PASSWORD: SecretInput = SecretInput {
    input: "password",
    variable: "REGISTRY_PASSWORD",
    description: "The password or token for --username, passed to push-image as REGISTRY_PASSWORD (never a flag). Use a secret.",
    default: "''",
};
const GHCR_TOKEN: SecretInput = SecretInput {
    input: "github-token",
    variable: "GITHUB_TOKEN",
    description: "The token for ghcr.io pushes, passed as GITHUB_TOKEN.",
    default: "${{ github.token }}",
};
const DEPLOYMENT_TOKEN: SecretInput = SecretInput {
    input: "github-token",
    variable: "GITHUB_TOKEN",
    description: "The token for --github-deployment (and ghcr.io pulls), passed as GITHUB_TOKEN.",
    default: "${{ github.token }}",
};

/// The top-level action's secret inputs, one per name the steps use.
const TOP_SECRETS: [SecretInput; 2] = [
    SecretInput {
        description: "The password or token for username, passed to push-image as REGISTRY_PASSWORD (never a flag). Use a secret.",
        ..PASSWORD
    },
    SecretInput {
        description: "The token for ghcr.io pushes and --github-deployment, passed as GITHUB_TOKEN.",
        ..GHCR_TOKEN
    },
];

/// One binary of the suite, as an action sees it.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub command: Command,
    pub secrets: Vec<SecretInput>,
}

/// The suite's steps in chain order, each with its clap command.
pub fn steps() -> Vec<Step> {
    let step = |name, command, secrets: &[SecretInput]| Step { name, command, secrets: secrets.to_vec() };
    vec![
        step(keys::build_jar::STEP, slipway_build_jar::Cli::command(), &[]),
        step(keys::containerize::STEP, slipway_containerize::Cli::command(), &[]),
        step(keys::push_image::STEP, slipway_push_image::Cli::command(), &[PASSWORD, GHCR_TOKEN]),
        step(keys::deploy::STEP, slipway_deploy::Cli::command(), &[DEPLOYMENT_TOKEN]),
        step(keys::verify::STEP, slipway_verify::Cli::command(), &[]),
    ]
}

/// Every action file, as `(path from the workspace root, text)`.
pub fn generate() -> Result<Vec<(String, String)>, GenerateError> {
    let steps = steps();
    let mut files = Vec::new();
    for step in &steps {
        files.push((format!("actions/{}/action.yml", step.name), step_action(step)?));
    }
    files.push(("action.yml".to_owned(), top_level_action(&steps)?));
    Ok(files)
}

/// A flag of a step, as an action input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flag {
    long: String,
    env: String,
    description: String,
    required: bool,
    boolean: bool,
}

/// The flags of `step` that are action inputs: all but `--help`, `--version`, the
/// contract's output flags (an action publishes through `$GITHUB_OUTPUT`) and flags that
/// read standard input.
fn flags(step: &Step) -> Result<Vec<Flag>, GenerateError> {
    let mut command = step.command.clone();
    command.build();
    let common = CommonArgs::augment_args(Command::new("common"));
    let common_ids: Vec<&str> = common.get_arguments().map(|arg| arg.get_id().as_str()).collect();
    let mut flags = Vec::new();
    for arg in command.get_arguments() {
        let builtin = matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        );
        if builtin || arg.is_hide_set() || common_ids.contains(&arg.get_id().as_str()) {
            continue;
        }
        let Some(long) = arg.get_long() else {
            return Err(GenerateError::Positional { step: step.name.to_owned(), id: arg.get_id().to_string() });
        };
        let boolean = matches!(arg.get_action(), ArgAction::SetTrue);
        refuse_secret(step.name, long, arg, boolean)?;
        if STDIN_FLAGS.contains(&long) {
            continue;
        }
        let env = arg
            .get_env()
            .and_then(|env| env.to_str())
            .ok_or_else(|| GenerateError::NoEnvTwin { step: step.name.to_owned(), flag: long.to_owned() })?;
        flags.push(Flag {
            long: long.to_owned(),
            env: env.to_owned(),
            description: describe(arg, boolean),
            required: arg.is_required_set(),
            boolean,
        });
    }
    Ok(flags)
}

/// Flags whose value names a secret without holding it: deploy's `--secret-env NAME` (an
/// environment variable the binary reads) and `--tls-secret NAME` (a Kubernetes Secret).
const NAMES_A_SECRET: [&str; 2] = ["secret-env", "tls-secret"];

/// A flag that would carry a secret on the command line is refused.
fn refuse_secret(step: &str, long: &str, arg: &Arg, boolean: bool) -> Result<(), GenerateError> {
    let refuse = |why: String| Err(GenerateError::SecretFlag { step: step.to_owned(), flag: long.to_owned(), why });
    if let Some(env) = arg.get_env().and_then(|env| env.to_str())
        && SECRET_VARIABLES.contains(&env)
    {
        return refuse(format!("its environment twin is {env}"));
    }
    let secret_word = ["password", "token", "secret"].into_iter().find(|word| long.contains(word));
    if NAMES_A_SECRET.contains(&long) {
        return Ok(());
    }
    match secret_word {
        Some(word) if !boolean => refuse(format!("its name says `{word}`")),
        _ => Ok(()),
    }
}

/// The flag's help as one line, completed with what the action's user needs to know.
fn describe(arg: &Arg, boolean: bool) -> String {
    let help = arg.get_long_help().or_else(|| arg.get_help()).map(ToString::to_string).unwrap_or_default();
    let mut text = sentence(&help.split_whitespace().collect::<Vec<_>>().join(" "));
    let possible: Vec<String> =
        arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_owned()).collect();
    if !boolean && !possible.is_empty() {
        let _ = write!(text, " One of: {}.", possible.join(", "));
    }
    let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    if !boolean && !arg.is_hide_default_value_set() && !defaults.is_empty() {
        let _ = write!(text, " {}", sentence(&format!("Default: {}", defaults.join(", "))));
    }
    if boolean {
        text.push_str(" 'true' or 'false'.");
    }
    if matches!(arg.get_action(), ArgAction::Append) {
        text.push_str(" One per line.");
    }
    text.trim().to_owned()
}

/// `text` ending with a full stop (clap drops the one of a one-paragraph help).
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', '!', '?']) { text.to_owned() } else { format!("{text}.") }
}

/// A YAML single-quoted scalar.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

const GENERATED: &str = "# Written by `cargo run -p xtask -- actions` from the binaries' clap definitions\n# (crates/xtask/src/actions.rs): edit those, then run it again.\n";

fn header(out: &mut String, name: &str, description: &str, icon: &str) {
    out.push_str(GENERATED);
    let _ = writeln!(out, "name: {}", quote(name));
    let _ = writeln!(out, "description: {}", quote(description));
    let _ = writeln!(out, "author: slipway\nbranding:\n  icon: {icon}\n  color: blue\n\ninputs:");
}

fn input(out: &mut String, name: &str, description: &str, required: bool, default: &str) {
    let _ = writeln!(out, "  {name}:\n    description: {}\n    required: {required}", quote(description));
    if !required {
        let _ = writeln!(out, "    default: {default}");
    }
}

fn flag_input(out: &mut String, name: &str, description: &str, flag: &Flag) {
    input(out, name, description, flag.required, if flag.boolean { "'false'" } else { "''" });
}

fn output(out: &mut String, step_id: &str, key: &OutputKey) {
    let _ = writeln!(
        out,
        "  {}:\n    description: {}\n    value: ${{{{ steps.{step_id}.outputs.{} }}}}",
        key.key,
        quote(key.description),
        key.key
    );
}

/// One composite step that runs a binary.
#[derive(Debug, Clone, Default)]
struct RunStep {
    id: String,
    name: Option<String>,
    condition: Option<String>,
    continue_on_error: bool,
    env: Vec<(String, String)>,
    /// The boolean flags' variables among `env`: 'false' unsets them.
    booleans: Vec<String>,
    setup: &'static str,
    binary: String,
}

fn run_step(out: &mut String, step: &RunStep) {
    let _ = writeln!(out, "    - id: {}", step.id);
    if let Some(name) = &step.name {
        let _ = writeln!(out, "      name: {name}");
    }
    if let Some(condition) = &step.condition {
        let _ = writeln!(out, "      if: {condition}");
    }
    if step.continue_on_error {
        out.push_str("      continue-on-error: true\n");
    }
    out.push_str("      shell: bash\n      env:\n");
    out.push_str("        SLIPWAY_ACTION_REF: ${{ github.action_ref }}\n");
    out.push_str("        SLIPWAY_ACTION_REPOSITORY: ${{ github.action_repository }}\n");
    for (name, value) in &step.env {
        let _ = writeln!(out, "        {name}: {value}");
    }
    out.push_str("      run: |\n");
    let _ = writeln!(out, "        bin=\"$(\"$GITHUB_ACTION_PATH/{}\" {})\"", step.setup, step.binary);
    if step.booleans.is_empty() {
        out.push_str("        # An input left empty is unset: the binary's default applies.\n");
    } else {
        out.push_str(
            "        # An input left empty, or a boolean input left 'false', is unset: the binary's default applies.\n",
        );
    }
    out.push_str("        while IFS= read -r name; do\n          [ -n \"${!name}\" ] || unset \"$name\"\n        done < <(compgen -e SLIPWAY_)\n");
    if !step.booleans.is_empty() {
        let _ = writeln!(out, "        for name in {}; do", step.booleans.join(" "));
        out.push_str("          [ \"${!name:-}\" != false ] || unset \"$name\"\n        done\n");
    }
    out.push_str("        \"$bin\"\n");
}

fn about(command: &Command) -> String {
    sentence(&command.get_about().map(ToString::to_string).unwrap_or_default())
}

/// `actions/<step>/action.yml`.
pub fn step_action(step: &Step) -> Result<String, GenerateError> {
    let flags = flags(step)?;
    let mut out = String::new();
    header(&mut out, &format!("slipway {}", step.name), &about(&step.command), "package");
    for flag in &flags {
        flag_input(&mut out, &flag.long, &flag.description, flag);
    }
    for secret in &step.secrets {
        input(&mut out, secret.input, secret.description, false, secret.default);
    }
    out.push_str("\noutputs:\n");
    for key in keys::outputs_of(step.name).unwrap_or_default() {
        output(&mut out, "run", key);
    }
    out.push_str("\nruns:\n  using: composite\n  steps:\n");
    let mut env: Vec<(String, String)> =
        step.secrets.iter().map(|s| (s.variable.to_owned(), format!("${{{{ inputs.{} }}}}", s.input))).collect();
    env.extend(flags.iter().map(|f| (f.env.clone(), format!("${{{{ inputs.{} }}}}", f.long))));
    let booleans = flags.iter().filter(|f| f.boolean).map(|f| f.env.clone()).collect();
    run_step(
        &mut out,
        &RunStep {
            id: "run".to_owned(),
            env,
            booleans,
            setup: "../setup/setup.sh",
            binary: step.name.to_owned(),
            ..RunStep::default()
        },
    );
    Ok(out)
}

/// How the top-level action sets a flag that is not simply the input of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum How {
    /// Not set: the chain has no use for it.
    Omitted,
    /// Set to this expression; no input.
    Value(String),
    /// The input, or when it is left empty this expression (no `${{ }}`), as the note says.
    InputOr { fallback: String, note: &'static str },
    /// The input, its description completed by a note.
    Noted(&'static str),
}

/// `steps.<step>.outputs.<key>`.
fn output_ref(step: &str, key: OutputKey) -> String {
    format!("steps.{step}.outputs.{}", key.key)
}

/// The chain's wiring beyond [`LINKS`] (which set each consuming flag from its output).
fn top_wiring() -> Vec<(&'static str, &'static str, How)> {
    use keys::{build_jar, containerize, deploy, push_image, verify};
    let version = output_ref(build_jar::STEP, build_jar::VERSION);
    let from_version = "Here the default is build-jar's version.";
    vec![
        (containerize::STEP, "image", How::Value(format!("${{{{ inputs.image }}}}:${{{{ {version} }}}}"))),
        (push_image::STEP, "image", How::Noted("containerize names the image <image>:<version> in the layout.")),
        (push_image::STEP, "tag", How::InputOr { fallback: version.clone(), note: from_version }),
        (push_image::STEP, "dry-run", How::Omitted),
        (deploy::STEP, "promote", How::Omitted),
        (deploy::STEP, "reject", How::Omitted),
        (deploy::STEP, "rollback", How::Omitted),
        (deploy::STEP, "dry-run", How::Omitted),
        (verify::STEP, "expect-version", How::Value(format!("${{{{ {version} }}}}"))),
        // An analysis gate of deploy's canary: set on another strategy it is refused, and
        // verify proves the version built here.
        (deploy::STEP, "expect-version", How::Omitted),
        // One path for both: deploy's Docker target waits until the new container answers
        // it through the proxy, verify judges it.
        (deploy::STEP, "check", How::Value("${{ inputs.check }}".to_owned())),
        (
            verify::STEP,
            "check",
            How::Noted("deploy's Docker target also waits for it through its proxy before traffic moves."),
        ),
    ]
}

/// The strategies that stop half-way, to be promoted or rejected after verify.
const PHASED_STRATEGIES: [&str; 2] = ["canary", "blue-green"];

/// The end states of a phased deployment waiting for --promote or --reject.
const WAITING_STATUSES: [&str; 2] = ["canary", "green-ready"];

/// The outputs of the whole chain.
const TOP_OUTPUTS: [(&str, OutputKey); 6] = [
    (keys::push_image::STEP, keys::push_image::IMAGE_REF),
    (keys::deploy::STEP, keys::deploy::URL),
    (keys::deploy::STEP, keys::deploy::VERSION_LABEL),
    (keys::deploy::STEP, keys::deploy::PREVIOUS_VERSION),
    (keys::verify::STEP, keys::verify::HEALTHY),
    (keys::build_jar::STEP, keys::build_jar::VERSION),
];

const TOP_DESCRIPTION: &str = "Push-to-deploy for JVM web services: build-jar, containerize, push-image, deploy, verify in one step; canary and blue-green deployments are promoted when verify passes and rejected when it fails.";

/// A top-level input: a step's flag under the name the top level gives it.
#[derive(Debug)]
struct TopInput {
    step: &'static str,
    name: String,
    flag: Flag,
    description: String,
}

/// The top-level `action.yml`: every step in order, each flag an input (prefixed by its
/// step where two steps share it), but those the chain sets from an earlier step's outputs.
pub fn top_level_action(steps: &[Step]) -> Result<String, GenerateError> {
    let wiring = top_wiring();
    let mut step_flags = Vec::new();
    for step in steps {
        step_flags.push((step, flags(step)?));
    }
    for (step_name, flag_name, _) in &wiring {
        let known = step_flags.iter().any(|(s, fs)| s.name == *step_name && fs.iter().any(|f| f.long == *flag_name));
        if !known {
            return Err(GenerateError::UnknownFlag { step: (*step_name).to_owned(), flag: (*flag_name).to_owned() });
        }
    }
    let how = |step: &str, flag: &str| -> Option<How> {
        if let Some(link) = LINKS.iter().find(|l| l.to == step && l.flag == flag) {
            return Some(How::Value(format!("${{{{ {} }}}}", output_ref(link.from, link.output))));
        }
        wiring.iter().find(|(s, f, _)| *s == step && *f == flag).map(|(_, _, how)| how.clone())
    };

    // The inputs, named after their flags; a name two steps share is prefixed by the step.
    let mut inputs: Vec<TopInput> = Vec::new();
    for (step, flags) in &step_flags {
        for flag in flags {
            let note = match how(step.name, &flag.long) {
                Some(How::Omitted | How::Value(_)) => continue,
                Some(How::InputOr { note, .. } | How::Noted(note)) => Some(note),
                None => None,
            };
            let description = match note {
                Some(note) => format!("{} {note}", flag.description),
                None => flag.description.clone(),
            };
            inputs.push(TopInput { step: step.name, name: flag.long.clone(), flag: flag.clone(), description });
        }
    }
    let shared: Vec<String> = inputs
        .iter()
        .filter(|input| inputs.iter().filter(|other| other.name == input.name).count() > 1)
        .map(|input| input.name.clone())
        .collect();
    for input in &mut inputs {
        if shared.contains(&input.name) {
            input.name = format!("{}-{}", input.step, input.name);
            input.description = format!("{}: {}", input.step, input.description);
        }
    }
    let mut names: Vec<&str> = inputs.iter().map(|input| input.name.as_str()).collect();
    names.extend(TOP_SECRETS.iter().map(|secret| secret.input));
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            return Err(GenerateError::DuplicateInput { name: (*name).to_owned() });
        }
    }
    for secret in steps.iter().flat_map(|step| &step.secrets) {
        if !TOP_SECRETS.iter().any(|top| top.input == secret.input && top.variable == secret.variable) {
            return Err(GenerateError::UnknownSecret { input: secret.input.to_owned() });
        }
    }
    let input_name = |step: &str, flag: &str| {
        inputs.iter().find(|input| input.step == step && input.flag.long == flag).map(|input| input.name.clone())
    };

    let mut out = String::new();
    header(&mut out, "slipway", TOP_DESCRIPTION, "upload-cloud");
    for input in &inputs {
        flag_input(&mut out, &input.name, &input.description, &input.flag);
    }
    for secret in &TOP_SECRETS {
        input(&mut out, secret.input, secret.description, false, secret.default);
    }
    out.push_str("\noutputs:\n");
    for (step, key) in TOP_OUTPUTS {
        output(&mut out, step, &key);
    }
    out.push_str("\nruns:\n  using: composite\n  steps:\n");

    let mut deploy_step = None;
    for (step, flags) in &step_flags {
        let mut env: Vec<(String, String)> = step
            .secrets
            .iter()
            .map(|secret| (secret.variable.to_owned(), format!("${{{{ inputs.{} }}}}", secret.input)))
            .collect();
        let mut booleans = Vec::new();
        for flag in flags {
            let value = match (how(step.name, &flag.long), input_name(step.name, &flag.long)) {
                (Some(How::Omitted), _) => continue,
                (Some(How::Value(value)), _) => value,
                (Some(How::InputOr { fallback, .. }), Some(name)) => format!("${{{{ inputs.{name} || {fallback} }}}}"),
                (_, Some(name)) => format!("${{{{ inputs.{name} }}}}"),
                (_, None) => continue,
            };
            if flag.boolean {
                booleans.push(flag.env.clone());
            }
            env.push((flag.env.clone(), value));
        }
        let run = RunStep {
            id: step.name.to_owned(),
            name: Some(step.name.to_owned()),
            continue_on_error: step.name == keys::verify::STEP,
            env,
            booleans,
            setup: "actions/setup/setup.sh",
            binary: step.name.to_owned(),
            ..RunStep::default()
        };
        run_step(&mut out, &run);
        if step.name == keys::deploy::STEP {
            deploy_step = Some((flags, run));
        }
    }

    // A canary or blue-green deployment is promoted when verify passed, rejected when it failed,
    // unless deploy finished it itself (a canary judged by analysis ends promoted or aborted).
    if let Some((flags, deploy)) = deploy_step {
        let strategy =
            input_name(keys::deploy::STEP, "strategy").ok_or_else(|| unknown_flag(keys::deploy::STEP, "strategy"))?;
        let phased = PHASED_STRATEGIES.map(|s| format!("\"{s}\"")).join(",");
        let waiting = WAITING_STATUSES.map(|s| format!("\"{s}\"")).join(",");
        for (id, outcome, what) in [("promote", "success", "passed"), ("reject", "failure", "failed")] {
            let flag = flags.iter().find(|f| f.long == id).ok_or_else(|| unknown_flag(keys::deploy::STEP, id))?;
            let mut env = deploy.env.clone();
            env.push((flag.env.clone(), "'true'".to_owned()));
            let mut booleans = deploy.booleans.clone();
            booleans.push(flag.env.clone());
            let step = RunStep {
                id: id.to_owned(),
                name: Some(format!("deploy --{id} (verify {what})")),
                condition: Some(format!(
                    "steps.verify.outcome == '{outcome}' && contains(fromJSON('[{phased}]'), inputs.{strategy}) && contains(fromJSON('[{waiting}]'), steps.deploy.outputs.status)"
                )),
                env,
                booleans,
                ..deploy.clone()
            };
            run_step(&mut out, &step);
        }
    }
    out.push_str(
        "    - name: fail when verify failed\n      if: steps.verify.outcome == 'failure'\n      shell: bash\n      run: |\n        echo \"::error title=verify::the deployed service failed verification (a canary or blue-green deployment was rejected)\"\n        exit 1\n",
    );
    Ok(out)
}

fn unknown_flag(step: &str, flag: &str) -> GenerateError {
    GenerateError::UnknownFlag { step: step.to_owned(), flag: flag.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(args: Vec<Arg>) -> Step {
        let command = CommonArgs::augment_args(Command::new("demo")).about("Does a demo").args(args);
        Step { name: "demo", command, secrets: Vec::new() }
    }

    #[test]
    fn flags_become_inputs_passed_through_env() {
        let step = demo(vec![
            Arg::new("url").long("url").env("SLIPWAY_URL").required(true).help("Base URL of the service"),
            Arg::new("mode")
                .long("mode")
                .env("SLIPWAY_MODE")
                .value_parser(["fast", "slow"])
                .default_value("fast")
                .help("How to run"),
            Arg::new("dry_run").long("dry-run").env("SLIPWAY_DRY_RUN").action(ArgAction::SetTrue).help("Do nothing"),
            Arg::new("tag").long("tag").env("SLIPWAY_TAG").action(ArgAction::Append).help("A tag; repeatable."),
        ]);
        let text = step_action(&step).unwrap();
        let expected = "inputs:
  url:
    description: 'Base URL of the service.'
    required: true
  mode:
    description: 'How to run. One of: fast, slow. Default: fast.'
    required: false
    default: ''
  dry-run:
    description: 'Do nothing. ''true'' or ''false''.'
    required: false
    default: 'false'
  tag:
    description: 'A tag; repeatable. One per line.'
    required: false
    default: ''

outputs:

runs:
";
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("        SLIPWAY_DRY_RUN: ${{ inputs.dry-run }}\n"), "{text}");
        assert!(text.contains("        for name in SLIPWAY_DRY_RUN; do\n"), "{text}");
        assert!(text.contains("description: 'Does a demo.'"), "{text}");
        // The contract's output flags are no inputs.
        assert!(!text.contains("dotenv") && !text.contains("json"), "{text}");
    }

    #[test]
    fn a_flag_without_environment_twin_is_refused() {
        let step = demo(vec![Arg::new("port").long("port").help("The port")]);
        assert_eq!(step_action(&step), Err(GenerateError::NoEnvTwin { step: "demo".into(), flag: "port".into() }));
    }

    #[test]
    fn a_flag_that_would_carry_a_secret_is_refused() {
        let by_name = demo(vec![Arg::new("password").long("password").env("SLIPWAY_PASSWORD")]);
        assert!(matches!(step_action(&by_name), Err(GenerateError::SecretFlag { .. })));
        let by_env = demo(vec![Arg::new("auth").long("auth").env("GITHUB_TOKEN")]);
        assert!(matches!(step_action(&by_env), Err(GenerateError::SecretFlag { .. })));
        // Reading the password from standard input is no secret value on the command line.
        let stdin = demo(vec![
            Arg::new("password_stdin").long("password-stdin").env("SLIPWAY_PASSWORD_STDIN").action(ArgAction::SetTrue),
        ]);
        let text = step_action(&stdin).unwrap();
        assert!(!text.contains("password"), "{text}");
        // A flag naming a secret (a variable to read, a Kubernetes Secret) holds none.
        let names = demo(vec![Arg::new("secret_env").long("secret-env").env("SLIPWAY_SECRET_ENV")]);
        assert!(step_action(&names).is_ok());
        let holds = demo(vec![Arg::new("secret_value").long("secret-value").env("SLIPWAY_SECRET_VALUE")]);
        assert!(matches!(step_action(&holds), Err(GenerateError::SecretFlag { .. })));
    }

    #[test]
    fn the_suite_has_no_secret_flag_input() {
        for step in steps() {
            let text = step_action(&step).unwrap();
            for secret in &step.secrets {
                assert!(text.contains(&format!("        {}: ${{{{ inputs.{} }}}}\n", secret.variable, secret.input)));
            }
            assert!(!text.contains("\n  password-stdin:\n"), "{}", step.name);
            assert!(!text.contains("SLIPWAY_PASSWORD_STDIN"), "{}", step.name);
        }
    }

    #[test]
    fn shared_flag_names_are_prefixed_by_step_at_the_top_level() {
        let text = top_level_action(&steps()).unwrap();
        for name in ["containerize-port", "deploy-port", "push-image-timeout", "deploy-timeout", "verify-timeout"] {
            assert!(text.contains(&format!("\n  {name}:\n")), "{name}");
        }
        let inputs = &text[text.find("\ninputs:\n").unwrap()..text.find("\noutputs:\n").unwrap()];
        for name in ["timeout", "port", "layout", "url", "artifact", "expect-version", "promote", "dry-run"] {
            assert!(!inputs.contains(&format!("\n  {name}:\n")), "{name} is no top-level input");
        }
        // Chained flags are set from the previous step's outputs, not from inputs.
        assert!(text.contains("        SLIPWAY_LAYOUT: ${{ steps.containerize.outputs.layout }}\n"));
        assert!(text.contains("        SLIPWAY_IMAGE_REF: ${{ steps.push-image.outputs.image-ref }}\n"));
        assert!(text.contains("        SLIPWAY_URL: ${{ steps.deploy.outputs.url }}\n"));
    }
}
