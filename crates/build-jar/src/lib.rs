//! build-jar: builds a runnable JVM artifact or GraalVM native executable with the
//! project's own Maven or Gradle, finds it, and proves it runnable.
//!
//! Flow: [`BuildJarArgs`] -> [`plan::plan`] (refuses bad input) -> [`execute::run_build`]
//! -> [`discover::discover`] -> [`slipway_artifact::inspect`] -> outputs and summary.

pub mod discover;
pub mod execute;
pub mod plan;
pub mod project;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use slipway_contract::keys::build_jar as keys;
use slipway_contract::progress::format_bytes;
use slipway_contract::{Console, Outputs, StepError, StepReport, Summary, parse_list};

use crate::plan::{BuildRequest, PackagingChoice, ToolChoice};
use slipway_artifact::{Artifact, ArtifactKind, InspectError};

/// build-jar's own flags (the contract's output flags are added by the binary).
#[derive(Debug, Clone, clap::Args)]
pub struct BuildJarArgs {
    /// The project's root directory, holding pom.xml, build.gradle or build.gradle.kts.
    #[arg(long, env = "SLIPWAY_PROJECT_DIR", value_name = "DIR", default_value = ".")]
    pub project_dir: PathBuf,

    /// The build tool. `auto` reads the project: the Gradle or Maven build file (the
    /// project's gradlew/mvnw wrapper before a system gradle/mvn).
    #[arg(long, env = "SLIPWAY_TOOL", value_enum, default_value_t = ToolChoice::Auto)]
    pub tool: ToolChoice,

    /// The artifact to build. `auto` reads the build file: GraalVM's native plugin
    /// (Gradle's org.graalvm.buildtools.native, Maven's native-maven-plugin in the build)
    /// gives native, a fat-jar plugin (Ktor, Shadow, Spring Boot, maven-shade, assembly)
    /// fat-jar, the war plugin or <packaging>war</packaging> war, Gradle's application plugin dist.
    #[arg(long, env = "SLIPWAY_PACKAGING", value_enum, default_value_t = PackagingChoice::Auto)]
    pub packaging: PackagingChoice,

    /// The Gradle task(s) or Maven goal(s) to run instead of the chosen ones
    /// (space-separated, e.g. "clean shadowJar").
    #[arg(long, env = "SLIPWAY_TASK", value_name = "TASK")]
    pub task: Option<String>,

    /// Do not build: inspect this existing fat JAR, WAR, dist directory or native executable only.
    #[arg(long, env = "SLIPWAY_JAR", value_name = "PATH", conflicts_with_all = ["task", "build_args"])]
    pub jar: Option<PathBuf>,

    /// Skip the tests (Maven -DskipTests, Gradle -x test).
    #[arg(long, env = "SLIPWAY_SKIP_TESTS")]
    pub skip_tests: bool,

    /// Run the build tool offline (Maven --offline, Gradle --offline).
    #[arg(long, env = "SLIPWAY_OFFLINE")]
    pub offline: bool,

    /// An extra argument for the build tool, e.g. -Dmaven.repo.local=DIR or -Pprofile.
    /// Repeatable; the environment variable takes one per line.
    #[arg(
        long = "build-arg",
        env = "SLIPWAY_BUILD_ARG",
        value_name = "ARG",
        allow_hyphen_values = true,
        value_delimiter = '\n'
    )]
    pub build_args: Vec<String>,
}

slipway_contract::step_cli! {
    #[command(
        name = "build-jar",
        version,
        about = "Builds a runnable JVM artifact (fat JAR, dist or WAR) or a GraalVM native executable with the project's own Maven or Gradle, finds it and proves it runnable.",
        after_help = "Outputs (to $GITHUB_OUTPUT, the dotenv report and standard output): artifact, kind, main-class, java-release, version, sha256, size-bytes, tool, linkage, needs (a native executable's static or dynamic linkage and the libraries it needs).\nExit codes: 0 done, 1 the build failed, 2 bad input or an artifact that cannot run."
    )]
    step: "build-jar",
    args: BuildJarArgs,
    run: run,
}

/// Runs build-jar: builds (unless `--jar`), finds and proves the artifact.
pub fn run(args: &BuildJarArgs, console: &Console) -> Result<StepReport, StepError> {
    if let Some(jar) = &args.jar {
        let artifact = inspect(jar)?;
        console.info(&format!(
            "{} is a runnable {}{}",
            artifact.path.display(),
            artifact.kind.as_str(),
            native_line(&artifact)
        ));
        return Ok(report(&artifact, None, None));
    }

    let request = BuildRequest {
        project_dir: absolute(&args.project_dir),
        tool: args.tool,
        packaging: args.packaging,
        task: args.task.clone().filter(|task| !task.trim().is_empty()),
        skip_tests: args.skip_tests,
        offline: args.offline,
        build_args: parse_list(&args.build_args),
        in_ci: std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false"),
    };
    let find_on_path = |name: &str| which::which(name).ok();
    let plan = plan::plan(&request, &find_on_path)?;
    for reason in &plan.reasons {
        console.info(reason);
    }

    let started = SystemTime::now();
    let took = execute::run_build(&plan, console)?;
    let path = discover::discover(&plan.output_dir, plan.kind, started)?;
    let mut artifact = inspect(&path)?;
    if artifact.kind == ArtifactKind::Native && artifact.version.is_empty() {
        // A native executable records no version: the build's own declaration names it.
        let files = project::BuildFiles::scan(&plan.project_dir);
        artifact.version = project::declared_version(plan.tool, &plan.project_dir, &files).unwrap_or_default();
    }
    console.info(&format!(
        "built {} ({}{}) in {:.1}s",
        artifact.path.display(),
        artifact.kind.as_str(),
        native_line(&artifact),
        took.as_secs_f64()
    ));
    Ok(report(&artifact, Some(plan.tool.as_str()), Some(took)))
}

/// `: linux/amd64, dynamic, needs libz.so.1, libc.so.6` for a native executable.
fn native_line(artifact: &Artifact) -> String {
    let Some(native) = &artifact.native else {
        return String::new();
    };
    let needs = if native.needs.is_empty() { String::new() } else { format!(", needs {}", native.needs.join(", ")) };
    format!(": linux/{}, {}{needs}", native.architecture, native.linkage.as_str())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Inspection failures say the artifact is not runnable as configured: exit 2.
fn inspect(path: &Path) -> Result<Artifact, StepError> {
    slipway_artifact::inspect(&absolute(path)).map_err(|error| match error {
        InspectError::Io { .. } => StepError::failed(error.to_string()),
        _ => StepError::usage(error.to_string()),
    })
}

fn report(artifact: &Artifact, tool: Option<&str>, took: Option<Duration>) -> StepReport {
    let mut outputs = Outputs::new();
    outputs
        .set(keys::ARTIFACT, artifact.path.display())
        .set(keys::KIND, artifact.kind.as_str())
        .set(keys::MAIN_CLASS, &artifact.main_class)
        .set(keys::JAVA_RELEASE, artifact.java_release)
        .set(keys::VERSION, &artifact.version)
        .set(keys::SHA256, &artifact.sha256)
        .set(keys::SIZE_BYTES, artifact.size_bytes)
        .set(keys::TOOL, tool.unwrap_or("none"))
        .set(keys::LINKAGE, artifact.native.as_ref().map_or("", |n| n.linkage.as_str()))
        .set(keys::NEEDS, artifact.native.as_ref().map(|n| n.needs.join(",")).unwrap_or_default());

    let name = artifact.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut summary = Summary::new(&format!("build-jar: `{name}`"));
    let mut facts = vec![("kind", artifact.kind.as_str().to_owned())];
    match &artifact.native {
        Some(native) => {
            facts.push(("architecture", native.architecture.clone()));
            facts.push(("linkage", native.linkage.as_str().to_owned()));
            if let Some(interpreter) = &native.interpreter {
                facts.push(("interpreter", interpreter.clone()));
            }
            if !native.needs.is_empty() {
                facts.push(("needs", native.needs.join(", ")));
            }
        }
        None => {
            facts.push(("main class", artifact.main_class.clone()));
            facts.push(("Java release", artifact.java_release.to_string()));
        }
    }
    facts.extend([
        ("version", artifact.version.clone()),
        ("size", format_bytes(artifact.size_bytes)),
        ("sha256", artifact.sha256.clone()),
    ]);
    if let (Some(tool), Some(took)) = (tool, took) {
        facts.push(("built with", format!("{tool} in {:.1}s", took.as_secs_f64())));
    }
    summary.facts(&facts);
    StepReport { outputs, summary }
}
