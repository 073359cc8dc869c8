//! The analysis flags of the judged-rollout tests on the AWS targets' mocks: gate flags and
//! their values in pairs, `{url}` standing for the probed stand-in's URL (Prometheus's
//! query API is served there too).

use slipway_deploy::analysis::AnalysisFlags;

/// `--max-error-rate`, `--prometheus` and `--metric` from `gates` (flag, value, flag, value...).
pub fn analysis_flags(gates: &[&str], url: &str) -> AnalysisFlags {
    let mut flags = AnalysisFlags::default();
    let mut gates = gates.iter();
    while let (Some(flag), Some(value)) = (gates.next(), gates.next()) {
        let value = value.replace("{url}", url);
        match *flag {
            "--max-error-rate" => flags.max_error_rate = Some(value),
            "--prometheus" => flags.prometheus = Some(value),
            "--metric" => flags.metric.push(value),
            other => panic!("no gate {other}"),
        }
    }
    flags
}
