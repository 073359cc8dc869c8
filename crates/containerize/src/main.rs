//! `containerize`: the binary; its flags (`slipway_containerize::Cli`) and the work are in the library.

fn main() -> std::process::ExitCode {
    slipway_contract::step::main::<slipway_containerize::Cli>()
}
