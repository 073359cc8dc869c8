//! What push-image's fault and token tests share: the binary, an image with random layers
//! made by containerize in process, and the digest a layout's index names.
#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use slipway_contract::CiMode;
use slipway_contract::console::CapturedLog;
use slipway_testkit::{class_bytes, step_command, write_zip};

pub fn push_image() -> Command {
    step_command(env!("CARGO_BIN_EXE_push-image"))
}

/// Layer sizes of [`layout`]: random bytes in the app's JAR and in each extra layer.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub app_kib: usize,
    pub extra_kib: usize,
}

/// An image made by containerize in process on `base`: the app's layer plus `extra`
/// layers of fresh random bytes each, so no blob exists anywhere yet.
pub fn layout(dir: &Path, base: &str, extra: usize, sizes: Sizes) -> PathBuf {
    let tag = fastrand::u32(..);
    let jar = dir.join(format!("app-{tag}.jar"));
    let noise: Vec<u8> = (0..sizes.app_kib * 1024).map(|_| fastrand::u8(..)).collect();
    write_zip(
        &jar,
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: a.App\r\n\r\n".to_vec()),
            ("a/App.class", class_bytes(17)),
            ("noise.bin", noise),
        ],
    );
    let output = dir.join(format!("layout-{tag}"));
    let mut args = slipway_containerize::ContainerizeArgs::for_artifact(&jar, base, &output).unwrap();
    for layer in 0..extra {
        let files = dir.join(format!("extra-{tag}-{layer}"));
        std::fs::create_dir_all(&files).unwrap();
        let bytes: Vec<u8> = (0..sizes.extra_kib * 1024).map(|_| fastrand::u8(..)).collect();
        std::fs::write(files.join("data.bin"), bytes).unwrap();
        args.add.push(format!("{}:/opt/extra{layer}", files.display()));
    }
    let log = CapturedLog::default();
    slipway_containerize::run(&args, &log.console("containerize", CiMode::Plain))
        .unwrap_or_else(|e| panic!("{e}: {}", log.text()));
    output
}

/// The digest of the manifest (or index) a layout's `index.json` names first.
pub fn top_digest(layout: &Path) -> String {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}
