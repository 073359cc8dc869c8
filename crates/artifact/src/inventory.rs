//! What an artifact carries of third-party code, for a software bill of materials: the
//! Maven coordinates each jar records in `META-INF/maven/<group>/<artifact>/pom.properties`
//! (Maven's jar, war and shade plugins write them), else its manifest's `Implementation-*`.
//!
//! Hashes are only what can be computed honestly: a dist's `lib/*.jar` and a WAR's
//! `WEB-INF/lib/*.jar` are the very jars Maven or Gradle resolved, so their SHA-256 is the
//! package's. A fat JAR's embedded packages were unpacked into one jar by shading: their
//! original jars are not in the image, so they carry no hash (the fat JAR itself has one).

use std::io::{Cursor, Read, Seek};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{
    Artifact, ArtifactKind, InspectError, io_error, manifest_attribute, parse_manifest, version_from_file_name,
};

/// One package found in an artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    /// Maven's groupId; empty when only a manifest or a file name named the package.
    pub group: String,
    pub name: String,
    pub version: String,
    /// SHA-256 (hex) of the package's own jar, when the artifact holds that jar whole.
    pub sha256: Option<String>,
    /// Where the package was found, relative to the artifact (`WEB-INF/lib/gson-2.10.jar`,
    /// `META-INF/maven/com.google.code.gson/gson/pom.properties`).
    pub location: String,
    pub evidence: Evidence,
}

/// What named a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// `META-INF/maven/**/pom.properties`.
    PomProperties,
    /// The manifest's `Implementation-Title` and `Implementation-Version`.
    Manifest,
    /// The jar's file name (`name-1.2.3.jar`).
    FileName,
}

impl Package {
    /// Maven's package URL (`pkg:maven/group/name@version`), when the group is known.
    pub fn purl(&self) -> Option<String> {
        if self.group.is_empty() || self.name.is_empty() || self.version.is_empty() {
            return None;
        }
        Some(format!(
            "pkg:maven/{}/{}@{}",
            purl_encode(&self.group),
            purl_encode(&self.name),
            purl_encode(&self.version)
        ))
    }
}

/// Percent-encodes what a purl segment may not hold as is.
fn purl_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// An artifact's own identity and the packages it carries, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The app itself: its own `pom.properties`, else its manifest, else its file name.
    pub app: Package,
    pub packages: Vec<Package>,
}

/// Lists what `artifact` carries (see the module's documentation for what is hashed).
pub fn inventory(artifact: &Artifact) -> Result<Inventory, InspectError> {
    let path = &artifact.path;
    let mut inventory = match artifact.kind {
        ArtifactKind::FatJar => {
            let mut jar = open(path)?;
            let embedded = pom_properties(&mut jar, path)?;
            let manifest = manifest(&mut jar, path)?;
            let (app, packages) = split_app(artifact, embedded, &manifest);
            Inventory { app, packages }
        }
        ArtifactKind::War => {
            let mut war = open(path)?;
            let own = pom_properties(&mut war, path)?;
            let manifest = manifest(&mut war, path)?;
            let (app, _) = split_app(artifact, own, &manifest);
            let names: Vec<String> = war
                .file_names()
                .filter(|name| name.starts_with("WEB-INF/lib/") && name.ends_with(".jar") && !name[12..].contains('/'))
                .map(str::to_owned)
                .collect();
            let mut packages = Vec::new();
            for name in names {
                let bytes = read(&mut war, path, &name)?;
                packages.push(library(&bytes, &name, &path.join(&name))?);
            }
            Inventory { app, packages }
        }
        ArtifactKind::Dist => {
            let lib = path.join("lib");
            let mut jars: Vec<String> = std::fs::read_dir(&lib)
                .map_err(|e| io_error(&lib, &e))?
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".jar"))
                .collect();
            jars.sort();
            let main = artifact.main_jar.as_deref().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
            let mut app = None;
            let mut packages = Vec::new();
            for name in jars {
                let jar_path = lib.join(&name);
                let bytes = std::fs::read(&jar_path).map_err(|e| io_error(&jar_path, &e))?;
                let package = library(&bytes, &format!("lib/{name}"), &jar_path)?;
                if main.as_deref() == Some(name.as_str()) {
                    app = Some(package);
                } else {
                    packages.push(package);
                }
            }
            let app = app.unwrap_or_else(|| file_name_package(path));
            Inventory { app, packages }
        }
        // A native executable carries its dependencies compiled in: nothing names them
        // (GraalVM can embed an SBOM in the executable; reading it is not done here).
        ArtifactKind::Native => {
            let mut app = file_name_package(path);
            app.sha256 = Some(artifact.sha256.clone());
            app.location = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Inventory { app, packages: Vec::new() }
        }
    };
    let key = |p: &Package| (p.name.clone(), p.group.clone(), p.version.clone(), p.location.clone());
    inventory.packages.sort_by_key(key);
    inventory.packages.dedup();
    Ok(inventory)
}

type Zip<R> = zip::ZipArchive<R>;

fn open(path: &Path) -> Result<Zip<std::io::BufReader<std::fs::File>>, InspectError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
    zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| InspectError::CorruptZip { path: path.to_owned(), reason: e.to_string() })
}

fn read<R: Read + Seek>(zip: &mut Zip<R>, path: &Path, name: &str) -> Result<Vec<u8>, InspectError> {
    let corrupt = |e: &dyn std::fmt::Display| InspectError::CorruptZip { path: path.to_owned(), reason: e.to_string() };
    let mut entry = zip.by_name(name).map_err(|e| corrupt(&e))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| corrupt(&e))?;
    Ok(bytes)
}

fn manifest<R: Read + Seek>(zip: &mut Zip<R>, path: &Path) -> Result<Vec<(String, String)>, InspectError> {
    if zip.index_for_name("META-INF/MANIFEST.MF").is_none() {
        return Ok(Vec::new());
    }
    Ok(parse_manifest(&read(zip, path, "META-INF/MANIFEST.MF")?))
}

/// Every `META-INF/maven/<group>/<artifact>/pom.properties` in `zip`, as packages located
/// at that entry, without hashes.
fn pom_properties<R: Read + Seek>(zip: &mut Zip<R>, path: &Path) -> Result<Vec<Package>, InspectError> {
    let names: Vec<String> = zip
        .file_names()
        .filter(|name| name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties"))
        .map(str::to_owned)
        .collect();
    let mut packages = Vec::new();
    for name in names {
        let text = String::from_utf8_lossy(&read(zip, path, &name)?).into_owned();
        let property = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let package = Package {
            group: property("groupId"),
            name: property("artifactId"),
            version: property("version"),
            sha256: None,
            location: name.clone(),
            evidence: Evidence::PomProperties,
        };
        if !package.name.is_empty() && !package.version.is_empty() {
            packages.push(package);
        }
    }
    packages.sort();
    Ok(packages)
}

/// A jar held whole (a dist's `lib/`, a WAR's `WEB-INF/lib/`): its own coordinates and hash.
fn library(bytes: &[u8], location: &str, path: &Path) -> Result<Package, InspectError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let mut jar = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| InspectError::CorruptZip { path: path.to_owned(), reason: e.to_string() })?;
    let file_stem = Path::new(location).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let embedded = pom_properties(&mut jar, path)?;
    let manifest = manifest(&mut jar, path)?;
    // A jar may embed others' pom.properties (shaded): its own is the one its file name names.
    let own = embedded
        .iter()
        .find(|p| file_stem.starts_with(&format!("{}-{}", p.name, p.version)))
        .or_else(|| embedded.iter().find(|p| file_stem.starts_with(&p.name)))
        .or(if embedded.len() == 1 { embedded.first() } else { None })
        .cloned();
    let mut package = match own {
        Some(found) => found,
        None => from_manifest(&manifest).unwrap_or_else(|| file_name_package(path)),
    };
    package.sha256 = Some(sha256);
    package.location = location.to_owned();
    Ok(package)
}

fn from_manifest(manifest: &[(String, String)]) -> Option<Package> {
    let title = manifest_attribute(manifest, "Implementation-Title")?;
    let version = manifest_attribute(manifest, "Implementation-Version")?;
    Some(Package {
        group: String::new(),
        name: title,
        version,
        sha256: None,
        location: "META-INF/MANIFEST.MF".to_owned(),
        evidence: Evidence::Manifest,
    })
}

/// `name-1.2.3.jar` as a package named `name`, version `1.2.3` (its caller locates it).
fn file_name_package(path: &Path) -> Package {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let version = version_from_file_name(path);
    let name = stem.strip_suffix(&format!("-{version}")).filter(|_| !version.is_empty()).unwrap_or(&stem).to_owned();
    Package { group: String::new(), name, version, sha256: None, location: String::new(), evidence: Evidence::FileName }
}

/// The artifact's own package (its pom.properties matching its file name or manifest, else
/// the manifest, else the file name), hashed, and the others.
fn split_app(
    artifact: &Artifact,
    mut embedded: Vec<Package>,
    manifest: &[(String, String)],
) -> (Package, Vec<Package>) {
    let file_stem = artifact.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let title = manifest_attribute(manifest, "Implementation-Title");
    let own = embedded.iter().position(|p| {
        file_stem.starts_with(&format!("{}-{}", p.name, p.version))
            || (title.as_deref() == Some(p.name.as_str()) && p.version == artifact.version)
    });
    let file_name = artifact.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut app = match own {
        Some(index) => embedded.remove(index),
        None => from_manifest(manifest).unwrap_or_else(|| file_name_package(&artifact.path)),
    };
    // Located at the artifact itself (the SBOM names where that lies in the image).
    app.sha256 = Some(artifact.sha256.clone());
    app.location = file_name;
    (app, embedded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
        use std::io::Write as _;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn artifact(path: &Path, kind: ArtifactKind, version: &str) -> Artifact {
        let (sha256, size_bytes) = crate::file_digest(path).unwrap_or_default();
        Artifact {
            path: path.to_owned(),
            kind,
            main_class: String::new(),
            java_release: 17,
            version: version.to_owned(),
            sha256,
            size_bytes,
            main_jar: None,
            native: None,
        }
    }

    #[test]
    fn purls_encode_what_a_segment_may_not_hold() {
        let package = Package {
            group: "org.example".into(),
            name: "lib".into(),
            version: "1.0+build 7".into(),
            sha256: None,
            location: String::new(),
            evidence: Evidence::PomProperties,
        };
        assert_eq!(package.purl().unwrap(), "pkg:maven/org.example/lib@1.0%2Bbuild%207");
        assert_eq!(Package { group: String::new(), ..package }.purl(), None);
    }

    #[test]
    fn a_fat_jar_lists_its_embedded_poms_and_keeps_its_own_as_the_app() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("shop-2.1.0.jar");
        write_zip(
            &jar,
            &[
                ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\nImplementation-Title: shop\n"),
                (
                    "META-INF/maven/com.example/shop/pom.properties",
                    b"groupId=com.example\nartifactId=shop\nversion=2.1.0\n",
                ),
                ("META-INF/maven/org.b/beta/pom.properties", b"#x\nversion=3\ngroupId=org.b\nartifactId=beta\n"),
                ("META-INF/maven/org.a/alpha/pom.properties", b"groupId=org.a\nartifactId=alpha\nversion=1.0\n"),
            ],
        );
        let inventory = inventory(&artifact(&jar, ArtifactKind::FatJar, "2.1.0")).unwrap();
        assert_eq!(inventory.app.purl().as_deref(), Some("pkg:maven/com.example/shop@2.1.0"));
        assert_eq!(inventory.app.sha256, Some(crate::file_digest(&jar).unwrap().0));
        let purls: Vec<String> = inventory.packages.iter().filter_map(Package::purl).collect();
        assert_eq!(purls, ["pkg:maven/org.a/alpha@1.0", "pkg:maven/org.b/beta@3"]);
        assert!(inventory.packages.iter().all(|p| p.sha256.is_none()), "shaded: no original jar to hash");
    }

    #[test]
    fn a_wars_web_inf_lib_jars_are_hashed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib.jar");
        write_zip(
            &lib,
            &[("META-INF/maven/org.a/alpha/pom.properties", b"groupId=org.a\nartifactId=alpha\nversion=1.0\n")],
        );
        let plain = dir.path().join("plain.jar");
        write_zip(&plain, &[("META-INF/MANIFEST.MF", b"Implementation-Title: plain\nImplementation-Version: 4\n")]);
        let lib_bytes = std::fs::read(&lib).unwrap();
        let plain_bytes = std::fs::read(&plain).unwrap();
        let war = dir.path().join("web-1.0.war");
        write_zip(
            &war,
            &[
                ("WEB-INF/web.xml", b"<web-app/>"),
                ("WEB-INF/lib/alpha-1.0.jar", &lib_bytes),
                ("WEB-INF/lib/plain-4.jar", &plain_bytes),
            ],
        );
        let inventory = inventory(&artifact(&war, ArtifactKind::War, "1.0")).unwrap();
        assert_eq!(inventory.app.name, "web");
        assert_eq!(inventory.app.evidence, Evidence::FileName);
        let alpha = &inventory.packages[0];
        assert_eq!(alpha.purl().as_deref(), Some("pkg:maven/org.a/alpha@1.0"));
        assert_eq!(alpha.sha256.as_deref(), Some(hex::encode(Sha256::digest(&lib_bytes)).as_str()));
        assert_eq!(alpha.location, "WEB-INF/lib/alpha-1.0.jar");
        let plain = &inventory.packages[1];
        assert_eq!((plain.name.as_str(), plain.version.as_str(), plain.evidence), ("plain", "4", Evidence::Manifest));
        assert_eq!(plain.purl(), None, "no group: no Maven purl");
    }
}
