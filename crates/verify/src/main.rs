//! `verify`: waits until a deployed service is healthy and proves what it serves.

use slipway_contract::CommonArgs;

#[derive(Debug, clap::Parser)]
#[command(
    name = "verify",
    version,
    about = "Wait until a deployed service is healthy, prove its version, measure its latency",
    long_about = "Wait until a deployed service is healthy, prove its version, measure its latency.\n\n\
        Every --check path is requested under --url, all in one attempt, until an attempt \
        passes (--consecutive times in a row) or --timeout runs out; failures (connection \
        refused, DNS, TLS, 5xx, a wrong version, an unmet expectation) are retried with \
        exponential backoff and jitter. Then the TLS certificate lifetime and the latency \
        budget are checked.\n\n\
        Outputs: healthy, attempts, status, version-seen, p50-ms, p95-ms, p99-ms, \
        tls-days-left. Exit codes: 0 healthy, 1 unhealthy (with the last reason), 2 bad input."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    args: slipway_verify::VerifyArgs,
}

impl slipway_contract::step::StepCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

fn main() -> std::process::ExitCode {
    slipway_contract::run_step("verify", |cli: Cli, console| slipway_verify::run(&cli.args, console))
}
