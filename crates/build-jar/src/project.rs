//! Reads a project's build files: which tool builds it, and which packaging plugins
//! it applies. Nothing here runs the build.

use std::path::{Path, PathBuf};

use regex::Regex;

/// The build tools build-jar drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Maven,
    Gradle,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maven => "maven",
            Self::Gradle => "gradle",
        }
    }
}

/// The build files found in a project directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFiles {
    pub gradle: Option<PathBuf>,
    pub gradle_wrapper: Option<PathBuf>,
    pub maven: Option<PathBuf>,
    pub maven_wrapper: Option<PathBuf>,
}

impl BuildFiles {
    pub fn scan(dir: &Path) -> Self {
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Self {
            gradle: existing("build.gradle.kts").or_else(|| existing("build.gradle")),
            gradle_wrapper: existing("gradlew"),
            maven: existing("pom.xml"),
            maven_wrapper: existing("mvnw"),
        }
    }
}

/// What a Gradle build script applies, read from its text with comments removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GradleFeatures {
    pub ktor: bool,
    pub shadow: bool,
    pub spring_boot: bool,
    pub war: bool,
    pub application: bool,
    /// GraalVM's `org.graalvm.buildtools.native` plugin (`nativeCompile`).
    pub native: bool,
}

fn strip_comments(text: &str, line_comment: &str) -> String {
    let block = Regex::new(r"(?s)/\*.*?\*/").map(|re| re.replace_all(text, "").into_owned());
    let text = block.unwrap_or_else(|_| text.to_owned());
    text.lines()
        .map(|line| match line.find(line_comment) {
            // `https://` in a repository URL is not a comment.
            Some(at) if !line[..at].ends_with(':') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

/// A core plugin applied by id in any of Gradle's spellings:
/// `apply plugin: 'war'`, `id 'war'`, `id("war")`, or Kotlin's bare `war` in `plugins {}`.
fn core_plugin(name: &str, text: &str) -> bool {
    let quoted = format!(r#"['"]{name}['"]"#);
    matches(&format!(r"apply\s+plugin\s*:\s*{quoted}"), text)
        || matches(&format!(r"\bid\s*\(?\s*{quoted}"), text)
        || matches(&format!(r"(?m)^\s*`?{name}`?\s*$"), text)
}

impl GradleFeatures {
    pub fn read(script: &str) -> Self {
        let text = strip_comments(script, "//");
        Self {
            ktor: text.contains("io.ktor.plugin"),
            shadow: ["com.github.johnrengelman.shadow", "com.gradleup.shadow", "io.github.goooler.shadow"]
                .iter()
                .any(|id| text.contains(id)),
            spring_boot: text.contains("org.springframework.boot"),
            war: core_plugin("war", &text),
            application: core_plugin("application", &text),
            native: text.contains("org.graalvm.buildtools.native"),
        }
    }
}

/// What a `pom.xml` declares about packaging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MavenFeatures {
    pub packaging: String,
    pub shade: bool,
    pub spring_boot: bool,
    /// The assembly plugin with the `jar-with-dependencies` descriptor.
    pub assembly_fat_jar: bool,
    /// Whether that assembly runs by itself in `package` (has an execution).
    pub assembly_bound: bool,
    /// GraalVM's `native-maven-plugin`, where the pom declares it.
    pub native: Option<MavenNative>,
}

/// Where a pom declares GraalVM's `native-maven-plugin`, and whether `package` runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MavenNative {
    /// The profile that declares it (`native`, activated with `-Pnative`); `None` for the
    /// main build's plugins.
    pub profile: Option<String>,
    /// It has an execution (`compile-no-fork` bound to `package`): `package` builds the
    /// executable; otherwise the `native:compile` goal does.
    pub bound: bool,
}

/// The first child element of `node` named `name` (in any namespace).
fn child<'a, 'input>(node: roxmltree::Node<'a, 'input>, name: &str) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

impl MavenFeatures {
    pub fn read(pom: &str) -> Result<Self, String> {
        let document = roxmltree::Document::parse(pom).map_err(|e| format!("pom.xml is not valid XML: {e}"))?;
        let project = document.root_element();
        let packaging = child(project, "packaging").and_then(|n| n.text()).unwrap_or("jar").trim().to_owned();
        let mut features = Self { packaging, ..Self::default() };
        features.native = native_plugin(project).map(|bound| MavenNative { profile: None, bound });
        if features.native.is_none() {
            let profiles = child(project, "profiles").into_iter().flat_map(|p| p.children());
            for profile in profiles.filter(|p| p.is_element() && p.tag_name().name() == "profile") {
                if let Some(bound) = native_plugin(profile) {
                    let id = child(profile, "id").and_then(|n| n.text()).unwrap_or("native").trim().to_owned();
                    features.native = Some(MavenNative { profile: Some(id), bound });
                    break;
                }
            }
        }
        let plugins = child(project, "build").and_then(|build| child(build, "plugins"));
        for plugin in
            plugins.iter().flat_map(|p| p.children()).filter(|c| c.is_element() && c.tag_name().name() == "plugin")
        {
            let artifact = child(plugin, "artifactId").and_then(|n| n.text()).unwrap_or("").trim();
            match artifact {
                "maven-shade-plugin" => features.shade = true,
                "spring-boot-maven-plugin" => features.spring_boot = true,
                "maven-assembly-plugin" => {
                    let descriptor = plugin.descendants().any(|n| {
                        n.tag_name().name() == "descriptorRef"
                            && n.text().map(str::trim) == Some("jar-with-dependencies")
                    });
                    features.assembly_fat_jar |= descriptor;
                    features.assembly_bound |= child(plugin, "executions").is_some();
                }
                _ => {}
            }
        }
        Ok(features)
    }

    pub fn builds_fat_jar(&self) -> bool {
        self.shade || self.spring_boot || self.assembly_fat_jar
    }
}

/// The project's version as its build declares it, for an artifact that carries none (a
/// native executable has no manifest): Maven's `<version>` (else its parent's); Gradle's
/// `version = "…"` in the build script, else `version=` in gradle.properties. `None` when it
/// is computed (`${…}`, a function call) or absent.
pub fn declared_version(tool: Tool, dir: &Path, files: &BuildFiles) -> Option<String> {
    let literal = |text: &str| Some(text.trim().to_owned()).filter(|v| !v.is_empty() && !v.contains("${"));
    match tool {
        Tool::Maven => {
            let text = std::fs::read_to_string(files.maven.as_deref()?).ok()?;
            let document = roxmltree::Document::parse(&text).ok()?;
            let project = document.root_element();
            let version =
                child(project, "version").or_else(|| child(project, "parent").and_then(|p| child(p, "version")));
            version.and_then(|n| n.text()).and_then(literal)
        }
        Tool::Gradle => {
            let script = strip_comments(&std::fs::read_to_string(files.gradle.as_deref()?).ok()?, "//");
            let pattern = Regex::new(r#"(?m)^\s*version\s*(?:=\s*)?["']([^"'$]+)["']\s*$"#).ok()?;
            if let Some(found) = pattern.captures(&script).and_then(|c| c.get(1)) {
                return literal(found.as_str());
            }
            let properties = std::fs::read_to_string(dir.join("gradle.properties")).ok()?;
            properties
                .lines()
                .find_map(|line| line.trim().strip_prefix("version")?.trim_start().strip_prefix('='))
                .and_then(literal)
        }
    }
}

/// GraalVM's `native-maven-plugin` among `<build><plugins>` of a project or a profile:
/// whether it has an execution.
fn native_plugin(node: roxmltree::Node<'_, '_>) -> Option<bool> {
    let plugins = child(node, "build").and_then(|build| child(build, "plugins"))?;
    plugins
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "plugin")
        .find(|plugin| {
            child(*plugin, "artifactId").and_then(|n| n.text()).map(str::trim) == Some("native-maven-plugin")
        })
        .map(|plugin| child(plugin, "executions").is_some_and(|e| e.children().any(|c| c.is_element())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradle_groovy_application() {
        let features = GradleFeatures::read(
            "// apply plugin: 'war'\napply plugin: 'java'\napply plugin: 'application'\nrepositories { maven { url 'https://repo' } }\n",
        );
        assert_eq!(features, GradleFeatures { application: true, ..GradleFeatures::default() });
    }

    #[test]
    fn gradle_kotlin_plugins_block() {
        let features = GradleFeatures::read(
            "plugins {\n    application\n    war\n    kotlin(\"jvm\") version \"2.0.0\"\n    id(\"io.ktor.plugin\") version \"3.0.0\"\n}\napplication {\n    mainClass.set(\"x.AppKt\")\n}\n",
        );
        assert!(features.ktor && features.application && features.war);
        assert!(!features.shadow && !features.spring_boot);
    }

    #[test]
    fn gradle_shadow_and_spring_ids() {
        assert!(GradleFeatures::read("plugins { id 'com.gradleup.shadow' version '8.3.0' }").shadow);
        assert!(GradleFeatures::read("plugins { id(\"org.springframework.boot\") version \"3.3.0\" }").spring_boot);
        assert!(!GradleFeatures::read("/* id 'org.springframework.boot' */").spring_boot);
    }

    #[test]
    fn maven_shade_and_packaging() {
        let pom = r"<project><packaging>jar</packaging><build><pluginManagement><plugins><plugin><artifactId>spring-boot-maven-plugin</artifactId></plugin></plugins></pluginManagement><plugins><plugin><artifactId>maven-shade-plugin</artifactId></plugin></plugins></build></project>";
        let features = MavenFeatures::read(pom).unwrap();
        assert!(features.shade && !features.spring_boot, "pluginManagement alone applies nothing");
        assert_eq!(features.packaging, "jar");
    }

    #[test]
    fn maven_assembly_with_and_without_execution() {
        let unbound = r"<project xmlns='http://maven.apache.org/POM/4.0.0'><build><plugins><plugin><artifactId>maven-assembly-plugin</artifactId><configuration><descriptorRefs><descriptorRef>jar-with-dependencies</descriptorRef></descriptorRefs></configuration></plugin></plugins></build></project>";
        let features = MavenFeatures::read(unbound).unwrap();
        assert!(features.assembly_fat_jar && !features.assembly_bound && features.builds_fat_jar());
        let war = MavenFeatures::read("<project><packaging> war </packaging></project>").unwrap();
        assert_eq!(war.packaging, "war");
        assert!(!war.builds_fat_jar());
        assert!(MavenFeatures::read("<project>").unwrap_err().contains("not valid XML"));
    }

    #[test]
    fn versions_declared_by_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        let version = |tool| declared_version(tool, dir.path(), &BuildFiles::scan(dir.path()));
        write("build.gradle.kts", "plugins { application }\n// version = \"0.1\"\nversion = \"1.2.3\"\n");
        assert_eq!(version(Tool::Gradle).as_deref(), Some("1.2.3"));
        write("build.gradle.kts", "version = project.findProperty(\"v\")!!\n");
        assert_eq!(version(Tool::Gradle), None, "computed");
        write("gradle.properties", "org.gradle.jvmargs=-Xmx1g\nversion = 2.0.0\n");
        assert_eq!(version(Tool::Gradle).as_deref(), Some("2.0.0"));
        write("pom.xml", "<project><parent><version>3.0</version></parent><artifactId>a</artifactId></project>");
        assert_eq!(version(Tool::Maven).as_deref(), Some("3.0"));
        write("pom.xml", "<project><version>${revision}</version></project>");
        assert_eq!(version(Tool::Maven), None);
    }

    #[test]
    fn graalvm_native_plugins() {
        let kotlin = "plugins {\n    id(\"io.ktor.plugin\") version \"3.1.1\"\n    id(\"org.graalvm.buildtools.native\") version \"0.10.6\"\n}";
        assert!(GradleFeatures::read(kotlin).native && GradleFeatures::read(kotlin).ktor);
        assert!(!GradleFeatures::read("// id 'org.graalvm.buildtools.native'\napply plugin: 'java'").native);

        let plugin = |executions: &str| {
            format!(
                "<plugin><groupId>org.graalvm.buildtools</groupId><artifactId>native-maven-plugin</artifactId>{executions}</plugin>"
            )
        };
        let bound = plugin(
            "<executions><execution><goals><goal>compile-no-fork</goal></goals><phase>package</phase></execution></executions>",
        );
        let main =
            MavenFeatures::read(&format!("<project><build><plugins>{bound}</plugins></build></project>")).unwrap();
        assert_eq!(main.native, Some(MavenNative { profile: None, bound: true }));
        let in_profile = MavenFeatures::read(&format!(
            "<project><profiles><profile><id>graal</id><build><plugins>{}</plugins></build></profile></profiles></project>",
            plugin("")
        ))
        .unwrap();
        assert_eq!(in_profile.native, Some(MavenNative { profile: Some("graal".into()), bound: false }));
        assert_eq!(MavenFeatures::read("<project/>").unwrap().native, None);
    }
}
