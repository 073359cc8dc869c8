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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A duration in the contract's syntax, units glued (`1h30m`), as its parts.
    fn written_duration() -> impl Strategy<Value = (String, Duration)> {
        let units = [("h", 3_600_000_000_000_u128), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000)];
        proptest::collection::vec((0..units.len(), 0u32..100_000), 1..4).prop_map(move |parts| {
            let text: String = parts.iter().map(|(unit, n)| format!("{n}{}", units[*unit].0)).collect();
            let nanos: u128 = parts.iter().map(|(unit, n)| u128::from(*n) * units[*unit].1).sum();
            let duration = Duration::new(
                u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
                u32::try_from(nanos % 1_000_000_000).unwrap_or(0),
            );
            (text, duration)
        })
    }

    proptest! {
        #[test]
        fn written_durations_parse_to_their_sum((text, duration) in written_duration()) {
            prop_assert_eq!(parse_duration(&text), Ok(duration));
            prop_assert_eq!(parse_duration(&format!("  {text}\n")), Ok(duration));
        }

        #[test]
        fn formatted_durations_round_trip(secs in 0u64..10 * 365 * 86_400, nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(secs, nanos);
            let text = humantime::format_duration(duration).to_string();
            prop_assert_eq!(parse_duration(&text), Ok(duration));
        }

        #[test]
        fn any_text_is_a_duration_or_one_error_line(text in any::<String>()) {
            match parse_duration(&text) {
                Ok(duration) => {
                    // What parsed is stable: its canonical form parses to the same duration.
                    let canonical = humantime::format_duration(duration).to_string();
                    prop_assert_eq!(parse_duration(&canonical), Ok(duration));
                    prop_assert!(!text.trim().starts_with('-'));
                }
                Err(message) => prop_assert!(!message.is_empty()),
            }
        }

        #[test]
        fn bare_numbers_and_negative_durations_are_refused(n in any::<u64>(), unit in "(s|m|h|ms)?") {
            prop_assert!(parse_duration(&n.to_string()).unwrap_err().contains("no unit"));
            let negative = format!("-{n}{unit}");
            prop_assert!(parse_duration(&negative).unwrap_err().contains("negative"));
        }

        #[test]
        fn sizes_multiply_or_refuse_overflow(n in any::<u64>(), unit in 0usize..9, space in "( )?") {
            let units: [(&str, u64); 9] = [
                ("", 1), ("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
                ("KB", 1_000), ("kB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ];
            let (suffix, multiplier) = units[unit];
            let text = format!("{n}{space}{suffix}");
            match n.checked_mul(multiplier) {
                Some(bytes) => prop_assert_eq!(parse_size(&text), Ok(bytes)),
                None => prop_assert!(parse_size(&text).unwrap_err().contains("too large")),
            }
        }

        #[test]
        fn any_text_is_a_size_or_one_error_line(text in any::<String>()) {
            if let Err(message) = parse_size(&text) {
                prop_assert!(!message.is_empty());
            }
        }

        #[test]
        fn lists_keep_every_value_in_order(
            values in proptest::collection::vec("[^\\s]([^\n\r]*[^\\s])?", 0..6),
            padding in "[ \t]{0,2}",
        ) {
            // One value per line, as an action passes them, padded and with blank lines.
            let joined: String = values.iter().map(|v| format!("{padding}{v}{padding}\n\n")).collect();
            prop_assert_eq!(parse_list(&[joined]), values.clone());
            prop_assert_eq!(parse_list(&values), values);
        }
    }
}
