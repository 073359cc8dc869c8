//! Reproducible layers: a tar of sorted entries owned by root with fixed modes and
//! mtimes, stored as `--compression` says:
//!
//! - gzip (the default, every runtime takes it): level 1 with a zeroed header. The tar is
//!   written and hashed (diff_id) on one thread while another compresses and hashes the blob,
//!   through a bounded channel: both cores, bounded memory, whatever the artifact's size.
//! - none: the tar itself, written and hashed in one pass; its digest is its diff_id.
//! - zstd: as gzip, but the compressing thread hands fixed-size jobs ([`ZSTD_JOB_SIZE`]) to
//!   zstd's workers. The jobs' bounds never depend on how many workers there are, and neither
//!   do the bytes: the layer's digest is the same on every machine.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use flate2::GzBuilder;
use sha2::{Digest, Sha256};
use slipway_registry::media;

/// The compression level every gzip layer uses: changing it changes every digest. Layers
/// hold jars and wars, which are zip-compressed already: level 1 costs a few percent of
/// size and saves most of the time a higher level spends finding nothing to gain.
pub const GZIP_LEVEL: u32 = 1;
/// The zstd level of every zstd layer (zstd's own default): changing it changes every digest.
pub const ZSTD_LEVEL: i32 = 3;
/// The input each zstd job compresses, on whichever worker is free: fixed, so that the
/// compressed bytes are the same with one worker or sixteen. zstd holds a few jobs' input and
/// output per worker: 1 MiB keeps that to some MiB.
pub const ZSTD_JOB_SIZE: u32 = 1024 * 1024;
/// zstd's workers at most (on a machine with more cores the layer's bytes are the same).
const MAX_ZSTD_WORKERS: usize = 8;
const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// How a layer's tar is stored (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    #[default]
    Gzip,
    None,
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer stored this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Gzip => media::OCI_LAYER_GZIP,
            Self::None => media::OCI_LAYER_TAR,
            Self::Zstd => media::OCI_LAYER_ZSTD,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::None => "none",
            Self::Zstd => "zstd",
        }
    }
}

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
    /// The layer's OCI media type, as its compression says.
    pub media_type: &'static str,
}

/// Writes the layer `name` holding `files` into `blobs_dir` (the layout's
/// `blobs/sha256`), with every mtime at `mtime` (seconds since the epoch), stored as
/// `compression` says.
pub fn write_layer(
    name: &str,
    files: &[LayerFile],
    mtime: u64,
    compression: Compression,
    blobs_dir: &Path,
) -> io::Result<LayerBlob> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_ZSTD_WORKERS);
    write_layer_with(name, files, mtime, compression, u32::try_from(workers).unwrap_or(1), blobs_dir)
}

/// [`write_layer`] with `zstd_workers` (at least 1) compressing a zstd layer.
fn write_layer_with(
    name: &str,
    files: &[LayerFile],
    mtime: u64,
    compression: Compression,
    zstd_workers: u32,
    blobs_dir: &Path,
) -> io::Result<LayerBlob> {
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let directories = parent_directories(&files);
    let file_name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let temporary = blobs_dir.join(format!(".layer-{file_name}-{}.partial", std::process::id()));

    let written = match compression {
        // One pass: the tar's hash is both the blob's digest and its diff_id.
        Compression::None => write_plain(&temporary, &directories, &files, mtime).map(|(digest, size)| {
            let diff_id = digest.clone();
            ((digest, size), diff_id)
        }),
        Compression::Gzip | Compression::Zstd => {
            let (sender, receiver) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
            let tar_thread = std::thread::spawn(move || -> io::Result<String> {
                let mut writer = ChunkSender { sender, buffer: Vec::with_capacity(CHUNK), hasher: Sha256::new() };
                write_tar(&mut writer, &directories, &files, mtime)?;
                writer.flush_chunk()?;
                Ok(format!("sha256:{}", hex::encode(writer.hasher.finalize())))
            });
            let compressed = compress(&receiver, &temporary, compression, zstd_workers);
            // A failed compressor drops the receiver, which stops the tar thread.
            drop(receiver);
            let tarred = tar_thread.join().map_err(|_| io::Error::other("the tar writer panicked"))?;
            match (compressed, tarred) {
                (Ok(compressed), Ok(diff_id)) => Ok((compressed, diff_id)),
                (Err(error), _) | (_, Err(error)) => Err(error),
            }
        }
    };
    let ((digest, size), diff_id) = match written {
        Ok(written) => written,
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
    };
    let final_path = blobs_dir.join(digest.trim_start_matches("sha256:"));
    std::fs::rename(&temporary, &final_path)?;
    Ok(LayerBlob { digest, diff_id, size, name: name.to_owned(), media_type: compression.media_type() })
}

/// An uncompressed layer: the tar written to `path` and hashed on the way.
fn write_plain(path: &Path, directories: &[String], files: &[LayerFile], mtime: u64) -> io::Result<(String, u64)> {
    let mut file = HashingWriter {
        inner: io::BufWriter::with_capacity(CHUNK, File::create(path)?),
        hasher: Sha256::new(),
        written: 0,
    };
    write_tar(&mut file, directories, files, mtime)?;
    file.inner.flush()?;
    Ok((format!("sha256:{}", hex::encode(file.hasher.finalize())), file.written))
}

fn compress(
    chunks: &Receiver<Vec<u8>>,
    path: &Path,
    compression: Compression,
    zstd_workers: u32,
) -> io::Result<(String, u64)> {
    let file = HashingWriter { inner: io::BufWriter::new(File::create(path)?), hasher: Sha256::new(), written: 0 };
    let mut file = if compression == Compression::Zstd {
        use zstd::stream::raw::CParameter;
        let mut encoder = zstd::Encoder::new(file, ZSTD_LEVEL)?;
        // Workers (never 0: zstd's single-threaded mode writes other bytes) each take a job
        // of a fixed size; the frame's bytes are the same whatever their number.
        encoder.multithread(zstd_workers.max(1))?;
        encoder.set_parameter(CParameter::JobSize(ZSTD_JOB_SIZE))?;
        encoder.include_checksum(true)?;
        for chunk in chunks {
            encoder.write_all(&chunk)?;
        }
        encoder.finish()?
    } else {
        // A zeroed gzip header: no name, no mtime, "unknown" OS, so the bytes never
        // depend on the machine or the clock.
        let mut encoder =
            GzBuilder::new().mtime(0).operating_system(255).write(file, flate2::Compression::new(GZIP_LEVEL));
        for chunk in chunks {
            encoder.write_all(&chunk)?;
        }
        encoder.finish()?
    };
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
        // The layer is written off the runtime, which waits for it when the step is
        // interrupted: a cancelled job stops here rather than after the whole layer.
        if let Some(signal) = slipway_contract::interrupt::requested() {
            return Err(io::Error::other(format!("interrupted by {signal}")));
        }
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

    /// The blob's tar, decompressed as `compression` says.
    fn tar_of(blob: &Path, compression: Compression) -> Vec<u8> {
        let file = File::open(blob).unwrap();
        let mut tar = Vec::new();
        match compression {
            Compression::Gzip => flate2::read::GzDecoder::new(file).read_to_end(&mut tar).unwrap(),
            Compression::None => BufReader::new(file).read_to_end(&mut tar).unwrap(),
            Compression::Zstd => zstd::Decoder::new(file).unwrap().read_to_end(&mut tar).unwrap(),
        };
        tar
    }

    fn entries(blob: &Path) -> Vec<(String, u32, u64, u64, u64)> {
        entries_of(&tar_of(blob, Compression::Gzip))
    }

    fn entries_of(tar: &[u8]) -> Vec<(String, u32, u64, u64, u64)> {
        let mut archive = tar::Archive::new(tar);
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
        let blob = write_layer("app", &files, 1_700_000_000, Compression::Gzip, blobs.path()).unwrap();
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
        let first = write_layer("app", &files, 0, Compression::Gzip, one.path()).unwrap();
        // Other source modes and mtimes, reversed order: the same layer.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o600)).unwrap();
        File::options().write(true).open(&b).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
        let reversed: Vec<LayerFile> = files.into_iter().rev().collect();
        let second = write_layer("app", &reversed, 0, Compression::Gzip, two.path()).unwrap();
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
        let blob = write_layer("app", &files, 0, Compression::Gzip, blobs.path()).unwrap();
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
        let blob = write_layer("deps", &files, 0, Compression::Gzip, blobs.path()).unwrap();
        let listed = entries(&blobs.path().join(blob.digest.trim_start_matches("sha256:")));
        assert_eq!(listed.last().unwrap().0, long);
    }

    /// Bytes that compress, but not to nothing: lines of numbers from a fixed generator.
    fn text(len: usize) -> Vec<u8> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut out = Vec::with_capacity(len + 32);
        while out.len() < len {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            out.extend_from_slice(format!("{} {}\n", state >> 52, (state >> 20) & 0xff).as_bytes());
        }
        out.truncate(len);
        out
    }

    fn blob_path(blobs: &Path, layer: &LayerBlob) -> PathBuf {
        blobs.join(layer.digest.trim_start_matches("sha256:"))
    }

    #[test]
    fn an_uncompressed_layer_is_the_tar_and_its_digest_is_its_diff_id() {
        let src = tempfile::tempdir().unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let files = vec![
            LayerFile {
                path: "app/app.jar".into(),
                source: file(src.path(), "a", &text(CHUNK * 3 + 5)),
                executable: false,
            },
            LayerFile { path: "app/bin/start".into(), source: file(src.path(), "s", b"#!/bin/sh"), executable: true },
        ];
        let layer = write_layer("app", &files, 7, Compression::None, blobs.path()).unwrap();
        assert_eq!(layer.digest, layer.diff_id);
        assert_eq!(layer.media_type, "application/vnd.oci.image.layer.v1.tar");
        let bytes = std::fs::read(blob_path(blobs.path(), &layer)).unwrap();
        assert_eq!(bytes.len() as u64, layer.size);
        assert_eq!(layer.digest, format!("sha256:{}", hex::encode(Sha256::digest(&bytes))));
        // The same tar gzip would have compressed: only the storage differs.
        let gzipped = write_layer("app", &files, 7, Compression::Gzip, blobs.path()).unwrap();
        assert_eq!(gzipped.diff_id, layer.diff_id);
        assert_eq!(tar_of(&blob_path(blobs.path(), &gzipped), Compression::Gzip), bytes);
        let listed: Vec<(String, u32)> = entries_of(&bytes).into_iter().map(|(path, mode, ..)| (path, mode)).collect();
        assert_eq!(
            listed,
            vec![
                ("app/".into(), 0o755),
                ("app/bin/".into(), 0o755),
                ("app/app.jar".into(), 0o644),
                ("app/bin/start".into(), 0o755)
            ]
        );
        assert_eq!(std::fs::read_dir(blobs.path()).unwrap().count(), 2, "no partial file is left");
    }

    #[test]
    fn a_zstd_layer_has_the_same_bytes_with_one_worker_or_two() {
        let src = tempfile::tempdir().unwrap();
        // Over two jobs, so that two workers both have one.
        let big = file(src.path(), "big", &text(2 * ZSTD_JOB_SIZE as usize + 123_457));
        let small = file(src.path(), "small", b"config");
        let files = vec![
            LayerFile { path: "app/app.jar".into(), source: big, executable: false },
            LayerFile { path: "app/app.conf".into(), source: small, executable: false },
        ];
        let layers: Vec<(LayerBlob, Vec<u8>)> = [1, 2, 3]
            .into_iter()
            .map(|workers| {
                let blobs = tempfile::tempdir().unwrap();
                let layer = write_layer_with("app", &files, 0, Compression::Zstd, workers, blobs.path()).unwrap();
                let bytes = std::fs::read(blob_path(blobs.path(), &layer)).unwrap();
                (layer, bytes)
            })
            .collect();
        let (one, one_bytes) = &layers[0];
        for (other, other_bytes) in &layers[1..] {
            assert_eq!(other, one);
            assert!(other_bytes == one_bytes);
        }
        assert_eq!(one.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        assert_eq!(&one_bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
        assert!(one.size < (ZSTD_JOB_SIZE as u64) * 2, "compressed: {} bytes", one.size);
        // The diff_id is the digest of the tar the blob decompresses to.
        let blobs = tempfile::tempdir().unwrap();
        std::fs::write(blobs.path().join("blob"), one_bytes).unwrap();
        let tar = tar_of(&blobs.path().join("blob"), Compression::Zstd);
        assert_eq!(one.diff_id, format!("sha256:{}", hex::encode(Sha256::digest(&tar))));
        let plain = write_layer("app", &files, 0, Compression::None, blobs.path()).unwrap();
        assert_eq!(plain.diff_id, one.diff_id, "the same tar, stored two ways");
    }

    /// The bytes of each format, pinned (over two zstd jobs): a change of level, job size,
    /// header or library version that changes them changes every image's digest, and must be
    /// a decision.
    #[test]
    fn each_format_writes_known_bytes() {
        let src = tempfile::tempdir().unwrap();
        let files = vec![LayerFile {
            path: "app/app.jar".into(),
            source: file(src.path(), "a", &text(ZSTD_JOB_SIZE as usize + 100_000)),
            executable: false,
        }];
        let digests: Vec<(&str, String)> = [Compression::Gzip, Compression::None, Compression::Zstd]
            .into_iter()
            .map(|compression| {
                let blobs = tempfile::tempdir().unwrap();
                let layer = write_layer("app", &files, 1_700_000_000, compression, blobs.path()).unwrap();
                (compression.as_str(), layer.digest)
            })
            .collect();
        let pinned = [
            ("gzip", "sha256:51302de7999af74373dece1c6bab3fcb09f25ef19ac2a187f9770c3cf0f3cf49"),
            ("none", "sha256:276da9bb499c5ec59504293a2b4ca0202fdf62f30e0a9a1c103acee9aae2b149"),
            ("zstd", "sha256:6b03e5022fa9480ee593af3a74780ddfecbd7ced7fe4fd508e48319a582eda96"),
        ];
        let pinned: Vec<(&str, String)> = pinned.iter().map(|(name, digest)| (*name, (*digest).to_owned())).collect();
        assert_eq!(digests, pinned);
    }
}
