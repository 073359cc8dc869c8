//! slipway's repository tasks (`cargo run -p xtask -- <task>`).
//!
//! - `actions`: writes `actions/<step>/action.yml` and the top-level `action.yml` from the
//!   binaries' clap definitions ([`actions::generate`]); `actions --check` only compares.

pub mod actions;

use std::path::{Path, PathBuf};

/// The workspace's root directory (this crate is `crates/xtask`), from the
/// `CARGO_MANIFEST_DIR` cargo sets when it runs us (a build shared between checkouts may
/// carry another checkout's compile-time path), else the compile-time one.
pub fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.ancestors().nth(2).map(Path::to_path_buf).unwrap_or(manifest)
}

/// A checked-in file that differs from what the generator writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub path: String,
    /// A unified diff from the checked-in text to the generated one.
    pub diff: String,
}

/// The generated files under `root` that differ from `files` (path, generated text).
pub fn stale_files(root: &Path, files: &[(String, String)]) -> Vec<Stale> {
    files
        .iter()
        .filter_map(|(path, generated)| {
            let current = std::fs::read_to_string(root.join(path)).unwrap_or_default();
            (current != *generated).then(|| Stale {
                path: path.clone(),
                diff: similar::TextDiff::from_lines(&current, generated)
                    .unified_diff()
                    .context_radius(2)
                    .header(&format!("{path} (checked in)"), &format!("{path} (generated)"))
                    .to_string(),
            })
        })
        .collect()
}
