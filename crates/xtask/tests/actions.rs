//! The checked-in GitHub Actions are what the generator writes from the binaries' flags.

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

#[test]
fn checked_in_actions_are_generated_from_the_binaries_flags() {
    let files = xtask::actions::generate().unwrap();
    assert_eq!(files.len(), 6, "five step actions and the top-level one");
    let stale = xtask::stale_files(&xtask::workspace_root(), &files);
    let diffs: String = stale.iter().map(|file| file.diff.as_str()).collect();
    assert!(
        stale.is_empty(),
        "{} action file(s) differ from what the binaries' clap definitions give; run `cargo run -p xtask -- actions` \
         (or `cargo xtask actions`) and commit the result:\n{diffs}",
        stale.len()
    );
}
