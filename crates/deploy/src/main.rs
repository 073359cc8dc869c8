//! `deploy`: the binary; its flags (`slipway_deploy::Cli`) and the work are in the library.

fn main() -> std::process::ExitCode {
    slipway_contract::step::main::<slipway_deploy::Cli>()
}
