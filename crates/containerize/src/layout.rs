//! The OCI image layout containerize writes, built in a sibling directory and moved
//! into place only when complete, and the `docker load` tarball made from it.

use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::image::{ANNOTATION_REF_NAME, Blob};

/// A layout being written. Dropped before [`StagedLayout::commit`], it removes itself:
/// a failure never leaves a half-written layout behind.
#[derive(Debug)]
pub struct StagedLayout {
    staging: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedLayout {
    pub fn create(target: &Path) -> io::Result<Self> {
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(parent)?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        remove_abandoned(parent, &name);
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(staging.join("blobs/sha256"))?;
        fs::write(staging.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(Self { staging, target: target.to_owned(), committed: false })
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.staging.join("blobs/sha256")
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs_dir().join(digest.trim_start_matches("sha256:"))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn write_blob(&self, blob: &Blob) -> io::Result<()> {
        fs::write(self.blob_path(&blob.digest), &blob.bytes)
    }

    /// Links (or copies, across file systems) a blob from another layout.
    pub fn link_blob(&self, source: &Path, digest: &str) -> io::Result<()> {
        let target = self.blob_path(digest);
        if target.exists() {
            return Ok(());
        }
        fs::hard_link(source, &target).or_else(|_| fs::copy(source, &target).map(|_| ()))
    }

    /// Writes index.json naming `top` as `ref_name`.
    pub fn write_index(&self, top: &Blob, ref_name: &str) -> io::Result<()> {
        let mut descriptor = top.descriptor();
        descriptor["annotations"] = json!({ ANNOTATION_REF_NAME: ref_name });
        let index = json!({"schemaVersion": 2, "manifests": [descriptor]});
        fs::write(self.staging.join("index.json"), serde_json::to_vec(&index).unwrap_or_default())
    }

    /// Moves the finished layout over `target`, replacing an earlier one. The two swap
    /// places in one step (`renameat2` with `RENAME_EXCHANGE`), so that whenever the process
    /// dies, `target` holds a whole layout, old or new; the old one, left at the staging
    /// path, is removed after, or by the next run if this one is killed first. Where the
    /// file system cannot swap, two renames, with the old layout at `.NAME.old` between them
    /// (put back by the next run if one is killed there).
    pub fn commit(mut self) -> io::Result<PathBuf> {
        if self.target.exists() {
            match exchange(&self.staging, &self.target) {
                Ok(()) => {
                    self.committed = true;
                    let _ = fs::remove_dir_all(&self.staging);
                    return Ok(self.target.clone());
                }
                Err(error) if error.kind() != io::ErrorKind::Unsupported => return Err(error),
                Err(_) => {}
            }
            let old = old_path(&self.target);
            fs::rename(&self.target, &old)?;
            fs::rename(&self.staging, &self.target)?;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&self.staging, &self.target)?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }

    pub fn path(&self) -> &Path {
        &self.staging
    }
}

/// Swaps `a` and `b` in one step; `Unsupported` where the file system (or kernel) cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|errno| {
        if errno == Errno::INVAL || errno == Errno::NOSYS || errno == Errno::OPNOTSUPP {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("cannot swap {} and {}: {errno}", a.display(), b.display()),
            )
        } else {
            io::Error::from(errno)
        }
    })
}

/// Where the two-rename commit keeps the earlier layout between its renames:
/// `.NAME.old-PID`.
fn old_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    target.with_file_name(format!(".{name}.old-{}", std::process::id()))
}

/// Mends what runs that ended before committing left beside `name` (their processes are
/// gone: killed, or cut off mid-cleanup): staged layouts are removed, and an earlier layout
/// kept between a two-rename commit's renames goes back to `name` when nothing else is
/// there, else (the new one is in place) it is removed.
fn remove_abandoned(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    let target = parent.join(name);
    let staged = format!(".{name}.partial-");
    let kept = format!(".{name}.old-");
    let gone = |pid: &str| pid.parse::<u32>().is_ok_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.strip_prefix(&staged).is_some_and(gone) {
            let _ = fs::remove_dir_all(entry.path());
        } else if file_name.strip_prefix(&kept).is_some_and(gone) {
            if target.exists() {
                let _ = fs::remove_dir_all(entry.path());
            } else {
                let _ = fs::rename(entry.path(), &target);
            }
        }
    }
}

impl Drop for StagedLayout {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// What `docker load` reads from manifest.json for the image it loads.
#[derive(Debug, Clone)]
pub struct DockerManifest {
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    pub repo_tag: Option<String>,
}

/// Writes a tarball of the complete `layout` plus Docker's manifest.json: the form
/// `docker save` writes today, which `docker load` accepts. Entries are sorted with
/// fixed owners, modes and mtimes, so the tarball is as reproducible as the layout.
pub fn write_tarball(layout: &Path, docker: &DockerManifest, mtime: u64, tarball: &Path) -> io::Result<()> {
    let blob = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let mut entry = json!({
        "Config": blob(&docker.config_digest),
        "Layers": docker.layer_digests.iter().map(|d| blob(d)).collect::<Vec<_>>(),
    });
    entry["RepoTags"] = match &docker.repo_tag {
        Some(tag) => json!([tag]),
        None => Value::Null,
    };
    let manifest_json = serde_json::to_vec(&json!([entry])).unwrap_or_default();

    let mut files: Vec<String> = vec!["index.json".into(), "oci-layout".into()];
    let mut blobs: Vec<String> = fs::read_dir(layout.join("blobs/sha256"))?
        .filter_map(Result::ok)
        .map(|e| format!("blobs/sha256/{}", e.file_name().to_string_lossy()))
        .collect();
    blobs.sort();
    files.extend(blobs);

    let temporary = tarball.with_extension("partial");
    let result = (|| -> io::Result<()> {
        let mut builder = tar::Builder::new(io::BufWriter::new(File::create(&temporary)?));
        let header = |entry_type: tar::EntryType, mode: u32, size: u64| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(entry_type);
            header.set_mode(mode);
            header.set_mtime(mtime);
            header.set_uid(0);
            header.set_gid(0);
            header.set_size(size);
            header
        };
        for directory in ["blobs/", "blobs/sha256/"] {
            builder.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), directory, io::empty())?;
        }
        builder.append_data(
            &mut header(tar::EntryType::Regular, 0o644, manifest_json.len() as u64),
            "manifest.json",
            manifest_json.as_slice(),
        )?;
        for name in &files {
            let file = File::open(layout.join(name))?;
            let size = file.metadata()?.len();
            builder.append_data(&mut header(tar::EntryType::Regular, 0o644, size), name, BufReader::new(file))?;
        }
        builder.into_inner()?.flush()
    })();
    match result {
        Ok(()) => fs::rename(&temporary, tarball),
        Err(error) => {
            let _ = fs::remove_file(&temporary);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_layout_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("image");
        let staged = StagedLayout::create(&target).unwrap();
        staged.write_blob(&Blob::json("x", &json!({}))).unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_staged_layout_whose_process_is_gone_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("image");
        // Above Linux's largest pid: no such process. pid 1 always runs.
        fs::create_dir_all(dir.path().join(".image.partial-4294967295/blobs")).unwrap();
        fs::create_dir_all(dir.path().join(".image.partial-1")).unwrap();
        fs::create_dir_all(dir.path().join(".other.partial-4294967295")).unwrap();
        let staged = StagedLayout::create(&target).unwrap();
        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        let own = format!(".image.partial-{}", std::process::id());
        let mut expected = vec![".image.partial-1".to_owned(), ".other.partial-4294967295".to_owned(), own];
        expected.sort();
        assert_eq!(left, expected);
        drop(staged);
    }

    #[test]
    fn commit_replaces_an_earlier_layout() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("image");
        fs::create_dir_all(target.join("stale")).unwrap();
        let staged = StagedLayout::create(&target).unwrap();
        let top = Blob::json("application/vnd.oci.image.manifest.v1+json", &json!({"schemaVersion": 2}));
        staged.write_blob(&top).unwrap();
        staged.write_index(&top, "1.0").unwrap();
        assert_eq!(staged.commit().unwrap(), target);
        assert!(!target.join("stale").exists());
        let index: Value = serde_json::from_slice(&fs::read(target.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["annotations"][ANNOTATION_REF_NAME], "1.0");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no staging directory is left");
    }

    #[test]
    fn exchange_swaps_two_directories_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(a.join("from-a")).unwrap();
        fs::create_dir_all(b.join("from-b")).unwrap();
        exchange(&a, &b).unwrap();
        assert!(a.join("from-b").is_dir() && b.join("from-a").is_dir());
        let error = exchange(&a, &dir.path().join("absent")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    }

    #[test]
    fn a_commit_cut_off_between_its_renames_is_mended_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("image");
        // Killed after moving the earlier layout aside: it goes back.
        fs::create_dir_all(dir.path().join(".image.old-4294967295/earlier")).unwrap();
        drop(StagedLayout::create(&target).unwrap());
        assert!(target.join("earlier").is_dir(), "the earlier layout is back");
        // Killed after moving the new one in: the earlier one is removed. A live run's is kept.
        fs::create_dir_all(dir.path().join(".image.old-4294967295/earlier")).unwrap();
        fs::create_dir_all(dir.path().join(".image.old-1")).unwrap();
        drop(StagedLayout::create(&target).unwrap());
        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, [".image.old-1", "image"]);
        assert!(target.join("earlier").is_dir());
    }
}
