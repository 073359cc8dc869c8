//! Flags every step shares, and the parsers for the contract's value syntaxes
//! (durations `90s`/`5m`/`1h30m`, sizes `512MiB`, one-per-line lists).

use std::path::PathBuf;
use std::time::Duration;

/// Output flags every binary takes (flatten into the step's clap struct).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct CommonArgs {
    /// Print the outputs on standard output as one JSON object instead of key=value lines.
    #[arg(long, env = "SLIPWAY_JSON")]
    pub json: bool,

    /// Also write the outputs to FILE as a GitLab dotenv report (keys SLIPWAY_UPPER_SNAKE).
    #[arg(long, env = "SLIPWAY_DOTENV", value_name = "FILE")]
    pub dotenv: Option<PathBuf>,
}

/// Parses `90s`, `5m`, `1h30m`, `250ms`: a duration written with units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("`{text}` is negative; a duration is written like 90s, 5m or 1h30m"));
    }
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` has no unit; write it like {trimmed}s or {trimmed}m"));
    }
    humantime::parse_duration(trimmed)
        .map_err(|error| format!("`{text}` is not a duration ({error}); write it like 90s, 5m or 1h30m"))
}

/// A duration that must be longer than zero (timeouts, intervals).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("`{text}` is zero; give a duration longer than that"));
    }
    Ok(duration)
}

/// Parses `512MiB`, `1GiB`, `100MB`, `4096` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size; write it like 512MiB or 2GiB"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!("`{text}` has an unknown unit `{other}`; use B, KiB, MiB, GiB, KB, MB or GB"));
        }
    };
    number.checked_mul(multiplier).ok_or_else(|| format!("`{text}` is too large"))
}

/// Cleans a repeatable flag's values: an action passes one value per line in one
/// environment variable, with blank lines and a trailing newline that mean nothing.
pub fn parse_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_contract_syntax() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("soon").unwrap_err().contains("not a duration"));
        assert!(parse_positive_duration("0s").unwrap_err().contains("zero"));
    }

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12XB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn lists_accept_one_value_per_line() {
        let values = vec!["-DskipITs\n  -Pfast \n\n".to_owned(), "--info".to_owned()];
        assert_eq!(parse_list(&values), vec!["-DskipITs", "-Pfast", "--info"]);
    }
}
