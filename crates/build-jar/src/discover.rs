//! Finds the artifact a build produced among the files in its output directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use slipway_contract::StepError;

use slipway_artifact::ArtifactKind;
use slipway_artifact::native::{is_elf, is_library_name};

/// Jars that sit beside the runnable one and are never it.
const NOT_RUNNABLE_SUFFIXES: [&str; 5] = ["-plain", "-sources", "-javadoc", "-tests", "-test-fixtures"];
/// Classifiers that fat-jar plugins give the jar with dependencies.
const FAT_CLASSIFIERS: [&str; 2] = ["-all", "-jar-with-dependencies"];
/// Clock slack between our start time and the build tool's file times.
const FRESHNESS_SLACK: Duration = Duration::from_secs(2);

/// The produced artifact of `kind` in `output_dir`, preferring files written since
/// `started` over leftovers of earlier builds.
pub fn discover(output_dir: &Path, kind: ArtifactKind, started: SystemTime) -> Result<PathBuf, StepError> {
    let entries = std::fs::read_dir(output_dir).map_err(|_| {
        StepError::failed(format!(
            "the build succeeded but wrote no {}; check the task or goal it ran",
            output_dir.display()
        ))
    })?;
    let mut candidates: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| is_candidate(path, kind)).collect();
    candidates.sort();

    if kind == ArtifactKind::FatJar {
        let fat: Vec<PathBuf> = candidates.iter().filter(|p| has_suffix(p, &FAT_CLASSIFIERS)).cloned().collect();
        if !fat.is_empty() {
            candidates = fat;
        }
    }
    let since = started.checked_sub(FRESHNESS_SLACK).unwrap_or(started);
    let fresh: Vec<PathBuf> = candidates.iter().filter(|p| modified_since(p, since)).cloned().collect();
    if !fresh.is_empty() {
        candidates = fresh;
    }

    match candidates.len() {
        0 => Err(StepError::failed(format!(
            "the build succeeded but left no {} in {}; check that the build makes one",
            describe(kind),
            output_dir.display()
        ))),
        1 => Ok(candidates.remove(0)),
        _ => {
            let names: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            Err(StepError::usage(format!(
                "the build left {} candidate artifacts ({}); remove the stale ones or check one with --jar PATH",
                names.len(),
                names.iter().map(|n| file_name(Path::new(n))).collect::<Vec<_>>().join(", ")
            ))
            .with_detail(names))
        }
    }
}

/// The artifacts of `kind` in `output_dir` written since `since`: what an interrupted
/// build may have left half written.
pub fn fresh_candidates(output_dir: &Path, kind: ArtifactKind, since: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(output_dir) else { return Vec::new() };
    let mut fresh: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| is_candidate(path, kind) && modified_since(path, since))
        .collect();
    fresh.sort();
    fresh
}

fn describe(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::FatJar => ".jar",
        ArtifactKind::War => ".war",
        ArtifactKind::Dist => "distribution (bin/ and lib/)",
        ArtifactKind::Native => "native executable (an ELF file)",
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn has_suffix(path: &Path, suffixes: &[&str]) -> bool {
    let stem = stem(path);
    suffixes.iter().any(|suffix| stem.ends_with(suffix))
}

fn is_candidate(path: &Path, kind: ArtifactKind) -> bool {
    match kind {
        ArtifactKind::Dist => path.join("bin").is_dir() && path.join("lib").is_dir(),
        // native-image writes the executable beside the shared libraries it may need (libawt.so)
        // and, in Maven's target/, beside the jar and classes: the ELF file that is no library.
        ArtifactKind::Native => path.is_file() && is_executable(path) && is_elf(path) && !is_library_name(path),
        ArtifactKind::FatJar | ArtifactKind::War => {
            let extension = if kind == ArtifactKind::War { "war" } else { "jar" };
            path.is_file()
                && path.extension().is_some_and(|e| e == extension)
                && !file_name(path).starts_with("original-")
                && !has_suffix(path, &NOT_RUNNABLE_SUFFIXES)
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

fn modified_since(path: &Path, since: SystemTime) -> bool {
    std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|modified| modified >= since)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), b"").unwrap();
    }

    fn set_old(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    }

    #[test]
    fn skips_companion_jars() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "original-app-1.0.jar",
            "app-1.0.jar",
            "app-1.0-sources.jar",
            "app-1.0-javadoc.jar",
            "app-1.0-plain.jar",
            "notes.txt",
        ] {
            touch(dir.path(), name);
        }
        let found = discover(dir.path(), ArtifactKind::FatJar, SystemTime::now()).unwrap();
        assert_eq!(found, dir.path().join("app-1.0.jar"));
    }

    #[test]
    fn prefers_fat_classifier() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "app-1.0.jar");
        touch(dir.path(), "app-1.0-jar-with-dependencies.jar");
        let found = discover(dir.path(), ArtifactKind::FatJar, SystemTime::now()).unwrap();
        assert_eq!(found, dir.path().join("app-1.0-jar-with-dependencies.jar"));
    }

    #[test]
    fn prefers_fresh_over_stale_and_lists_ties() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "app-0.9.jar");
        set_old(&dir.path().join("app-0.9.jar"));
        let started = SystemTime::now();
        touch(dir.path(), "app-1.0.jar");
        assert_eq!(discover(dir.path(), ArtifactKind::FatJar, started).unwrap(), dir.path().join("app-1.0.jar"));

        touch(dir.path(), "other-1.0.jar");
        let error = discover(dir.path(), ArtifactKind::FatJar, started).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.message.contains("2 candidate artifacts (app-1.0.jar, other-1.0.jar)"), "{}", error.message);
        assert_eq!(error.detail.len(), 2);
    }

    #[test]
    fn finds_dist_directories_and_reports_absence() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("app");
        std::fs::create_dir_all(dist.join("bin")).unwrap();
        std::fs::create_dir_all(dist.join("lib")).unwrap();
        std::fs::create_dir_all(dir.path().join("half/bin")).unwrap();
        assert_eq!(discover(dir.path(), ArtifactKind::Dist, SystemTime::now()).unwrap(), dist);
        let error = discover(dir.path(), ArtifactKind::War, SystemTime::now()).unwrap_err();
        assert_eq!(error.exit_code(), 1);
        assert!(error.message.contains("left no .war"));
        assert!(discover(&dir.path().join("absent"), ArtifactKind::War, SystemTime::now()).is_err());
    }

    #[test]
    fn native_executables_are_the_executable_elf_files_that_are_no_library() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let elf = |name: &str, mode: u32| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"\x7fELF\x02\x01\x01").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        elf("sample-native", 0o755);
        elf("libawt.so", 0o755);
        elf("sample-native.o", 0o644);
        std::fs::write(dir.path().join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(dir.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        touch(dir.path(), "sample-1.0.jar");
        let found = discover(dir.path(), ArtifactKind::Native, SystemTime::now()).unwrap();
        assert_eq!(found, dir.path().join("sample-native"));
        std::fs::remove_file(&found).unwrap();
        let error = discover(dir.path(), ArtifactKind::Native, SystemTime::now()).unwrap_err();
        assert!(error.message.contains("left no native executable"), "{}", error.message);
    }
}
