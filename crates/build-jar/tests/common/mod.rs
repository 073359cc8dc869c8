//! Running the build-jar binary the way CI does, with a clean environment.

use std::process::Command;

#[allow(unused_imports)] // Each test file uses its own subset.
pub use slipway_testkit::{class_bytes, output_value as output, run_with_sinks, write_zip};

/// The binary with no CI variables of the machine running the tests.
pub fn build_jar() -> Command {
    slipway_testkit::step_command(env!("CARGO_BIN_EXE_build-jar"))
}
