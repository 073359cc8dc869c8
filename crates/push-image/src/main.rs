//! `push-image`: the binary; its flags (`slipway_push_image::Cli`) and the work are in the library.

fn main() -> std::process::ExitCode {
    slipway_contract::step::main::<slipway_push_image::Cli>()
}
