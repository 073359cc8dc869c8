//! Proves an artifact runnable: a fat JAR's `Main-Class` is inside it, a dist has
//! its start script and `lib/`, a WAR has `WEB-INF/`; reads the Java release the
//! code was compiled for from the class file's major version. A native executable
//! (GraalVM) is proven by its ELF headers instead (see [`native`]).

mod inventory;
pub mod native;

pub use inventory::{Evidence, Inventory, Package, inventory};
pub use native::{Linkage, NativeExecutable};

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use regex::Regex;
use sha2::{Digest, Sha256};

/// The kinds of runnable artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArtifactKind {
    /// One jar holding the app and its dependencies, started with `java -jar`.
    FatJar,
    /// Gradle's `installDist` layout: `bin/<start script>` and `lib/*.jar`.
    Dist,
    /// A web archive for a servlet container.
    War,
    /// A native executable (GraalVM's native-image): an ELF file that runs without a JVM.
    Native,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FatJar => "fat-jar",
            Self::Dist => "dist",
            Self::War => "war",
            Self::Native => "native",
        }
    }
}

/// What inspection proved about an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: PathBuf,
    pub kind: ArtifactKind,
    /// Empty for a WAR without `Main-Class` (a servlet container starts it).
    pub main_class: String,
    /// The Java release the main class (or a WAR's classes) were compiled for.
    pub java_release: u16,
    /// `Implementation-Version`, else the version in the file name; may be empty.
    pub version: String,
    /// `sha256sum` of the file; for a dist, of its sorted `sha256sum` listing.
    pub sha256: String,
    pub size_bytes: u64,
    /// For a dist: the jar in `lib/` that holds the main class (the app's own code).
    pub main_jar: Option<PathBuf>,
    /// For a native executable: what its ELF headers say (architecture, linkage, needs).
    pub native: Option<NativeExecutable>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InspectError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{path} is not a valid jar (zip) file: {reason}")]
    CorruptZip { path: PathBuf, reason: String },
    #[error(
        "{0} has no Main-Class in META-INF/MANIFEST.MF, so `java -jar` cannot start it; configure the main class in the build (shade's ManifestResourceTransformer, Gradle's application mainClass)"
    )]
    NoMainClass(PathBuf),
    #[error("{path} names Main-Class {class} but holds no {entry}")]
    MainClassMissing { path: PathBuf, class: String, entry: String },
    #[error("{path}: {entry} is not a valid class file")]
    BadClassFile { path: PathBuf, entry: String },
    #[error("{0} is a directory but not a JVM distribution: it needs bin/<start script> and lib/*.jar")]
    NotADist(PathBuf),
    #[error("{0} is a WAR without WEB-INF/, so no servlet container can deploy it")]
    NoWebInf(PathBuf),
    #[error("cannot find the main class of the distribution {0}: no class named in bin/ exists in lib/*.jar")]
    DistMainClass(PathBuf),
    #[error("{path} is not a native executable that Linux can run: {reason}")]
    NotNativeExecutable { path: PathBuf, reason: String },
    #[error("cannot read {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

fn io_error(path: &Path, error: &std::io::Error) -> InspectError {
    InspectError::Io { path: path.to_owned(), reason: error.to_string() }
}

/// Inspects `path` as the kind it looks like (a directory is a dist, `.war` a WAR, an ELF
/// file a native executable).
pub fn inspect(path: &Path) -> Result<Artifact, InspectError> {
    if !path.exists() {
        return Err(InspectError::Missing(path.to_owned()));
    }
    if path.is_dir() {
        inspect_dist(path)
    } else if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("war")) {
        inspect_war(path)
    } else if native::is_elf(path) {
        inspect_native(path)
    } else {
        inspect_fat_jar(path)
    }
}

/// A native executable: its ELF headers read, its digest; no main class, no Java release.
fn inspect_native(path: &Path) -> Result<Artifact, InspectError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, &e))?;
    let executable = native::parse_native(path, &bytes)?;
    Ok(Artifact {
        path: path.to_owned(),
        kind: ArtifactKind::Native,
        main_class: String::new(),
        java_release: 0,
        version: version_from_file_name(path),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size_bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        main_jar: None,
        native: Some(executable),
    })
}

type Jar = zip::ZipArchive<BufReader<File>>;

fn open_jar(path: &Path) -> Result<Jar, InspectError> {
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| InspectError::CorruptZip { path: path.to_owned(), reason: e.to_string() })
}

fn read_entry(jar: &mut Jar, path: &Path, name: &str) -> Result<Option<Vec<u8>>, InspectError> {
    let mut entry = match jar.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(InspectError::CorruptZip { path: path.to_owned(), reason: e.to_string() });
        }
    };
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| InspectError::CorruptZip { path: path.to_owned(), reason: e.to_string() })?;
    Ok(Some(bytes))
}

/// The main attributes of a manifest (`META-INF/MANIFEST.MF`), continuation lines joined.
///
/// Read as bytes, as the JAR specification writes them: lines end with CR LF, LF or CR; a
/// line starting with a space continues the one before; the main section ends at the first
/// empty line. The `jar` tool wraps lines at 72 bytes, which may split a character's
/// UTF-8 bytes (and fall just after a space), so lines are joined before the text is decoded
/// and the value trimmed.
pub fn parse_manifest(bytes: &[u8]) -> Vec<(String, String)> {
    let mut attributes: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = rest.iter().position(|b| *b == b'\r' || *b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        let newline = match rest.get(end..end + 2) {
            Some(b"\r\n") => 2,
            _ => usize::from(end < rest.len()),
        };
        rest = &rest[end + newline..];
        if line.is_empty() {
            break; // The main section ends at the first blank line.
        }
        if let Some(continuation) = line.strip_prefix(b" ") {
            if let Some(last) = attributes.last_mut() {
                last.1.extend_from_slice(continuation);
            }
        } else if let Some(colon) = line.iter().position(|b| *b == b':') {
            attributes.push((line[..colon].to_vec(), line[colon + 1..].to_vec()));
        }
    }
    attributes
        .into_iter()
        .map(|(name, value)| {
            (String::from_utf8_lossy(&name).trim().to_owned(), String::from_utf8_lossy(&value).trim().to_owned())
        })
        .collect()
}

fn manifest_attribute(attributes: &[(String, String)], name: &str) -> Option<String> {
    attributes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
        .filter(|value| !value.is_empty())
}

fn read_manifest(jar: &mut Jar, path: &Path) -> Result<Vec<(String, String)>, InspectError> {
    Ok(read_entry(jar, path, "META-INF/MANIFEST.MF")?.map(|bytes| parse_manifest(&bytes)).unwrap_or_default())
}

/// The Java release a class file targets: its major version less 44 (52 is Java 8).
pub fn class_file_release(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 8 || bytes[..4] != [0xCA, 0xFE, 0xBA, 0xBE] {
        return None;
    }
    let major = u16::from_be_bytes([bytes[6], bytes[7]]);
    major.checked_sub(44).filter(|release| *release >= 1)
}

fn class_entry(class: &str) -> String {
    format!("{}.class", class.replace('.', "/"))
}

/// Finds `class` in `jar` (under `prefix`) and reads its release.
fn main_class_release(jar: &mut Jar, path: &Path, class: &str, prefix: &str) -> Result<u16, InspectError> {
    let entry = format!("{prefix}{}", class_entry(class));
    let bytes = read_entry(jar, path, &entry)?.ok_or_else(|| InspectError::MainClassMissing {
        path: path.to_owned(),
        class: class.to_owned(),
        entry: entry.clone(),
    })?;
    class_file_release(&bytes).ok_or(InspectError::BadClassFile { path: path.to_owned(), entry })
}

fn inspect_fat_jar(path: &Path) -> Result<Artifact, InspectError> {
    let mut jar = open_jar(path)?;
    let manifest = read_manifest(&mut jar, path)?;
    let main_class =
        manifest_attribute(&manifest, "Main-Class").ok_or_else(|| InspectError::NoMainClass(path.to_owned()))?;
    // Spring Boot's launcher is the Main-Class; the application class is Start-Class.
    let (app_class, prefix) = match manifest_attribute(&manifest, "Start-Class") {
        Some(start) => (start, "BOOT-INF/classes/"),
        None => (main_class.clone(), ""),
    };
    let java_release = main_class_release(&mut jar, path, &app_class, prefix)?;
    let (sha256, size_bytes) = file_digest(path)?;
    Ok(Artifact {
        path: path.to_owned(),
        kind: ArtifactKind::FatJar,
        main_class: app_class,
        java_release,
        version: manifest_attribute(&manifest, "Implementation-Version")
            .unwrap_or_else(|| version_from_file_name(path)),
        sha256,
        size_bytes,
        main_jar: None,
        native: None,
    })
}

fn inspect_war(path: &Path) -> Result<Artifact, InspectError> {
    let mut jar = open_jar(path)?;
    let names: Vec<String> = jar.file_names().map(str::to_owned).collect();
    if !names.iter().any(|name| name.starts_with("WEB-INF/")) {
        return Err(InspectError::NoWebInf(path.to_owned()));
    }
    let manifest = read_manifest(&mut jar, path)?;
    let main_class = manifest_attribute(&manifest, "Start-Class")
        .or_else(|| manifest_attribute(&manifest, "Main-Class"))
        .unwrap_or_default();
    // A WAR's classes may target different releases; the newest is what the JVM must run.
    let mut java_release = 0;
    for name in names.iter().filter(|n| n.starts_with("WEB-INF/classes/") && n.ends_with(".class")) {
        if let Some(release) = read_entry(&mut jar, path, name)?.as_deref().and_then(class_file_release) {
            java_release = java_release.max(release);
        }
    }
    let (sha256, size_bytes) = file_digest(path)?;
    Ok(Artifact {
        path: path.to_owned(),
        kind: ArtifactKind::War,
        main_class,
        java_release,
        version: manifest_attribute(&manifest, "Implementation-Version")
            .unwrap_or_else(|| version_from_file_name(path)),
        sha256,
        size_bytes,
        main_jar: None,
        native: None,
    })
}

/// Start scripts in `bin/`: every regular file but Windows batch files.
fn start_scripts(dist: &Path) -> Result<Vec<PathBuf>, InspectError> {
    let bin = dist.join("bin");
    let entries = std::fs::read_dir(&bin).map_err(|_| InspectError::NotADist(dist.to_owned()))?;
    let mut scripts: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.is_file() && !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("bat")))
        .collect();
    scripts.sort();
    Ok(scripts)
}

fn inspect_dist(dist: &Path) -> Result<Artifact, InspectError> {
    let scripts = start_scripts(dist)?;
    let lib = dist.join("lib");
    let mut jars: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map_err(|_| InspectError::NotADist(dist.to_owned()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jar"))
        .collect();
    jars.sort();
    if scripts.is_empty() || jars.is_empty() {
        return Err(InspectError::NotADist(dist.to_owned()));
    }
    // The start script names the main class; whichever lib jar holds it is the app's.
    let class_name = Regex::new(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
        .map_err(|e| InspectError::Io { path: dist.to_owned(), reason: e.to_string() })?;
    let mut candidates: Vec<String> = Vec::new();
    for script in &scripts {
        let text = std::fs::read_to_string(script).map_err(|e| io_error(script, &e))?;
        for found in class_name.find_iter(&text) {
            if !candidates.iter().any(|c| c == found.as_str()) {
                candidates.push(found.as_str().to_owned());
            }
        }
    }
    for jar_path in &jars {
        let mut jar = open_jar(jar_path)?;
        let manifest = read_manifest(&mut jar, jar_path)?;
        let mut in_jar = candidates.iter().filter(|c| jar.index_for_name(&class_entry(c)).is_some());
        let Some(main_class) = in_jar.next().cloned() else {
            continue;
        };
        let java_release = main_class_release(&mut jar, jar_path, &main_class, "")?;
        let (sha256, size_bytes) = tree_digest(dist)?;
        return Ok(Artifact {
            path: dist.to_owned(),
            kind: ArtifactKind::Dist,
            main_class,
            java_release,
            version: manifest_attribute(&manifest, "Implementation-Version")
                .unwrap_or_else(|| version_from_file_name(jar_path)),
            sha256,
            size_bytes,
            main_jar: Some(jar_path.clone()),
            native: None,
        });
    }
    Err(InspectError::DistMainClass(dist.to_owned()))
}

/// The jar names of a dist's `lib/` in the order its start script puts them on the
/// class path (`CLASSPATH=$APP_HOME/lib/a.jar:...`); jars the script does not name
/// follow in name order, and without a script line the main jar comes first.
pub fn dist_class_path(dist: &Path, main_jar: Option<&Path>) -> Result<Vec<String>, InspectError> {
    let lib = dist.join("lib");
    let mut jars: Vec<String> = std::fs::read_dir(&lib)
        .map_err(|e| io_error(&lib, &e))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".jar"))
        .collect();
    jars.sort();
    let mut ordered: Vec<String> = Vec::new();
    for script in start_scripts(dist)? {
        let text = std::fs::read_to_string(&script).map_err(|e| io_error(&script, &e))?;
        if let Some(line) = text.lines().find_map(|line| line.trim().strip_prefix("CLASSPATH=")) {
            for entry in line.trim_matches('"').split(':') {
                let name = entry.rsplit('/').next().unwrap_or(entry);
                if jars.iter().any(|jar| jar == name) && !ordered.iter().any(|o| o == name) {
                    ordered.push(name.to_owned());
                }
            }
            break;
        }
    }
    if ordered.is_empty()
        && let Some(main) = main_jar.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned())
        && jars.contains(&main)
    {
        ordered.push(main);
    }
    for jar in jars {
        if !ordered.contains(&jar) {
            ordered.push(jar);
        }
    }
    Ok(ordered)
}

/// `app-1.4.2.jar` gives `1.4.2`; `app-1.0-SNAPSHOT-all.jar` gives `1.0-SNAPSHOT`.
pub fn version_from_file_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let Ok(pattern) = Regex::new(r"-(\d+(?:\.\d+)*(?:-SNAPSHOT|[-.][A-Za-z0-9]+)*?)(?:-all|-jar-with-dependencies)?$")
    else {
        return String::new();
    };
    pattern.captures(&stem).and_then(|c| c.get(1)).map(|m| m.as_str().to_owned()).unwrap_or_default()
}

/// `sha256sum` of a file, and its size.
pub fn file_digest(path: &Path) -> Result<(String, u64), InspectError> {
    let mut file = File::open(path).map_err(|e| io_error(path, &e))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).map_err(|e| io_error(path, &e))?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// A directory's digest: the sha256 of its `sha256sum`-style listing (sorted relative
/// paths), so that `find . -type f | sort | xargs sha256sum | sha256sum` reproduces it.
pub fn tree_digest(root: &Path) -> Result<(String, u64), InspectError> {
    let mut files = BTreeSet::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io_error(&dir, &e))? {
            let path = entry.map_err(|e| io_error(&dir, &e))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                files.insert(relative);
            }
        }
    }
    let mut listing = Sha256::new();
    let mut total = 0;
    for relative in &files {
        let (digest, size) = file_digest(&root.join(relative))?;
        total += size;
        listing.update(format!("{digest}  ./{relative}\n"));
    }
    Ok((hex::encode(listing.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_continuation_lines_are_joined() {
        let text = "Manifest-Version: 1.0\r\nMain-Class: dev.slipway.sample.VeryLongPackageName.Ap\r\n p\r\nClass-Path: a.jar\r\n\r\nName: x\r\nMain-Class: not.This\r\n";
        let attributes = parse_manifest(text.as_bytes());
        assert_eq!(
            manifest_attribute(&attributes, "main-class").as_deref(),
            Some("dev.slipway.sample.VeryLongPackageName.App")
        );
        assert_eq!(attributes.len(), 3);
    }

    #[test]
    fn class_file_major_version_gives_release() {
        let class = |major: u16| {
            let mut bytes = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0];
            bytes.extend_from_slice(&major.to_be_bytes());
            bytes
        };
        assert_eq!(class_file_release(&class(52)), Some(8));
        assert_eq!(class_file_release(&class(61)), Some(17));
        assert_eq!(class_file_release(&class(65)), Some(21));
        assert_eq!(class_file_release(b"PK\x03\x04\0\0\0\0"), None);
        assert_eq!(class_file_release(&[0xCA, 0xFE]), None);
    }

    #[test]
    fn dist_class_path_follows_the_start_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        for jar in ["a-dep.jar", "app-1.0.jar", "z-dep.jar", "unlisted.jar"] {
            std::fs::write(dir.path().join("lib").join(jar), b"").unwrap();
        }
        std::fs::write(
            dir.path().join("bin/app"),
            "#!/bin/sh\nCLASSPATH=$APP_HOME/lib/app-1.0.jar:$APP_HOME/lib/z-dep.jar:$APP_HOME/lib/a-dep.jar\n",
        )
        .unwrap();
        assert_eq!(
            dist_class_path(dir.path(), None).unwrap(),
            ["app-1.0.jar", "z-dep.jar", "a-dep.jar", "unlisted.jar"]
        );
        std::fs::write(dir.path().join("bin/app"), "#!/bin/sh\nexec java\n").unwrap();
        let main = dir.path().join("lib/app-1.0.jar");
        assert_eq!(
            dist_class_path(dir.path(), Some(&main)).unwrap(),
            ["app-1.0.jar", "a-dep.jar", "unlisted.jar", "z-dep.jar"]
        );
    }

    #[test]
    fn versions_from_file_names() {
        let v = |name: &str| version_from_file_name(Path::new(name));
        assert_eq!(v("sample-app-1.0.0.jar"), "1.0.0");
        assert_eq!(v("app-2.3-SNAPSHOT-all.jar"), "2.3-SNAPSHOT");
        assert_eq!(v("app-1.2.3-jar-with-dependencies.jar"), "1.2.3");
        assert_eq!(v("ktor-sample-0.0.1-all.jar"), "0.0.1");
        assert_eq!(v("app.jar"), "");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A manifest as the JDK's `java.util.jar.Manifest.write` writes it: `name: value` lines
    /// through `println72` (72 bytes on the first line, a space and 71 on each continuation,
    /// cut between bytes, not characters), ended by `newline`; a blank line, then a section.
    fn write_manifest(attributes: &[(String, String)], newline: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut println72 = |line: String| {
            let bytes = line.as_bytes();
            out.extend_from_slice(&bytes[..bytes.len().min(72)]);
            let mut at = bytes.len().min(72);
            while at < bytes.len() {
                out.extend_from_slice(newline.as_bytes());
                out.push(b' ');
                let end = (at + 71).min(bytes.len());
                out.extend_from_slice(&bytes[at..end]);
                at = end;
            }
            out.extend_from_slice(newline.as_bytes());
        };
        println72("Manifest-Version: 1.0".to_owned());
        for (name, value) in attributes {
            println72(format!("{name}: {value}"));
        }
        out.extend_from_slice(format!("{newline}Name: dev/slipway/{newline}Main-Class: not.This{newline}").as_bytes());
        out
    }

    fn attribute() -> impl Strategy<Value = (String, String)> {
        // Names per the JAR specification; values any text without line breaks or NUL, not
        // padded (the parser trims, as hand-written manifests need).
        let value = prop_oneof!["[a-zA-Z0-9.$_ -]{0,150}", "[^\r\n\0]{0,120}", "(Grüße|世界|😀| |x){0,60}",];
        ("[A-Za-z0-9][A-Za-z0-9_-]{0,30}", value).prop_map(|(name, value)| (name, value.trim().to_owned()))
    }

    proptest! {
        #[test]
        fn manifests_the_jdk_writes_read_back(
            attributes in proptest::collection::vec(attribute(), 0..6),
            newline in prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
        ) {
            let bytes = write_manifest(&attributes, newline);
            let mut expected = vec![("Manifest-Version".to_owned(), "1.0".to_owned())];
            expected.extend(attributes.iter().cloned());
            prop_assert_eq!(parse_manifest(&bytes), expected);
        }

        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for (name, value) in parse_manifest(&bytes) {
                prop_assert!(!name.contains(['\r', '\n']) && !value.contains(['\r', '\n']));
                prop_assert_eq!(value.trim(), value.as_str());
            }
        }

        #[test]
        fn class_headers_give_their_release(major in 45u16..=u16::MAX, minor in any::<u16>(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut bytes = vec![0xCA, 0xFE, 0xBA, 0xBE];
            bytes.extend_from_slice(&minor.to_be_bytes());
            bytes.extend_from_slice(&major.to_be_bytes());
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(class_file_release(&bytes), Some(major - 44));
        }

        #[test]
        fn anything_else_is_no_class(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let release = class_file_release(&bytes);
            let magic = bytes.len() >= 8 && bytes[..4] == [0xCA, 0xFE, 0xBA, 0xBE];
            prop_assert_eq!(release.is_some(), magic && u16::from_be_bytes([bytes[6], bytes[7]]) >= 45);
        }
    }

    #[test]
    fn a_wrap_inside_a_character_or_after_a_space_reads_back() {
        // Found by `manifests_the_jdk_writes_read_back`: the jar tool's 72-byte lines split
        // `ü` (decoded as two U+FFFD) and a wrap after a space lost the space.
        let title = format!("{}Grüße aus Köln", "x".repeat(47));
        let bytes = write_manifest(&[("Implementation-Title".to_owned(), title.clone())], "\r\n");
        assert!(std::str::from_utf8(&bytes).is_err(), "the wrap splits a character");
        assert_eq!(manifest_attribute(&parse_manifest(&bytes), "implementation-title"), Some(title));
        let spaced = format!("{}A B", "y".repeat(48));
        let bytes = write_manifest(&[("Implementation-Title".to_owned(), spaced.clone())], "\n");
        assert_eq!(manifest_attribute(&parse_manifest(&bytes), "implementation-title"), Some(spaced));
    }
}
