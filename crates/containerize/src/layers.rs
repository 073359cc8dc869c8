//! Reproducible layers: a tar of sorted entries owned by root with fixed modes and
//! mtimes, gzip-compressed at a fixed level with a zeroed header. The tar is written
//! and hashed (diff_id) on one thread while another compresses and hashes the blob,
//! through a bounded channel: both cores, bounded memory, whatever the artifact's size.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

/// The compression level every layer uses: changing it changes every digest. Layers
/// hold jars and wars, which are zip-compressed already: level 1 costs a few percent of
/// size and saves most of the time a higher level spends finding nothing to gain.
pub const GZIP_LEVEL: u32 = 1;
const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// What a layer holds: files copied from disk, written under `path` in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    /// Path inside the image, without the leading slash (`app/app.jar`).
    pub path: String,
    pub source: PathBuf,
    pub executable: bool,
}

/// A written layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// `sha256:` of the compressed blob.
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the config's rootfs diff_id).
    pub diff_id: String,
    pub size: u64,
    /// What the layer is, for history and summaries (`app`, `dependencies`).
    pub name: String,
}

/// Writes the layer `name` holding `files` into `blobs_dir` (the layout's
/// `blobs/sha256`), with every mtime at `mtime` (seconds since the epoch).
pub fn write_layer(name: &str, files: &[LayerFile], mtime: u64, blobs_dir: &Path) -> io::Result<LayerBlob> {
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let directories = parent_directories(&files);

    let (sender, receiver) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let tar_thread = std::thread::spawn(move || -> io::Result<String> {
        let mut writer = ChunkSender { sender, buffer: Vec::with_capacity(CHUNK), hasher: Sha256::new() };
        write_tar(&mut writer, &directories, &files, mtime)?;
        writer.flush_chunk()?;
        Ok(format!("sha256:{}", hex::encode(writer.hasher.finalize())))
    });

    let file_name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let temporary = blobs_dir.join(format!(".layer-{file_name}-{}.partial", std::process::id()));
    let compressed = compress(&receiver, &temporary);
    let tarred = tar_thread.join().map_err(|_| io::Error::other("the tar writer panicked"))?;
    let ((digest, size), diff_id) = match (compressed, tarred) {
        (Ok(compressed), Ok(diff_id)) => (compressed, diff_id),
        (Err(error), _) | (_, Err(error)) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
    };
    let final_path = blobs_dir.join(digest.trim_start_matches("sha256:"));
    std::fs::rename(&temporary, &final_path)?;
    Ok(LayerBlob { digest, diff_id, size, name: name.to_owned() })
}

fn compress(chunks: &Receiver<Vec<u8>>, path: &Path) -> io::Result<(String, u64)> {
    let file = HashingWriter { inner: io::BufWriter::new(File::create(path)?), hasher: Sha256::new(), written: 0 };
    // A zeroed gzip header: no name, no mtime, "unknown" OS, so the bytes never
    // depend on the machine or the clock.
    let mut encoder = GzBuilder::new().mtime(0).operating_system(255).write(file, Compression::new(GZIP_LEVEL));
    for chunk in chunks {
        encoder.write_all(&chunk)?;
    }
    let mut file = encoder.finish()?;
    file.inner.flush()?;
    Ok((format!("sha256:{}", hex::encode(file.hasher.finalize())), file.written))
}

/// Every directory above the files, each once, parents first.
fn parent_directories(files: &[LayerFile]) -> Vec<String> {
    let mut directories: Vec<String> = Vec::new();
    for file in files {
        let mut prefix = String::new();
        let parts: Vec<&str> = file.path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push_str(part);
            prefix.push('/');
            if !directories.contains(&prefix) {
                directories.push(prefix.clone());
            }
        }
    }
    directories.sort();
    directories
}

fn header(entry_type: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header
}

fn write_tar(out: &mut dyn Write, directories: &[String], files: &[LayerFile], mtime: u64) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    for directory in directories {
        let mut header = header(tar::EntryType::Directory, 0o755, 0, mtime);
        builder.append_data(&mut header, directory, io::empty())?;
    }
    for file in files {
        let source = File::open(&file.source)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.source.display())))?;
        let size = source.metadata()?.len();
        let mode = if file.executable { 0o755 } else { 0o644 };
        let mut header = header(tar::EntryType::Regular, mode, size, mtime);
        builder.append_data(&mut header, &file.path, BufReader::new(source).take(size))?;
    }
    builder.into_inner()?.flush()
}

/// Splits the tar stream into chunks for the compressing thread, hashing as it goes.
struct ChunkSender {
    sender: SyncSender<Vec<u8>>,
    buffer: Vec<u8>,
    hasher: Sha256,
}

impl ChunkSender {
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender.send(chunk).map_err(|_| io::Error::other("the compressor stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.hasher.update(bytes);
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn entries(blob: &Path) -> Vec<(String, u32, u64, u64, u64)> {
        let decoder = flate2::read::GzDecoder::new(File::open(blob).unwrap());
        let mut archive = tar::Archive::new(decoder);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().display().to_string(),
                    header.mode().unwrap(),
                    header.uid().unwrap(),
                    header.mtime().unwrap(),
                    header.size().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn layers_are_sorted_owned_by_root_with_fixed_modes() {
        let src = tempfile::tempdir().unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let files = vec![
            LayerFile { path: "app/lib/z.jar".into(), source: file(src.path(), "z", b"zz"), executable: false },
            LayerFile { path: "app/bin/start".into(), source: file(src.path(), "s", b"#!/bin/sh"), executable: true },
            LayerFile { path: "app/app.jar".into(), source: file(src.path(), "a", b"jar"), executable: false },
        ];
        let blob = write_layer("app", &files, 1_700_000_000, blobs.path()).unwrap();
        let path = blobs.path().join(blob.digest.trim_start_matches("sha256:"));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), blob.size);
        assert_eq!(
            entries(&path),
            vec![
                ("app/".into(), 0o755, 0, 1_700_000_000, 0),
                ("app/bin/".into(), 0o755, 0, 1_700_000_000, 0),
                ("app/lib/".into(), 0o755, 0, 1_700_000_000, 0),
                ("app/app.jar".into(), 0o644, 0, 1_700_000_000, 3),
                ("app/bin/start".into(), 0o755, 0, 1_700_000_000, 9),
                ("app/lib/z.jar".into(), 0o644, 0, 1_700_000_000, 2),
            ]
        );
        let header = std::fs::read(&path).unwrap();
        assert_eq!(&header[4..8], &[0, 0, 0, 0], "gzip mtime is zero");
        assert_eq!(header[9], 255, "gzip OS is unknown");
    }

    #[test]
    fn same_inputs_same_digests_whatever_the_order_mode_and_clock() {
        let src = tempfile::tempdir().unwrap();
        let a = file(src.path(), "a", &vec![7u8; 3 * CHUNK + 17]);
        let b = file(src.path(), "b", b"b");
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let files = vec![
            LayerFile { path: "app/a.jar".into(), source: a.clone(), executable: false },
            LayerFile { path: "app/b.jar".into(), source: b.clone(), executable: false },
        ];
        let first = write_layer("app", &files, 0, one.path()).unwrap();
        // Other source modes and mtimes, reversed order: the same layer.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o600)).unwrap();
        File::options().write(true).open(&b).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
        let reversed: Vec<LayerFile> = files.into_iter().rev().collect();
        let second = write_layer("app", &reversed, 0, two.path()).unwrap();
        assert_eq!(first, second);
        assert_ne!(first.digest, first.diff_id);
    }

    #[test]
    fn the_diff_id_is_the_digest_of_the_decompressed_blob() {
        let src = tempfile::tempdir().unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let files = vec![LayerFile {
            path: "app/a.jar".into(),
            source: file(src.path(), "a", &vec![3u8; CHUNK * 2 + 5]),
            executable: false,
        }];
        let blob = write_layer("app", &files, 0, blobs.path()).unwrap();
        let path = blobs.path().join(blob.digest.trim_start_matches("sha256:"));
        let mut decoder = flate2::read::GzDecoder::new(File::open(path).unwrap());
        let mut hasher = Sha256::new();
        io::copy(&mut decoder, &mut hasher).unwrap();
        assert_eq!(blob.diff_id, format!("sha256:{}", hex::encode(hasher.finalize())));
    }

    #[test]
    fn long_paths_survive() {
        let src = tempfile::tempdir().unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let long = format!("app/lib/{}.jar", "x".repeat(150));
        let files = vec![LayerFile { path: long.clone(), source: file(src.path(), "l", b"l"), executable: false }];
        let blob = write_layer("deps", &files, 0, blobs.path()).unwrap();
        let listed = entries(&blobs.path().join(blob.digest.trim_start_matches("sha256:")));
        assert_eq!(listed.last().unwrap().0, long);
    }
}
