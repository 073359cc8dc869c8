//! The suite image and the GitLab example.
//!
//! - `scripts/suite-image.sh` builds the suite image with slipway's own containerize (the
//!   five binaries added onto the test shell base, the stand-in for distroless cc:debug) and
//!   pushes it with push-image; the Dockerfile builds the same image with `docker build`; both
//!   run every step and hold the same files.
//! - `workflows-examples/gitlab/.gitlab-ci.yml` runs job after job as GitLab runs them: each
//!   job starts from a fresh checkout with the artifacts of the jobs it `needs:` restored, its
//!   variables in GitLab's order of precedence (predefined, the file's, the job's, the dotenv
//!   reports of its `needs:`, the project's), `before_script` + `script` in one shell that stops
//!   at the first failing command, `after_script` in another with `CI_JOB_STATUS`; the jobs
//!   whose image is the suite image run in it under the Docker Engine, the JDK job on this
//!   machine (its Maven and JDK stand in for the maven image). The test registry with
//!   htpasswd is `$CI_REGISTRY`. Needs the Docker Engine, the test registries and Maven.

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_yaml_ng::Value;
use slipway_testkit::{
    ChildGuard, copy_project, copy_tree, docker_ready, free_port, http_get, maven_ready, prerequisite, sample_app_dir,
    serve_directory, test_registry, wait_for_http, workspace_binary, workspace_root,
};

const STEPS: [&str; 5] = ["build-jar", "containerize", "push-image", "deploy", "verify"];
const AUTH_REGISTRY: &str = "127.0.0.1:5556";
const AUTH_USER: &str = "slipway";
const AUTH_PASSWORD: &str = slipway_testkit::secrets::REGISTRY_PASSWORD;

fn output_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn ready() -> Option<String> {
    let built = STEPS.iter().all(|step| workspace_binary(step).is_some());
    if !prerequisite("the suite's binaries (cargo build --workspace)", built) || !docker_ready() {
        return None;
    }
    test_registry()
}

/// The suite image, built by scripts/suite-image.sh and pushed to the test registry once
/// per test binary, then pulled into the Docker Engine; with the directory of binaries it staged.
struct SuiteImage {
    reference: String,
    context: PathBuf,
    _work: tempfile::TempDir,
}

fn suite_image(registry: &str) -> &'static SuiteImage {
    static IMAGE: OnceLock<SuiteImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let work = tempfile::tempdir().unwrap();
        let bins = workspace_binary("verify").unwrap().parent().unwrap().to_path_buf();
        let repository = format!("{registry}/slipway-test/suite");
        let tag = format!("t{}", std::process::id());
        let stdout = output_of(
            Command::new(workspace_root().join("scripts/suite-image.sh"))
                .env("SLIPWAY_SUITE_IMAGE", &repository)
                .env("SLIPWAY_SUITE_TAG", &tag)
                .env("SLIPWAY_SUITE_BASE", format!("{registry}/slipway/shell-base:1"))
                .env("SLIPWAY_BIN_DIR", &bins)
                .env("SLIPWAY_WORK_DIR", work.path())
                .env_remove("GITHUB_OUTPUT")
                .env_remove("GITHUB_ACTIONS")
                .env_remove("SLIPWAY_DOTENV"),
        );
        let value = |key: &str| stdout.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).unwrap().to_owned();
        let image_ref = value("image-ref");
        assert!(image_ref.starts_with(&format!("{repository}@sha256:")), "{stdout}");
        let reference = format!("{repository}:{tag}");
        output_of(Command::new("docker").args(["pull", "--quiet", &reference]));
        SuiteImage { reference, context: PathBuf::from(value("context")), _work: work }
    })
}

fn docker_inspect(image: &str, format: &str) -> String {
    output_of(Command::new("docker").args(["image", "inspect", "--format", format, image])).trim().to_owned()
}

/// `name sha256` of every file in /usr/local/bin, and what each step's --version says.
fn image_contents(image: &str) -> String {
    let script = "cd /usr/local/bin && sha256sum * && for step in build-jar containerize push-image deploy verify; \
                  do $step --version; done && test -s /etc/ssl/certs/ca-certificates.crt && echo certs";
    output_of(Command::new("docker").args(["run", "--rm", "--entrypoint", "", image, "sh", "-c", script]))
}

#[test]
fn the_suite_image_runs_every_step_and_matches_the_dockerfile() {
    let Some(registry) = ready() else { return };
    let suite = suite_image(&registry);
    let contents = image_contents(&suite.reference);
    for step in STEPS {
        assert!(contents.lines().any(|l| l.starts_with(&format!("{step} "))), "{step} --version: {contents}");
        assert!(contents.lines().any(|l| l.ends_with(&format!("  {step}"))), "{step} in /usr/local/bin: {contents}");
    }
    assert!(contents.ends_with("certs\n"), "{contents}");

    // The Dockerfile, on the same base with the same binaries.
    let tag = format!("slipway-test/suite-dockerfile:{}", std::process::id());
    output_of(
        Command::new("docker")
            .args(["build", "--quiet", "--file"])
            .arg(workspace_root().join("Dockerfile"))
            .args(["--build-arg", &format!("BASE={registry}/slipway/shell-base:1"), "--tag", &tag])
            .arg(&suite.context),
    );
    let dockerfile_contents = image_contents(&tag);
    for format in ["{{json .Config.Entrypoint}}", "{{json .Config.Cmd}}", "{{json .Config.Env}}", "{{.Config.User}}"] {
        assert_eq!(docker_inspect(&tag, format), docker_inspect(&suite.reference, format), "{format}");
    }
    let _ = Command::new("docker").args(["rmi", "--force", &tag]).output();
    assert_eq!(dockerfile_contents, contents, "the Dockerfile's image holds the same binaries");
}

/// A job of .gitlab-ci.yml, as far as this example uses GitLab's keywords.
#[derive(Debug)]
struct Job {
    name: String,
    image: Option<String>,
    variables: Vec<(String, String)>,
    before_script: Vec<String>,
    script: Vec<String>,
    after_script: Vec<String>,
    needs: Vec<String>,
    artifact_paths: Vec<String>,
    dotenv: Option<String>,
    environment_url: Option<String>,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Value::String(text) => vec![text.clone()],
        _ => Vec::new(),
    }
}

fn variables(value: &Value) -> Vec<(String, String)> {
    value
        .as_mapping()
        .map(|mapping| {
            mapping
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => serde_yaml_ng::to_string(other).unwrap().trim().to_owned(),
                    };
                    (key.as_str().unwrap().to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The pipeline's global variables and its jobs in stage order (file order within a stage).
fn load_pipeline(path: &Path) -> (Vec<(String, String)>, Vec<Job>) {
    let document: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let stages = strings(&document["stages"]);
    let reserved = ["variables", "stages", "default", "include", "workflow", "image", "services", "cache"];
    let mut jobs = Vec::new();
    for (key, body) in document.as_mapping().unwrap() {
        let name = key.as_str().unwrap();
        if reserved.contains(&name) || name.starts_with('.') {
            continue;
        }
        let image = match &body["image"] {
            Value::String(image) => Some(image.clone()),
            Value::Mapping(_) => body["image"]["name"].as_str().map(str::to_owned),
            _ => None,
        };
        let stage = body["stage"].as_str().unwrap_or("test");
        let position =
            stages.iter().position(|s| s == stage).unwrap_or_else(|| panic!("{name}: unknown stage {stage}"));
        jobs.push((
            position,
            Job {
                name: name.to_owned(),
                image,
                variables: variables(&body["variables"]),
                before_script: strings(&body["before_script"]),
                script: strings(&body["script"]),
                after_script: strings(&body["after_script"]),
                needs: strings(&body["needs"]),
                artifact_paths: strings(&body["artifacts"]["paths"]),
                dotenv: body["artifacts"]["reports"]["dotenv"].as_str().map(str::to_owned),
                environment_url: body["environment"]["url"].as_str().map(str::to_owned),
            },
        ));
    }
    jobs.sort_by_key(|(position, _)| *position);
    (variables(&document["variables"]), jobs.into_iter().map(|(_, job)| job).collect())
}

/// GitLab's expansion of `$NAME` and `${NAME}` in variables, image names and URLs.
fn expand(text: &str, known: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').unwrap();
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(known.get(name).map_or("", String::as_str));
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A dotenv report read as GitLab reads it, with GitLab's limits checked.
fn read_dotenv(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.len() <= 5 * 1024, "{}: GitLab takes at most 5 KiB", path.display());
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (key, value) =
                line.split_once('=').unwrap_or_else(|| panic!("{}: `{line}` is no KEY=VALUE", path.display()));
            let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(valid, "{}: `{key}` is no variable name GitLab accepts", path.display());
            (key.to_owned(), value.to_owned())
        })
        .collect();
    assert!(pairs.len() <= 20, "{}: GitLab takes at most 20 variables, got {}", path.display(), pairs.len());
    pairs
}

/// What a job left: its exit, its log, its dotenv report.
struct JobRun {
    succeeded: bool,
    log: String,
    dotenv: Vec<(String, String)>,
    environment_url: Option<String>,
}

/// Runs a pipeline's jobs the way GitLab does (see the module's comment).
struct Pipeline<'a> {
    suite_image: &'a str,
    project_dir: PathBuf,
    artifacts_dir: PathBuf,
    checkout: PathBuf,
    predefined: BTreeMap<String, String>,
    global: Vec<(String, String)>,
    project_variables: BTreeMap<String, String>,
    reports: HashMap<String, Vec<(String, String)>>,
}

impl Pipeline<'_> {
    fn job_variables(&self, job: &Job) -> BTreeMap<String, String> {
        let mut known = self.predefined.clone();
        known.insert("CI_JOB_NAME".into(), job.name.clone());
        for (key, value) in self.global.iter().chain(&job.variables) {
            let value = expand(value, &known);
            known.insert(key.clone(), value);
        }
        for need in &job.needs {
            for (key, value) in self.reports.get(need).into_iter().flatten() {
                known.insert(key.clone(), value.clone());
            }
        }
        for (key, value) in &self.project_variables {
            known.insert(key.clone(), value.clone());
        }
        known
    }

    /// A fresh checkout at CI_PROJECT_DIR with the artifacts of the jobs `job` needs.
    fn prepare(&self, job: &Job) {
        let _ = std::fs::remove_dir_all(&self.project_dir);
        copy_project(&self.checkout, &self.project_dir);
        for need in &job.needs {
            let saved = self.artifacts_dir.join(need);
            if saved.exists() {
                copy_tree(&saved, &self.project_dir);
            }
        }
    }

    /// Keeps the files `artifacts:paths` names (a path, or `dir/*suffix`).
    fn save_artifacts(&self, job: &Job) {
        let saved = self.artifacts_dir.join(&job.name);
        for pattern in &job.artifact_paths {
            let (dir, file_pattern) = pattern.rsplit_once('/').unwrap_or(("", pattern));
            let suffix = file_pattern.strip_prefix('*');
            for entry in std::fs::read_dir(self.project_dir.join(dir)).into_iter().flatten() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if suffix.map_or(name == file_pattern, |s| name.ends_with(s)) {
                    std::fs::create_dir_all(saved.join(dir)).unwrap();
                    std::fs::copy(self.project_dir.join(dir).join(&name), saved.join(dir).join(&name)).unwrap();
                }
            }
        }
    }

    /// One shell script, in the job's image (the suite image under Docker, else this machine).
    fn shell(&self, image: Option<&str>, variables: &BTreeMap<String, String>, script: &str) -> (bool, String) {
        let mut command = if image == Some(self.suite_image) {
            let mut docker = Command::new("docker");
            docker.args(["run", "--rm", "--network", "host", "--entrypoint", ""]);
            docker.args(["-v", "/var/run/docker.sock:/var/run/docker.sock"]);
            let dir = self.project_dir.display().to_string();
            docker.args(["-v", &format!("{dir}:{dir}"), "-w", &dir]);
            // Names only: the values reach docker through its environment, never its argv.
            for name in variables.keys() {
                docker.args(["-e", name]);
            }
            docker.args([self.suite_image, "sh", "-c", script]);
            docker.env_clear().env("PATH", std::env::var("PATH").unwrap()).envs(variables);
            docker
        } else {
            assert!(image.is_some_and(|i| i.starts_with("maven:")), "no stand-in for the image {image:?}");
            let mut sh = Command::new("sh");
            sh.args(["-c", script]).current_dir(&self.project_dir);
            sh.env_clear().env("PATH", std::env::var("PATH").unwrap()).env("HOME", std::env::var("HOME").unwrap());
            sh.envs(variables);
            sh
        };
        let output = command.stdin(Stdio::null()).output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), log)
    }

    fn run(&mut self, job: &Job) -> JobRun {
        self.prepare(job);
        let variables = self.job_variables(job);
        let image = job.image.as_deref().map(|image| expand(image, &variables));
        // Like the runner: stop at the first command that fails.
        let script = |lines: &[String]| format!("set -e\n{}\n", lines.join("\n"));
        let main: Vec<String> = job.before_script.iter().chain(&job.script).cloned().collect();
        let (succeeded, mut log) = self.shell(image.as_deref(), &variables, &script(&main));
        if !job.after_script.is_empty() {
            let mut after = variables.clone();
            after.insert("CI_JOB_STATUS".into(), if succeeded { "success" } else { "failed" }.into());
            let (_, after_log) = self.shell(image.as_deref(), &after, &script(&job.after_script));
            log.push_str(&after_log);
        }
        // The report is an artifact: uploaded whatever the script's outcome.
        let dotenv = job.dotenv.as_ref().map(|file| read_dotenv(&self.project_dir.join(file))).unwrap_or_default();
        let report = job.dotenv.as_ref().and_then(|file| std::fs::read(self.project_dir.join(file)).ok());
        slipway_testkit::secrets::record(
            &format!("gitlab-job-{}", job.name),
            &[("log", log.as_bytes()), ("dotenv", &report.unwrap_or_default())],
        );
        if succeeded {
            self.save_artifacts(job);
            self.reports.insert(job.name.clone(), dotenv.clone());
        }
        let mut with_report = variables.clone();
        with_report.extend(dotenv.iter().cloned());
        let environment_url = job.environment_url.as_ref().map(|url| expand(url, &with_report));
        JobRun { succeeded, log, dotenv, environment_url }
    }
}

fn value<'a>(run: &'a JobRun, key: &str) -> &'a str {
    run.dotenv
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}: {}", run.log))
}

/// The release assets the JDK job downloads, served on loopback like a GitHub release.
fn serve_release(dir: &Path) -> (ChildGuard, String) {
    let asset = "slipway-build-jar-linux-x64";
    std::fs::copy(workspace_binary("build-jar").unwrap(), dir.join(asset)).unwrap();
    let sum = output_of(Command::new("sha256sum").arg(asset).current_dir(dir));
    std::fs::write(dir.join(format!("{asset}.sha256")), sum).unwrap();
    let (guard, port) = serve_directory(dir, &format!("/{asset}.sha256"));
    (guard, format!("http://127.0.0.1:{port}"))
}

fn set_sample_version(project: &Path, version: &str) {
    let pom = project.join("pom.xml");
    let text = std::fs::read_to_string(&pom).unwrap();
    let start = text.find("<version>").unwrap();
    let end = text[start..].find("</version>").unwrap() + start;
    std::fs::write(&pom, format!("{}<version>{version}{}", &text[..start], &text[end..])).unwrap();
}

fn variable_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

/// Removes the deployed app, its proxy and its network whatever the test's outcome.
struct Containers(String);

impl Drop for Containers {
    fn drop(&mut self) {
        slipway_testkit::remove_docker_app(&self.0);
    }
}

#[test]
fn the_gitlab_pipeline_passes_its_outputs_job_to_job_and_rolls_back_when_verify_fails() {
    let Some(registry) = ready() else { return };
    if !maven_ready() {
        return;
    }
    let suite = suite_image(&registry);
    let work = tempfile::tempdir().unwrap();
    let release_dir = work.path().join("release");
    std::fs::create_dir_all(&release_dir).unwrap();
    let (_server, releases) = serve_release(&release_dir);
    let name = format!("slipway-gitlab-{}", std::process::id());
    let containers = Containers(name.clone());
    let port = free_port();

    let checkout = work.path().join("checkout");
    copy_project(&sample_app_dir(), &checkout);
    let project_dir = work.path().join("builds/group").join(&name);
    let predefined = variable_map(&[
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_DIR", project_dir.to_str().unwrap()),
        ("CI_PROJECT_NAME", &name),
        ("CI_PROJECT_PATH", &format!("group/{name}")),
        ("CI_PROJECT_URL", &format!("https://gitlab.example/group/{name}")),
        ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("CI_COMMIT_SHORT_SHA", "01234567"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_REGISTRY", AUTH_REGISTRY),
        ("CI_REGISTRY_IMAGE", &format!("{AUTH_REGISTRY}/group/{name}")),
        ("CI_REGISTRY_USER", AUTH_USER),
        ("CI_REGISTRY_PASSWORD", AUTH_PASSWORD),
    ]);
    // The project's CI/CD variables: this machine's stand-ins for the internet.
    let project_variables = variable_map(&[
        ("SUITE_IMAGE", suite.reference.as_str()),
        ("SLIPWAY_RELEASES", &releases),
        ("BASE_IMAGE", &format!("{registry}/slipway/jre:17")),
        // deploy's proxy: the caddy:2 stand-in (deploy reads SLIPWAY_PROXY_IMAGE itself).
        ("SLIPWAY_PROXY_IMAGE", &format!("{registry}/slipway/caddy:2")),
        ("PUBLISH", &format!("127.0.0.1:{port}:8080")),
        ("VERIFY_TIMEOUT", "30s"),
        ("SLIPWAY_OFFLINE", "true"),
        ("SLIPWAY_BUILD_ARG", "-Dmaven.repo.local=/usr/share/maven-repo"),
    ]);
    let (global, jobs) = load_pipeline(&workspace_root().join("workflows-examples/gitlab/.gitlab-ci.yml"));
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["build", "package", "deploy", "verify"]);
    let mut pipeline = Pipeline {
        suite_image: &suite.reference,
        project_dir,
        artifacts_dir: work.path().join("artifacts"),
        checkout: checkout.clone(),
        predefined,
        global,
        project_variables,
        reports: HashMap::new(),
    };

    // First pipeline: 1.0.0, every job green, each reading the reports of those it needs.
    let mut runs = BTreeMap::new();
    for job in &jobs {
        let run = pipeline.run(job);
        assert!(run.succeeded, "job {} failed:\n{}", job.name, run.log);
        assert!(!run.log.contains(AUTH_PASSWORD), "job {} logged the registry password", job.name);
        runs.insert(job.name.clone(), run);
    }
    assert_eq!(value(&runs["build"], "SLIPWAY_VERSION"), "1.0.0");
    let image_ref = value(&runs["package"], "SLIPWAY_IMAGE_REF");
    assert!(image_ref.starts_with(&format!("{AUTH_REGISTRY}/group/{name}/app@sha256:")), "{image_ref}");
    assert_eq!(value(&runs["package"], "SLIPWAY_TAGS"), "1.0.0,01234567");
    assert!(runs["package"].log.contains("CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"), "{}", runs["package"].log);
    assert!(runs["deploy"].log.contains("CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"), "{}", runs["deploy"].log);
    let url = runs["deploy"].environment_url.clone().unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}"), "the environment's URL comes from deploy's report");
    assert_eq!(value(&runs["verify"], "SLIPWAY_HEALTHY"), "true");
    assert_eq!(value(&runs["verify"], "SLIPWAY_VERSION_SEEN"), "1.0.0");
    assert!(http_get(port, "/version").unwrap().1.contains("1.0.0"));

    // Second pipeline: 2.0.0 deploys, but verify is told to expect another version (a project
    // variable beats the dotenv report): it fails and its after_script rolls back to 1.0.0.
    set_sample_version(&checkout, "2.0.0");
    for job in &jobs[..3] {
        let run = pipeline.run(job);
        assert!(run.succeeded, "job {} failed:\n{}", job.name, run.log);
    }
    assert!(http_get(port, "/version").unwrap().1.contains("2.0.0"), "2.0.0 serves before verify");
    pipeline.project_variables.insert("SLIPWAY_VERSION".into(), "9.9.9".into());
    let verify = pipeline.run(&jobs[3]);
    assert!(!verify.succeeded, "verify passed against the wrong version:\n{}", verify.log);
    assert_eq!(value(&verify, "SLIPWAY_HEALTHY"), "false");
    let leaked: Vec<&String> = verify
        .dotenv
        .iter()
        .map(|(key, _)| key)
        .filter(|key| *key == "SLIPWAY_STATUS" || *key == "SLIPWAY_URL")
        .collect();
    assert!(leaked.is_empty(), "the rollback's outputs stay out of verify's report: {leaked:?}");
    let rollback = std::fs::read_to_string(pipeline.project_dir.join("rollback.env")).unwrap();
    assert!(rollback.lines().any(|l| l == "SLIPWAY_VERSION_LABEL=1.0.0"), "{rollback}");
    let serving = wait_for_http(port, "/version", Duration::from_secs(60)).unwrap();
    assert!(serving.contains("1.0.0"), "after the rollback 1.0.0 serves: {serving}\n{}", verify.log);
    drop(containers);
}
