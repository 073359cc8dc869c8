//! containerize's SBOM judged by others: CycloneDX's own schema validator (PyPI
//! cyclonedx-python-lib), the dependency list Maven itself reports (`mvn dependency:list`,
//! offline), and byte-for-byte reproducibility. The WAR's SBOM and its push as an OCI
//! referrer are in tests/war.rs. Runs the binaries `cargo build --workspace` made; skips
//! without them or their prerequisites unless SLIPWAY_REQUIRE_E2E=1.

#![allow(clippy::unwrap_used)] // Tests panic on broken fixtures, as tests do.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use slipway_testkit::{
    DEBIAN_MAVEN_REPO, StepRun, build_sample_dist, build_sample_fat_jar, copy_project, cyclonedx_validator_ready,
    gradle_ready, maven_ready, maven_runtime_purls, prerequisite, run_with_sinks, sample_app_dir, step_command,
    test_registry, validate_cyclonedx_1_6, workspace_binary,
};

/// The `SOURCE_DATE_EPOCH` both runs share: 2024-01-01T00:00:00Z.
const EPOCH: &str = "1704067200";

fn containerize_ready() -> bool {
    prerequisite("the containerize binary (cargo build --workspace)", workspace_binary("containerize").is_some())
}

/// containerize `artifact` onto the test JRE into `out`, with a fixed SOURCE_DATE_EPOCH.
fn containerize(artifact: &Path, base: &str, out: &Path) -> StepRun {
    let mut command = step_command(workspace_binary("containerize").unwrap().to_str().unwrap());
    command
        .arg("--artifact")
        .arg(artifact)
        .args(["--base", base, "--image", "slipway-test/sbom:1"])
        .arg("--output")
        .arg(out.join("layout"))
        .env("SOURCE_DATE_EPOCH", EPOCH);
    std::fs::create_dir_all(out).unwrap();
    let run = run_with_sinks(command, out);
    assert_eq!(run.code, 0, "containerize: {}", run.stderr);
    run
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

fn components<'a>(sbom: &'a Value, kind: &str) -> Vec<&'a Value> {
    sbom["components"].as_array().unwrap().iter().filter(|c| c["type"] == kind).collect()
}

fn purls(components: &[&Value]) -> Vec<String> {
    let mut purls: Vec<String> = components.iter().map(|c| c["purl"].as_str().unwrap().to_owned()).collect();
    purls.sort();
    purls
}

fn sha256_hash(component: &Value) -> Option<&str> {
    component["hashes"].as_array()?.iter().find(|h| h["alg"] == "SHA-256")?["content"].as_str()
}

/// The SBOM a run wrote, checked against CycloneDX 1.6's schema.
fn valid_sbom(run: &StepRun) -> (PathBuf, Value) {
    let path = PathBuf::from(run.output("sbom").unwrap());
    assert!(path.ends_with("layout/sbom.cdx.json"), "{}", path.display());
    validate_cyclonedx_1_6(&path)
        .unwrap_or_else(|error| panic!("CycloneDX's validator refused {}: {error}", path.display()));
    let sbom: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, sbom)
}

#[test]
fn the_fat_jars_sbom_is_valid_reproducible_and_lists_what_maven_resolved() {
    if !(containerize_ready() && maven_ready() && cyclonedx_validator_ready()) {
        return;
    }
    let Some(registry) = test_registry() else { return };
    let base = format!("{registry}/slipway/jre:17");
    let work = tempfile::tempdir().unwrap();
    let jar = build_sample_fat_jar(work.path());
    let first = containerize(&jar, &base, &work.path().join("first"));
    let second = containerize(&jar, &base, &work.path().join("second"));
    let (first_path, sbom) = valid_sbom(&first);
    let (second_path, _) = valid_sbom(&second);
    assert_eq!(std::fs::read(&first_path).unwrap(), std::fs::read(&second_path).unwrap(), "byte-identical");

    assert_eq!(sbom["specVersion"], "1.6");
    assert_eq!(sbom["metadata"]["timestamp"], "2024-01-01T00:00:00Z", "from SOURCE_DATE_EPOCH");
    assert_eq!(sbom["metadata"]["component"]["type"], "container");

    // The app itself, hashed whole, and where it lies in the image.
    let app = components(&sbom, "application");
    assert_eq!(app.len(), 1, "{sbom}");
    assert_eq!(app[0]["purl"], "pkg:maven/dev.slipway/sample-app@1.0.0");
    assert_eq!(sha256_hash(app[0]), Some(sha256_of(&jar).as_str()));
    assert_eq!(app[0]["evidence"]["occurrences"][0]["location"], "/app/sample-app-1.0.0.jar");

    // What Maven resolved for it, found in the shaded jar's embedded pom.properties; no
    // hash, as the original jars are not in the image.
    let project = jar.parent().unwrap().parent().unwrap();
    let libraries = components(&sbom, "library");
    assert_eq!(purls(&libraries), maven_runtime_purls(project), "{sbom}");
    for library in &libraries {
        assert_eq!(sha256_hash(library), None, "{library}");
        let location = library["evidence"]["occurrences"][0]["location"].as_str().unwrap();
        assert!(location.starts_with("/app/sample-app-1.0.0.jar!/META-INF/maven/"), "{location}");
    }

    // The base, by the digest containerize resolved.
    let base_digest = first.output("base-digest").unwrap();
    let base_component = components(&sbom, "container");
    assert_eq!(base_component.len(), 1);
    assert_eq!(base_component[0]["version"], base_digest);
    let purl = base_component[0]["purl"].as_str().unwrap();
    assert!(purl.starts_with(&format!("pkg:oci/jre@{}", base_digest.replace(':', "%3A"))), "{purl}");
    assert!(purl.ends_with(&format!("?repository_url={}/slipway/jre", registry.replace(':', "%3A"))), "{purl}");
}

#[test]
fn a_shade_jar_with_a_transitive_dependency_lists_what_maven_resolved() {
    if !(containerize_ready() && maven_ready() && cyclonedx_validator_ready()) {
        return;
    }
    let Some(registry) = test_registry() else { return };
    let repo = Path::new(DEBIAN_MAVEN_REPO);
    let available = repo.join("org/apache/commons/commons-text/1.10.0").is_dir()
        && repo.join("org/apache/commons/commons-lang3/3.12.0").is_dir();
    if !prerequisite(
        "commons-text 1.10.0 and commons-lang3 3.12.0 in Debian's Maven repository (libcommons-text-java)",
        available,
    ) {
        return;
    }
    // The sample app plus commons-text, which brings commons-lang3 along. Debian's pom of
    // commons-text names lang3's version `debian`: managed to the version its jar records.
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shaded");
    copy_project(&sample_app_dir(), &project);
    let pom_path = project.join("pom.xml");
    let pom = std::fs::read_to_string(&pom_path).unwrap();
    let extra = "<dependencies>
    <dependency>
      <groupId>org.apache.commons</groupId>
      <artifactId>commons-text</artifactId>
      <version>1.10.0</version>
    </dependency>";
    let managed = "<dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.commons</groupId>
        <artifactId>commons-lang3</artifactId>
        <version>3.12.0</version>
      </dependency>
    </dependencies>
  </dependencyManagement>

  <dependencies>";
    assert!(pom.contains("\n  <dependencies>"), "the sample's pom has a dependencies section");
    let pom = pom.replacen("\n  <dependencies>", &format!("\n  {managed}"), 1).replacen(
        "<dependencies>\n    <dependency>\n      <groupId>com.google",
        &format!("{extra}\n    <dependency>\n      <groupId>com.google"),
        1,
    );
    std::fs::write(&pom_path, pom).unwrap();
    let built = Command::new("mvn")
        .args(["--batch-mode", "--quiet", "--offline", "-DskipTests", "package"])
        .arg(format!("-Dmaven.repo.local={DEBIAN_MAVEN_REPO}"))
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(built.status.success(), "mvn package: {}", String::from_utf8_lossy(&built.stdout));
    let jar = project.join("target/sample-app-1.0.0.jar");
    let run = containerize(&jar, &format!("{registry}/slipway/jre:17"), &work.path().join("out"));
    let (_, sbom) = valid_sbom(&run);
    let expected = maven_runtime_purls(&project);
    assert_eq!(
        expected,
        [
            "pkg:maven/com.google.code.gson/gson@2.10",
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
            "pkg:maven/org.apache.commons/commons-text@1.10.0"
        ],
        "Maven resolved the transitive dependency"
    );
    assert_eq!(purls(&components(&sbom, "library")), expected, "{sbom}");
}

#[test]
fn push_image_refuses_an_sbom_that_is_not_cyclonedx_before_pushing_anything() {
    let ready = containerize_ready()
        && prerequisite("the push-image binary (cargo build --workspace)", workspace_binary("push-image").is_some());
    if !ready {
        return;
    }
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("tool.txt");
    std::fs::write(&file, "a file\n").unwrap();
    // An image of the base plus a file: no artifact, so containerize writes no SBOM.
    let mut command = step_command(workspace_binary("containerize").unwrap().to_str().unwrap());
    command
        .args(["--add", &format!("{}:/opt/tool.txt", file.display())])
        .args(["--base", &format!("{registry}/slipway/jre:17")])
        .arg("--output")
        .arg(work.path().join("layout"));
    let run = run_with_sinks(command, work.path());
    assert_eq!(run.code, 0, "containerize: {}", run.stderr);
    assert_eq!(run.output("sbom"), Some(""), "no artifact, no SBOM");
    assert!(!work.path().join("layout/sbom.cdx.json").exists());

    let not_cyclonedx = work.path().join("spdx.json");
    std::fs::write(&not_cyclonedx, r#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    let repository = format!("{registry}/sbom-test/refused-{}", std::process::id());
    let mut push = step_command(workspace_binary("push-image").unwrap().to_str().unwrap());
    push.arg("--layout")
        .arg(work.path().join("layout"))
        .args(["--image", &repository, "--tag", "1"])
        .arg("--sbom")
        .arg(&not_cyclonedx);
    std::fs::create_dir_all(work.path().join("push")).unwrap();
    let pushed = run_with_sinks(push, &work.path().join("push"));
    assert_eq!(pushed.code, 2, "{}", pushed.stderr);
    let errors: Vec<&str> = pushed.stderr.lines().filter(|line| line.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line: {}", pushed.stderr);
    assert!(errors[0].contains("is not a CycloneDX JSON document"), "{}", pushed.stderr);
    let port: u16 = registry.rsplit(':').next().unwrap().parse().unwrap();
    let (status, _) =
        slipway_testkit::http_get(port, &format!("/v2/{}/tags/list", &repository[registry.len() + 1..])).unwrap();
    assert_eq!(status, 404, "nothing was pushed");
}

#[test]
fn the_dists_sbom_hashes_each_lib_jar() {
    if !(containerize_ready() && gradle_ready() && cyclonedx_validator_ready()) {
        return;
    }
    let Some(registry) = test_registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let dist = build_sample_dist(work.path());
    let run = containerize(&dist, &format!("{registry}/slipway/jre:17"), &work.path().join("out"));
    let (_, sbom) = valid_sbom(&run);
    let mut located: Vec<(String, String)> = Vec::new();
    for component in components(&sbom, "library").into_iter().chain(components(&sbom, "application")) {
        let location = component["evidence"]["occurrences"][0]["location"].as_str().unwrap();
        let name = location.strip_prefix("/app/lib/").unwrap_or_else(|| panic!("{location}"));
        assert_eq!(sha256_hash(component), Some(sha256_of(&dist.join("lib").join(name)).as_str()), "{name}");
        located.push((name.to_owned(), component["name"].as_str().unwrap().to_owned()));
    }
    let mut jars: Vec<String> = std::fs::read_dir(dist.join("lib"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    jars.sort();
    located.sort();
    assert_eq!(located.iter().map(|(jar, _)| jar.clone()).collect::<Vec<_>>(), jars, "every lib/*.jar, once");
    let gson = components(&sbom, "library").into_iter().find(|c| c["name"] == "gson").unwrap();
    assert_eq!(gson["purl"], "pkg:maven/com.google.code.gson/gson@2.10");
}
