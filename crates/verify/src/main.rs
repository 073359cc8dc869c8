//! `verify`: the binary; its flags (`slipway_verify::Cli`) and the work are in the library.

fn main() -> std::process::ExitCode {
    slipway_contract::step::main::<slipway_verify::Cli>()
}
