//! `verify`: the binary; flags are parsed here, the work is in the library.

slipway_contract::step_main! {
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
            Outputs: healthy, attempts, http-status, version-seen, p50-ms, p95-ms, p99-ms, \
            tls-days-left. Exit codes: 0 healthy, 1 unhealthy (with the last reason), 2 bad input."
    )]
    step: "verify",
    args: slipway_verify::VerifyArgs,
    run: slipway_verify::run,
}
