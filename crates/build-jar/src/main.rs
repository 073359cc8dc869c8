//! `build-jar`: the binary; its flags (`slipway_build_jar::Cli`) and the work are in the library.

fn main() -> std::process::ExitCode {
    slipway_contract::step::main::<slipway_build_jar::Cli>()
}
