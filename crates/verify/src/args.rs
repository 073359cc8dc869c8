//! The step's flags. Values stay text here: [`crate::Plan::from_args`] validates them
//! all, so an action that passes an empty input (an empty `SLIPWAY_*` variable) means
//! "not set", and every bad value gets one line naming its flag.

use std::path::PathBuf;

/// Flags of `verify`; each non-secret flag also reads `SLIPWAY_<FLAG>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct VerifyArgs {
    /// Base URL of the service, http or https (deploy's `url` output). Check paths are
    /// appended to it, so a base path such as https://host/app is kept.
    #[arg(long, env = "SLIPWAY_URL", value_name = "URL", help_heading = "Target")]
    pub url: String,

    /// Path to check under --url, with an optional query. Repeat for several checks (one
    /// per line in the variable); every check must pass in the same attempt.
    #[arg(long = "check", env = "SLIPWAY_CHECK", value_name = "PATH", default_value = "/", help_heading = "Target")]
    pub checks: Vec<String>,

    /// HTTP method of the checks: GET, HEAD, OPTIONS, POST, PUT, PATCH or DELETE.
    #[arg(long, env = "SLIPWAY_METHOD", value_name = "METHOD", default_value = "GET", help_heading = "Target")]
    pub method: String,

    /// Request header NAME:VALUE, repeatable. A secret comes from the environment, never
    /// the command line: `NAME:$VAR`, `NAME:${VAR}` (also inside text, as in
    /// `Authorization:Bearer ${TOKEN}`) or `NAME:env:VAR`; it is masked in every log.
    /// Write `$$` for a literal `$`.
    #[arg(
        long = "header",
        env = "SLIPWAY_HEADER",
        value_name = "NAME:VALUE",
        hide_env_values = true,
        help_heading = "Target"
    )]
    pub headers: Vec<String>,

    /// Accepted status of the checks: codes and classes, comma-separated (`200`,
    /// `200,204`, `2xx`, `2xx,301`). Redirects are not followed: a check sees the 3xx.
    #[arg(
        long,
        env = "SLIPWAY_EXPECT_STATUS",
        value_name = "STATUS",
        default_value = "2xx",
        help_heading = "Expectations"
    )]
    pub expect_status: String,

    /// A regular expression each check's body must match, repeatable (all must match).
    #[arg(long, env = "SLIPWAY_EXPECT_BODY", value_name = "REGEX", help_heading = "Expectations")]
    pub expect_body: Vec<String>,

    /// POINTER=VALUE: the JSON body's field at the JSON pointer (RFC 6901, e.g.
    /// `/status=UP`) equals VALUE, compared as JSON when VALUE parses as JSON
    /// (`/ready=true`, `/replicas=3`), else as text. Repeatable.
    #[arg(long, env = "SLIPWAY_EXPECT_JSON", value_name = "POINTER=VALUE", help_heading = "Expectations")]
    pub expect_json: Vec<String>,

    /// NAME=REGEX: the response header NAME is present and matches REGEX. Repeatable.
    #[arg(long, env = "SLIPWAY_EXPECT_HEADER", value_name = "NAME=REGEX", help_heading = "Expectations")]
    pub expect_header: Vec<String>,

    /// Passes only when the service serves exactly this version (read from --version-path).
    /// A different version is retried until --timeout: the old one may still answer
    /// during a rollout.
    #[arg(long, env = "SLIPWAY_EXPECT_VERSION", value_name = "VALUE", help_heading = "Version proof")]
    pub expect_version: Option<String>,

    /// Path that serves the version (GET, 2xx expected).
    #[arg(
        long,
        env = "SLIPWAY_VERSION_PATH",
        value_name = "PATH",
        default_value = "/version",
        help_heading = "Version proof"
    )]
    pub version_path: String,

    /// JSON pointer of the version when --version-path answers a JSON object; any other
    /// body is taken whole, trimmed, as the version.
    #[arg(
        long,
        env = "SLIPWAY_VERSION_POINTER",
        value_name = "POINTER",
        default_value = "/version",
        help_heading = "Version proof"
    )]
    pub version_pointer: String,

    /// Overall time to wait for the service to pass, latency samples included. Attempts
    /// start until then; a request under way at the deadline gets at most 1s more, a
    /// latency sample none.
    #[arg(
        long,
        env = "SLIPWAY_TIMEOUT",
        value_name = "DURATION",
        default_value = "2m",
        allow_hyphen_values = true,
        help_heading = "Waiting"
    )]
    pub timeout: String,

    /// First pause between failed attempts; it doubles after each failure (with random
    /// jitter) up to 30s, or up to this interval when longer. Also the pause between
    /// successes when --consecutive is above 1, and between the rounds of --watch.
    #[arg(
        long,
        env = "SLIPWAY_INTERVAL",
        value_name = "DURATION",
        default_value = "2s",
        allow_hyphen_values = true,
        help_heading = "Waiting"
    )]
    pub interval: String,

    /// Successful attempts in a row needed to pass (a flapping service fails above 1).
    #[arg(
        long,
        env = "SLIPWAY_CONSECUTIVE",
        value_name = "N",
        default_value = "1",
        allow_hyphen_values = true,
        help_heading = "Waiting"
    )]
    pub consecutive: String,

    /// Time limit of each request, from connecting to the end of the body.
    #[arg(
        long,
        env = "SLIPWAY_REQUEST_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true,
        help_heading = "Waiting"
    )]
    pub request_timeout: String,

    /// Requests sent after the checks pass to measure latency (p50/p95/p99 outputs),
    /// spread over the checks in turn; each must pass its expectations. Default: 0, or 20
    /// when --latency-p95 is set without --watch.
    #[arg(long, env = "SLIPWAY_SAMPLES", value_name = "N", allow_hyphen_values = true, help_heading = "Latency")]
    pub samples: Option<String>,

    /// Fails the step when the p95 latency of the samples exceeds this duration (`250ms`);
    /// with --watch, a gate on the p95 of the window's probes instead.
    #[arg(
        long,
        env = "SLIPWAY_LATENCY_P95",
        value_name = "DURATION",
        allow_hyphen_values = true,
        help_heading = "Latency"
    )]
    pub latency_p95: Option<String>,

    /// Watch the service for this long once it is healthy (a bake window after a deploy):
    /// a round of the checks every --interval, judged by the gates below and
    /// --latency-p95 / --expect-version; exit 1 the moment a gate is crossed, naming it,
    /// the value observed and the threshold.
    #[arg(long, env = "SLIPWAY_WATCH", value_name = "DURATION", allow_hyphen_values = true, help_heading = "Analysis")]
    pub watch: Option<String>,

    /// With --watch: the largest share of failed probes (no answer, or an unmet
    /// expectation), `5%` or `0.05`. Default: 0, every probe must pass. Judged once 10
    /// probes have answered, and at the end of the window.
    #[arg(long, env = "SLIPWAY_MAX_ERROR_RATE", value_name = "RATIO", help_heading = "Analysis")]
    pub max_error_rate: Option<String>,

    /// With --watch: the largest p99 latency of the probes (`500ms`).
    #[arg(
        long,
        env = "SLIPWAY_LATENCY_P99",
        value_name = "DURATION",
        allow_hyphen_values = true,
        help_heading = "Analysis"
    )]
    pub latency_p99: Option<String>,

    /// With --watch: the Prometheus server the --metric gates query (http://prometheus:9090).
    #[arg(long, env = "SLIPWAY_PROMETHEUS", value_name = "URL", help_heading = "Analysis")]
    pub prometheus: Option<String>,

    /// With --watch: a Prometheus gate NAME:PROMQL<=THRESHOLD (comparisons <, <=, >, >=,
    /// ==), queried every round; every sample of the instant vector (or the scalar) must
    /// satisfy it. A query error, an empty vector at the end of the window or NaN is a
    /// failure (inconclusive), not a pass. Repeatable.
    #[arg(long, env = "SLIPWAY_METRIC", value_name = "NAME:PROMQL<=THRESHOLD", help_heading = "Analysis")]
    pub metric: Vec<String>,

    /// With --watch: a CloudWatch alarm (metric or composite) that must stay out of ALARM,
    /// read every round (cloudwatch:DescribeAlarms, the default AWS credentials and region);
    /// ALARM ends the window at once, INSUFFICIENT_DATA at its end or an AWS error is a
    /// failure (inconclusive). An alarm that does not exist is bad input. Repeatable.
    #[arg(long = "alarm", env = "SLIPWAY_ALARM", value_name = "NAME", help_heading = "Analysis")]
    pub alarms: Vec<String>,

    /// Fails the step when the https certificate expires in fewer than N days.
    #[arg(long, env = "SLIPWAY_TLS_MIN_DAYS", value_name = "N", allow_hyphen_values = true, help_heading = "TLS")]
    pub tls_min_days: Option<String>,

    /// Also trust the CA certificates in this PEM file (a private or test CA).
    #[arg(long, env = "SLIPWAY_CA_CERT", value_name = "FILE", help_heading = "TLS")]
    pub ca_cert: Option<PathBuf>,

    /// DANGEROUS: do not verify TLS certificates at all (anyone on the path can
    /// impersonate the service). Prefer --ca-cert.
    #[arg(long, env = "SLIPWAY_INSECURE", help_heading = "TLS")]
    pub insecure: bool,
}
