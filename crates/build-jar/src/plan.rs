//! From flags and build files to a [`BuildPlan`]: which program to run with which
//! arguments, what kind of artifact to expect, and where. Pure except for reading
//! the build files, so every bad input is refused here, before anything runs.

use std::path::{Path, PathBuf};

use slipway_contract::StepError;

use crate::project::{BuildFiles, GradleFeatures, MavenFeatures, Tool};
use slipway_artifact::ArtifactKind;

/// `--tool`: which build tool, or `auto` to read the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolChoice {
    Auto,
    Maven,
    Gradle,
}

/// `--packaging`: which artifact, or `auto` to read the build file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PackagingChoice {
    Auto,
    FatJar,
    Dist,
    War,
    /// A GraalVM native executable (Gradle's `nativeCompile`, Maven's native-maven-plugin).
    Native,
}

/// What the user asked for, after flag parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub project_dir: PathBuf,
    pub tool: ToolChoice,
    pub packaging: PackagingChoice,
    pub task: Option<String>,
    pub skip_tests: bool,
    pub offline: bool,
    pub build_args: Vec<String>,
    /// `CI` is set: no Gradle daemon outlives the job.
    pub in_ci: bool,
}

/// The build to run and where its artifact will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub project_dir: PathBuf,
    pub tool: Tool,
    /// The wrapper script or the tool found on `PATH`.
    pub program: PathBuf,
    /// Run the wrapper through `sh` when it is not executable (a checkout lost the bit).
    pub through_shell: bool,
    pub args: Vec<String>,
    pub kind: ArtifactKind,
    /// Where the artifact appears: `target/`, `build/libs/`, `build/install/` or
    /// `build/native/nativeCompile/`.
    pub output_dir: PathBuf,
    /// Why this tool and packaging were chosen, for the log.
    pub reasons: Vec<String>,
}

impl BuildPlan {
    /// The command as a user would type it, for logs and error messages.
    pub fn command_line(&self) -> String {
        let program = self
            .program
            .strip_prefix(&self.project_dir)
            .map_or_else(|_| self.program.display().to_string(), |relative| format!("./{}", relative.display()));
        let mut words = vec![program];
        words.extend(self.args.iter().cloned());
        words.join(" ")
    }
}

/// Finds a program on `PATH`; injected so tests can pretend.
pub type PathLookup<'a> = &'a dyn Fn(&str) -> Option<PathBuf>;

pub fn plan(request: &BuildRequest, find_on_path: PathLookup<'_>) -> Result<BuildPlan, StepError> {
    let dir = &request.project_dir;
    if !dir.exists() {
        return Err(StepError::usage(format!("project directory {} does not exist", dir.display())));
    }
    if !dir.is_dir() {
        return Err(StepError::usage(format!("project directory {} is not a directory", dir.display())));
    }
    let files = BuildFiles::scan(dir);
    let mut reasons = Vec::new();
    let tool = choose_tool(request.tool, &files, dir, &mut reasons)?;
    let (program, wrapper) = match tool {
        Tool::Gradle => locate(files.gradle_wrapper.as_deref(), "gradle", "./gradlew", find_on_path)?,
        Tool::Maven => locate(files.maven_wrapper.as_deref(), "mvn", "./mvnw", find_on_path)?,
    };
    let through_shell = wrapper && !is_executable(&program);
    let (kind, goals) = match tool {
        Tool::Gradle => gradle_goals(request, &files, &mut reasons)?,
        Tool::Maven => maven_goals(request, &files, &mut reasons)?,
    };
    let mut args = Vec::new();
    match tool {
        Tool::Gradle => {
            args.push("--console=plain".to_owned());
            if request.offline {
                args.push("--offline".to_owned());
            }
            if request.in_ci {
                args.push("--no-daemon".to_owned());
            }
            args.extend(goals);
            if request.skip_tests {
                args.extend(["-x".to_owned(), "test".to_owned()]);
            }
        }
        Tool::Maven => {
            args.push("--batch-mode".to_owned());
            if request.offline {
                args.push("--offline".to_owned());
            }
            if request.skip_tests {
                args.push("-DskipTests".to_owned());
            }
            args.extend(goals);
        }
    }
    args.extend(request.build_args.iter().cloned());
    let output_dir = match (tool, kind) {
        (Tool::Maven, _) => dir.join("target"),
        (Tool::Gradle, ArtifactKind::Dist) => dir.join("build").join("install"),
        (Tool::Gradle, ArtifactKind::Native) => dir.join("build").join("native").join("nativeCompile"),
        (Tool::Gradle, _) => dir.join("build").join("libs"),
    };
    Ok(BuildPlan { project_dir: dir.clone(), tool, program, through_shell, args, kind, output_dir, reasons })
}

fn choose_tool(
    choice: ToolChoice,
    files: &BuildFiles,
    dir: &Path,
    reasons: &mut Vec<String>,
) -> Result<Tool, StepError> {
    match choice {
        ToolChoice::Gradle if files.gradle.is_none() => Err(StepError::usage(format!(
            "--tool gradle, but {} has no build.gradle or build.gradle.kts",
            dir.display()
        ))),
        ToolChoice::Maven if files.maven.is_none() => {
            Err(StepError::usage(format!("--tool maven, but {} has no pom.xml", dir.display())))
        }
        ToolChoice::Gradle => Ok(Tool::Gradle),
        ToolChoice::Maven => Ok(Tool::Maven),
        ToolChoice::Auto => match (&files.gradle, &files.maven) {
            (None, None) => Err(StepError::usage(format!(
                "{} has no build file (build.gradle, build.gradle.kts or pom.xml); point --project-dir at the project root",
                dir.display()
            ))),
            (Some(_), None) => Ok(Tool::Gradle),
            (None, Some(_)) => Ok(Tool::Maven),
            (Some(_), Some(_)) => {
                // Both builds exist: a wrapper shows which one the project really uses.
                let tool = if files.gradle_wrapper.is_some() && files.maven_wrapper.is_none() {
                    Tool::Gradle
                } else {
                    Tool::Maven
                };
                let other = if tool == Tool::Maven { "gradle" } else { "maven" };
                reasons.push(format!(
                    "both Gradle and Maven build files found; using {} (pass --tool {other} for the other)",
                    tool.as_str()
                ));
                Ok(tool)
            }
        },
    }
}

/// The wrapper when the project has one, else the system tool.
fn locate(
    wrapper: Option<&Path>,
    system: &str,
    wrapper_name: &str,
    find_on_path: PathLookup<'_>,
) -> Result<(PathBuf, bool), StepError> {
    if let Some(wrapper) = wrapper {
        return Ok((wrapper.to_owned(), true));
    }
    find_on_path(system).map(|path| (path, false)).ok_or_else(|| {
        StepError::usage(format!(
            "the project has no {wrapper_name} and `{system}` is not on PATH; install {system} or add the wrapper"
        ))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

fn read_build_file(path: Option<&Path>) -> Result<String, StepError> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    std::fs::read_to_string(path).map_err(|e| StepError::usage(format!("cannot read {}: {e}", path.display())))
}

fn custom_task(request: &BuildRequest, kind: ArtifactKind) -> Option<(ArtifactKind, Vec<String>)> {
    request.task.as_ref().map(|task| (kind, task.split_whitespace().map(str::to_owned).collect()))
}

fn gradle_goals(
    request: &BuildRequest,
    files: &BuildFiles,
    reasons: &mut Vec<String>,
) -> Result<(ArtifactKind, Vec<String>), StepError> {
    let features = GradleFeatures::read(&read_build_file(files.gradle.as_deref())?);
    let fat_jar_task = if features.ktor {
        Some(("buildFatJar", "the Ktor plugin"))
    } else if features.shadow {
        Some(("shadowJar", "the Shadow plugin"))
    } else if features.spring_boot && !features.war {
        Some(("bootJar", "the Spring Boot plugin"))
    } else {
        None
    };
    let war_task = if features.spring_boot { "bootWar" } else { "war" };
    let kind = match request.packaging {
        PackagingChoice::FatJar => ArtifactKind::FatJar,
        PackagingChoice::Dist => ArtifactKind::Dist,
        PackagingChoice::War => ArtifactKind::War,
        PackagingChoice::Native => ArtifactKind::Native,
        // GraalVM's plugin is applied beside a fat-jar one (Ktor's guide does): the build
        // was set up to make a native executable, which is the one to ship.
        PackagingChoice::Auto if features.native => ArtifactKind::Native,
        PackagingChoice::Auto if fat_jar_task.is_some() => ArtifactKind::FatJar,
        PackagingChoice::Auto if features.war => ArtifactKind::War,
        PackagingChoice::Auto if features.application => ArtifactKind::Dist,
        PackagingChoice::Auto if request.task.is_some() => {
            return Err(StepError::usage(
                "--task is set but the build file applies no packaging plugin; say which artifact it makes with --packaging",
            ));
        }
        PackagingChoice::Auto => {
            return Err(StepError::usage(
                "the Gradle build applies no plugin that makes a runnable artifact (Ktor, Shadow, Spring Boot, application, war or GraalVM's org.graalvm.buildtools.native); apply one, or name the task with --task and --packaging",
            ));
        }
    };
    if let Some(custom) = custom_task(request, kind) {
        return Ok(custom);
    }
    let task = match kind {
        ArtifactKind::FatJar => {
            let (task, why) = fat_jar_task.ok_or_else(|| {
                StepError::usage(
                    "--packaging fat-jar, but the Gradle build applies no fat-jar plugin (Ktor, Shadow, Spring Boot); apply one or name the task with --task",
                )
            })?;
            reasons.push(format!("fat JAR through `{task}` from {why}"));
            task
        }
        ArtifactKind::Dist => {
            if !features.application && !features.ktor {
                return Err(StepError::usage(
                    "--packaging dist needs Gradle's application plugin (installDist); apply it or name the task with --task",
                ));
            }
            reasons.push("JVM distribution through `installDist` from the application plugin".to_owned());
            "installDist"
        }
        ArtifactKind::War => {
            if !features.war {
                return Err(StepError::usage(
                    "--packaging war needs Gradle's war plugin; apply it or name the task with --task",
                ));
            }
            reasons.push(format!("WAR through `{war_task}`"));
            war_task
        }
        ArtifactKind::Native => {
            if !features.native {
                return Err(StepError::usage(
                    "--packaging native needs GraalVM's Gradle plugin org.graalvm.buildtools.native (nativeCompile); apply it or name the task with --task",
                ));
            }
            reasons.push(
                "native executable through `nativeCompile` from GraalVM's org.graalvm.buildtools.native plugin"
                    .to_owned(),
            );
            "nativeCompile"
        }
    };
    Ok((kind, vec![task.to_owned()]))
}

fn maven_goals(
    request: &BuildRequest,
    files: &BuildFiles,
    reasons: &mut Vec<String>,
) -> Result<(ArtifactKind, Vec<String>), StepError> {
    let features = MavenFeatures::read(&read_build_file(files.maven.as_deref())?).map_err(StepError::usage)?;
    let is_war = features.packaging == "war";
    let kind = match request.packaging {
        PackagingChoice::Dist => {
            return Err(StepError::usage(
                "--packaging dist is Gradle's installDist; a Maven build makes a fat-jar, a war or a native executable",
            ));
        }
        PackagingChoice::War => ArtifactKind::War,
        PackagingChoice::FatJar => ArtifactKind::FatJar,
        PackagingChoice::Native => ArtifactKind::Native,
        PackagingChoice::Auto if is_war => ArtifactKind::War,
        // native-maven-plugin in the main build: `package` makes the executable. Only in a
        // profile: the plain build makes something else, unless it makes nothing runnable.
        PackagingChoice::Auto
            if features.native.as_ref().is_some_and(|n| n.profile.is_none() || !features.builds_fat_jar()) =>
        {
            ArtifactKind::Native
        }
        PackagingChoice::Auto => ArtifactKind::FatJar,
    };
    if let Some(custom) = custom_task(request, kind) {
        return Ok(custom);
    }
    if kind == ArtifactKind::Native {
        let native = features.native.as_ref().ok_or_else(|| {
            StepError::usage(
                "--packaging native needs GraalVM's native-maven-plugin (org.graalvm.buildtools) in pom.xml, in the build or a profile; add it or name the goals with --task",
            )
        })?;
        let mut goals = Vec::new();
        if let Some(profile) = &native.profile {
            goals.push(format!("-P{profile}"));
        }
        // Bound (the plugin's documented `compile-no-fork` execution): `package` runs it;
        // otherwise its `compile` goal, which runs `package` first by itself.
        goals.push(if native.bound { "package" } else { "native:compile" }.to_owned());
        reasons.push(format!(
            "native executable through `{}` with native-maven-plugin{}",
            goals.join(" "),
            native.profile.as_ref().map(|p| format!(" (profile {p})")).unwrap_or_default()
        ));
        return Ok((kind, goals));
    }
    if kind == ArtifactKind::War && !is_war {
        return Err(StepError::usage(format!(
            "--packaging war, but pom.xml has <packaging>{}</packaging>; set <packaging>war</packaging>",
            features.packaging
        )));
    }
    if kind == ArtifactKind::FatJar && !features.builds_fat_jar() {
        return Err(StepError::usage(
            "pom.xml builds a plain jar without its dependencies; add maven-shade-plugin, the assembly plugin's jar-with-dependencies or spring-boot-maven-plugin, or name the goals with --task",
        ));
    }
    let mut goals = vec!["package".to_owned()];
    if kind == ArtifactKind::War {
        reasons.push("WAR through `package` (<packaging>war</packaging>)".to_owned());
    } else if features.shade {
        reasons.push("fat JAR through `package` with maven-shade-plugin".to_owned());
    } else if features.spring_boot {
        reasons.push("fat JAR through `package` with spring-boot-maven-plugin's repackage".to_owned());
    } else {
        if !features.assembly_bound {
            goals.push("assembly:single".to_owned());
        }
        reasons.push("fat JAR through the assembly plugin's jar-with-dependencies".to_owned());
    }
    Ok((kind, goals))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHADE_POM: &str = "<project><build><plugins><plugin><artifactId>maven-shade-plugin</artifactId></plugin></plugins></build></project>";

    fn request(dir: &Path) -> BuildRequest {
        BuildRequest {
            project_dir: dir.to_owned(),
            tool: ToolChoice::Auto,
            packaging: PackagingChoice::Auto,
            task: None,
            skip_tests: false,
            offline: false,
            build_args: Vec::new(),
            in_ci: false,
        }
    }

    fn on_path(name: &str) -> Option<PathBuf> {
        Some(PathBuf::from(format!("/usr/bin/{name}")))
    }

    fn nothing_on_path(_: &str) -> Option<PathBuf> {
        None
    }

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn maven_shade_project_plans_package() {
        let dir = project(&[("pom.xml", SHADE_POM)]);
        let mut req = request(dir.path());
        req.offline = true;
        req.skip_tests = true;
        req.build_args = vec!["-Dmaven.repo.local=/usr/share/maven-repo".into()];
        let plan = plan(&req, &on_path).unwrap();
        assert_eq!(plan.tool, Tool::Maven);
        assert_eq!(plan.kind, ArtifactKind::FatJar);
        assert_eq!(
            plan.command_line(),
            "/usr/bin/mvn --batch-mode --offline -DskipTests package -Dmaven.repo.local=/usr/share/maven-repo"
        );
        assert_eq!(plan.output_dir, dir.path().join("target"));
    }

    #[test]
    fn gradle_wrapper_beats_system_gradle() {
        let dir = project(&[("build.gradle", "plugins { id 'application' }"), ("gradlew", "#!/bin/sh\n")]);
        let mut req = request(dir.path());
        req.skip_tests = true;
        req.in_ci = true;
        let plan = plan(&req, &on_path).unwrap();
        assert_eq!(plan.kind, ArtifactKind::Dist);
        assert!(plan.through_shell, "a wrapper without the executable bit runs through sh");
        assert_eq!(plan.command_line(), "./gradlew --console=plain --no-daemon installDist -x test");
        assert_eq!(plan.output_dir, dir.path().join("build/install"));
    }

    #[test]
    fn ktor_plugin_builds_fat_jar() {
        let dir =
            project(&[("build.gradle.kts", "plugins { application\n id(\"io.ktor.plugin\") version \"3.0.1\" }")]);
        let plan = plan(&request(dir.path()), &on_path).unwrap();
        assert_eq!((plan.kind, plan.args.last().unwrap().as_str()), (ArtifactKind::FatJar, "buildFatJar"));
        let mut dist = request(dir.path());
        dist.packaging = PackagingChoice::Dist;
        assert_eq!(plan_args(&dist), "--console=plain installDist");
    }

    fn plan_args(req: &BuildRequest) -> String {
        plan(req, &on_path).unwrap().args.join(" ")
    }

    #[test]
    fn spring_boot_war_and_task_override() {
        let dir = project(&[("build.gradle", "plugins { id 'org.springframework.boot' version '3.3.0'\n id 'war' }")]);
        assert_eq!(plan_args(&request(dir.path())), "--console=plain bootWar");
        let mut custom = request(dir.path());
        custom.task = Some("clean assemble".into());
        assert_eq!(plan_args(&custom), "--console=plain clean assemble");
    }

    #[test]
    fn both_build_files_prefer_maven_unless_only_gradlew() {
        let dir = project(&[("pom.xml", SHADE_POM), ("build.gradle", "apply plugin: 'application'")]);
        let plan_both = plan(&request(dir.path()), &on_path).unwrap();
        assert_eq!(plan_both.tool, Tool::Maven);
        assert!(plan_both.reasons[0].contains("--tool gradle"));
        std::fs::write(dir.path().join("gradlew"), "").unwrap();
        assert_eq!(plan(&request(dir.path()), &on_path).unwrap().tool, Tool::Gradle);
        let mut forced = request(dir.path());
        forced.tool = ToolChoice::Maven;
        assert_eq!(plan(&forced, &on_path).unwrap().tool, Tool::Maven);
    }

    #[test]
    fn assembly_without_execution_adds_single_goal() {
        let pom = "<project><build><plugins><plugin><artifactId>maven-assembly-plugin</artifactId><configuration><descriptorRefs><descriptorRef>jar-with-dependencies</descriptorRef></descriptorRefs></configuration></plugin></plugins></build></project>";
        let dir = project(&[("pom.xml", pom)]);
        assert_eq!(plan_args(&request(dir.path())), "--batch-mode package assembly:single");
    }

    fn usage_message(result: Result<BuildPlan, StepError>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.exit_code(), 2, "{}", error.message);
        error.message
    }

    #[test]
    fn bad_inputs_are_usage_errors() {
        let missing = request(Path::new("/nonexistent/slipway/project"));
        assert!(usage_message(plan(&missing, &on_path)).contains("does not exist"));

        let empty = project(&[]);
        assert!(usage_message(plan(&request(empty.path()), &on_path)).contains("has no build file"));

        let plain = project(&[("pom.xml", "<project/>")]);
        assert!(usage_message(plan(&request(plain.path()), &on_path)).contains("plain jar"));

        let maven = project(&[("pom.xml", SHADE_POM)]);
        assert!(usage_message(plan(&request(maven.path()), &nothing_on_path)).contains("`mvn` is not on PATH"));
        let mut dist = request(maven.path());
        dist.packaging = PackagingChoice::Dist;
        assert!(usage_message(plan(&dist, &on_path)).contains("Gradle's installDist"));
        let mut gradle = request(maven.path());
        gradle.tool = ToolChoice::Gradle;
        assert!(usage_message(plan(&gradle, &on_path)).contains("no build.gradle"));

        let java_only = project(&[("build.gradle", "apply plugin: 'java'")]);
        assert!(usage_message(plan(&request(java_only.path()), &on_path)).contains("no plugin that makes"));
        let mut fat = request(java_only.path());
        fat.packaging = PackagingChoice::FatJar;
        assert!(usage_message(plan(&fat, &on_path)).contains("no fat-jar plugin"));
    }

    const NATIVE_PROFILE_POM: &str = "<project><profiles><profile><id>native</id><build><plugins><plugin><groupId>org.graalvm.buildtools</groupId><artifactId>native-maven-plugin</artifactId><executions><execution><goals><goal>compile-no-fork</goal></goals><phase>package</phase></execution></executions></plugin></plugins></build></profile></profiles></project>";

    #[test]
    fn graalvm_plugins_build_native_executables() {
        let gradle = project(&[(
            "build.gradle.kts",
            "plugins { id(\"io.ktor.plugin\") version \"3.1.1\"\n id(\"org.graalvm.buildtools.native\") version \"0.10.6\" }",
        )]);
        let native = plan(&request(gradle.path()), &on_path).unwrap();
        assert_eq!(native.kind, ArtifactKind::Native, "auto: GraalVM's plugin beside Ktor's");
        assert_eq!(native.args.join(" "), "--console=plain nativeCompile");
        assert_eq!(native.output_dir, gradle.path().join("build/native/nativeCompile"));
        let mut fat = request(gradle.path());
        fat.packaging = PackagingChoice::FatJar;
        assert_eq!(plan_args(&fat), "--console=plain buildFatJar");

        let maven = project(&[("pom.xml", NATIVE_PROFILE_POM)]);
        let native = plan(&request(maven.path()), &on_path).unwrap();
        assert_eq!(
            (native.kind, native.args.join(" ")),
            (ArtifactKind::Native, "--batch-mode -Pnative package".into())
        );
        assert_eq!(native.output_dir, maven.path().join("target"));

        // Unbound in the main build: the plugin's compile goal. In a profile of a shade build:
        // auto keeps the fat JAR, --packaging native activates the profile.
        let unbound = project(&[(
            "pom.xml",
            "<project><build><plugins><plugin><artifactId>native-maven-plugin</artifactId></plugin></plugins></build></project>",
        )]);
        assert_eq!(plan_args(&request(unbound.path())), "--batch-mode native:compile");
        let both = NATIVE_PROFILE_POM.replace(
            "<profiles>",
            "<build><plugins><plugin><artifactId>maven-shade-plugin</artifactId></plugin></plugins></build><profiles>",
        );
        let shade = project(&[("pom.xml", both.as_str())]);
        assert_eq!(plan(&request(shade.path()), &on_path).unwrap().kind, ArtifactKind::FatJar);
        let mut wanted = request(shade.path());
        wanted.packaging = PackagingChoice::Native;
        wanted.offline = true;
        assert_eq!(plan_args(&wanted), "--batch-mode --offline -Pnative package");
    }

    #[test]
    fn packaging_native_needs_graalvms_plugin() {
        let gradle = project(&[("build.gradle", "apply plugin: 'application'")]);
        let mut req = request(gradle.path());
        req.packaging = PackagingChoice::Native;
        assert!(usage_message(plan(&req, &on_path)).contains("org.graalvm.buildtools.native"));
        let maven = project(&[("pom.xml", SHADE_POM)]);
        let mut req = request(maven.path());
        req.packaging = PackagingChoice::Native;
        assert!(usage_message(plan(&req, &on_path)).contains("native-maven-plugin"));
    }
}
