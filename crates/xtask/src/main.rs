//! `cargo run -p xtask -- actions [--check]` (or `cargo xtask actions`): writes the GitHub
//! Actions from the binaries' clap definitions; with `--check`, only says which differ.

use std::process::ExitCode;

use anyhow::{Context as _, bail};

const USAGE: &str = "usage: cargo run -p xtask -- actions [--check]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> anyhow::Result<ExitCode> {
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["actions"] => false,
        ["actions", "--check"] => true,
        _ => bail!("{USAGE}"),
    };
    let root = xtask::workspace_root();
    let files = xtask::actions::generate()?;
    let stale = xtask::stale_files(&root, &files);
    if check {
        for file in &stale {
            eprint!("{}", file.diff);
        }
        if stale.is_empty() {
            eprintln!("xtask: the {} action files are up to date", files.len());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "xtask: {} action file(s) differ from the binaries' flags; run `cargo run -p xtask -- actions`",
            stale.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    for (path, text) in files.iter().filter(|(path, _)| stale.iter().any(|file| file.path == *path)) {
        let full = root.join(path);
        std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
        eprintln!("xtask: wrote {path}");
    }
    if stale.is_empty() {
        eprintln!("xtask: the {} action files were up to date", files.len());
    }
    Ok(ExitCode::SUCCESS)
}
