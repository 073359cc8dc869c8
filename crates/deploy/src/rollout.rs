//! The rollout as data: a strategy and the parameters that shape it (batches, surge and
//! unavailability budgets, canary steps, bake time). Every target reads the same
//! [`Rollout`]; each refuses, in its check, a parameter it cannot honour.

use std::fmt;
use std::time::Duration;

use slipway_contract::cli::parse_positive_duration;

/// How a new version reaches traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Replace everything at once.
    Direct,
    /// Replace instances in batches (--batch-size, or --max-surge and --max-unavailable).
    Rolling,
    /// Batches, with an extra batch launched first so capacity never drops.
    RollingWithBatch,
    /// A fresh set of instances, swapped in when healthy.
    Immutable,
    /// A share of traffic to the new version (--steps, --bake), then promote or reject.
    Canary,
    /// A second environment with the new version, then swap (promote) or drop (reject).
    BlueGreen,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Rolling => "rolling",
            Self::RollingWithBatch => "rolling-with-batch",
            Self::Immutable => "immutable",
            Self::Canary => "canary",
            Self::BlueGreen => "blue-green",
        }
    }

    /// Canary and blue-green stop after starting the new version, so that verify can
    /// judge it before `--promote` or `--reject` finishes them.
    pub fn is_phased(self) -> bool {
        matches!(self, Self::Canary | Self::BlueGreen)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A share of the instances or a count of them: `30%` or `2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Percent(u8),
    Count(u32),
}

impl Amount {
    /// Parses `30%` (0 to 100) or `2`; `allow_zero` for budgets such as max-unavailable.
    pub fn parse(flag: &str, text: &str, allow_zero: bool) -> Result<Self, String> {
        let text = text.trim();
        let least = u32::from(!allow_zero);
        let invalid = || {
            format!(
                "{flag} `{text}` is neither a percentage ({least}% to 100%) nor an instance count ({least} or more)"
            )
        };
        match text.strip_suffix('%') {
            Some(percent) => match percent.trim().parse::<u8>() {
                Ok(value) if u32::from(value) >= least && value <= 100 => Ok(Self::Percent(value)),
                _ => Err(invalid()),
            },
            None => match text.parse::<u32>() {
                Ok(value) if value >= least => Ok(Self::Count(value)),
                _ => Err(invalid()),
            },
        }
    }

    pub fn is_zero(self) -> bool {
        matches!(self, Self::Percent(0) | Self::Count(0))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(p) => write!(f, "{p}%"),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

/// The rollout parameters a target may read, named by their flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    BatchSize,
    MaxSurge,
    MaxUnavailable,
    Steps,
    Bake,
}

impl Param {
    pub fn flag(self) -> &'static str {
        match self {
            Self::BatchSize => "--batch-size",
            Self::MaxSurge => "--max-surge",
            Self::MaxUnavailable => "--max-unavailable",
            Self::Steps => "--steps",
            Self::Bake => "--bake",
        }
    }
}

/// The rollout flags, as given (targets supply their own defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct RolloutArgs {
    /// Rolling: how many instances are replaced at a time, a percentage (30%) or a count (2).
    /// Default: the target's (Elastic Beanstalk: 30%).
    #[arg(long, env = "SLIPWAY_BATCH_SIZE", value_name = "SIZE", value_parser = |t: &str| Amount::parse("--batch-size", t, false))]
    pub batch_size: Option<Amount>,

    /// Rolling: how many instances may run above the desired count, a percentage or a count.
    #[arg(long, env = "SLIPWAY_MAX_SURGE", value_name = "SIZE", value_parser = |t: &str| Amount::parse("--max-surge", t, true))]
    pub max_surge: Option<Amount>,

    /// Rolling: how many instances may be missing below the desired count, a percentage or a count.
    #[arg(long, env = "SLIPWAY_MAX_UNAVAILABLE", value_name = "SIZE", value_parser = |t: &str| Amount::parse("--max-unavailable", t, true))]
    pub max_unavailable: Option<Amount>,

    /// Canary: the new version's share of traffic at each step, in percent, rising
    /// (10,25,50); promoting takes it to 100. Default: 10.
    #[arg(long, env = "SLIPWAY_STEPS", value_name = "PERCENTS", alias = "canary-percent", value_parser = parse_steps)]
    pub steps: Option<Steps>,

    /// Canary: how long each step runs before traffic moves on (Elastic Beanstalk: its
    /// EvaluationTime, rounded up to whole minutes, 3 to 600; a minute more when judged by
    /// analysis, so that EB never ends the split inside the window). Blue-green judged by
    /// analysis: how long the new version is judged before the switch, and watched after
    /// it. Default: 5m.
    #[arg(long, env = "SLIPWAY_BAKE", value_name = "DURATION", alias = "canary-evaluation", value_parser = parse_positive_duration)]
    pub bake: Option<Duration>,
}

/// Canary steps as given: traffic percentages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(pub Vec<u8>);

/// Parses `10,25,50` (commas, spaces or one per line): each a percentage from 1 to 99.
pub fn parse_steps(text: &str) -> Result<Steps, String> {
    let steps: Vec<u8> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| match part.trim_end_matches('%').parse::<u8>() {
            Ok(step @ 1..=99) => Ok(step),
            _ => Err(format!("`{part}` is not a share of traffic from 1 to 99 (percent); write steps like 10,25,50")),
        })
        .collect::<Result<_, _>>()?;
    if steps.is_empty() {
        return Err("no steps; write them like 10,25,50".to_owned());
    }
    Ok(Steps(steps))
}

/// The default canary: 10% of traffic for five minutes.
pub const DEFAULT_STEPS: [u8; 1] = [10];
pub const DEFAULT_BAKE: Duration = Duration::from_secs(5 * 60);

/// A strategy and its parameters, checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub strategy: Strategy,
    pub batch_size: Option<Amount>,
    pub max_surge: Option<Amount>,
    pub max_unavailable: Option<Amount>,
    /// Rising traffic weights, 1 to 99; empty when not given.
    pub steps: Vec<u8>,
    pub bake: Option<Duration>,
}

impl Rollout {
    /// Checks what the flags say on their own (rising steps, a budget that can move).
    pub fn new(strategy: Strategy, args: &RolloutArgs) -> Result<Self, String> {
        let steps = args.steps.clone().map(|steps| steps.0).unwrap_or_default();
        if let Some(pair) = steps.windows(2).find(|pair| pair[0] >= pair[1]) {
            return Err(format!("--steps must rise: {} comes after {}; write them like 10,25,50", pair[1], pair[0]));
        }
        if let (Some(surge), Some(unavailable)) = (args.max_surge, args.max_unavailable)
            && surge.is_zero()
            && unavailable.is_zero()
        {
            return Err("--max-surge and --max-unavailable cannot both be 0: the rollout could never move".to_owned());
        }
        Ok(Self {
            strategy,
            batch_size: args.batch_size,
            max_surge: args.max_surge,
            max_unavailable: args.max_unavailable,
            steps,
            bake: args.bake,
        })
    }

    /// A rollout of `strategy` with no parameters given.
    pub fn plain(strategy: Strategy) -> Self {
        Self { strategy, batch_size: None, max_surge: None, max_unavailable: None, steps: Vec::new(), bake: None }
    }

    /// The parameters given on the command line.
    pub fn given(&self) -> Vec<Param> {
        [
            (Param::BatchSize, self.batch_size.is_some()),
            (Param::MaxSurge, self.max_surge.is_some()),
            (Param::MaxUnavailable, self.max_unavailable.is_some()),
            (Param::Steps, !self.steps.is_empty()),
            (Param::Bake, self.bake.is_some()),
        ]
        .into_iter()
        .filter_map(|(param, given)| given.then_some(param))
        .collect()
    }

    /// The canary's steps, or the default one.
    pub fn steps_or_default(&self) -> Vec<u8> {
        if self.steps.is_empty() { DEFAULT_STEPS.to_vec() } else { self.steps.clone() }
    }

    pub fn bake_or_default(&self) -> Duration {
        self.bake.unwrap_or(DEFAULT_BAKE)
    }

    /// Refuses a parameter `target` does not read with this strategy (`honoured`).
    pub fn refuse_unread(&self, target: &str, honoured: &[Param]) -> Result<(), String> {
        match self.given().into_iter().find(|param| !honoured.contains(param)) {
            None => Ok(()),
            Some(param) => {
                let reads = if honoured.is_empty() {
                    "none of the rollout flags".to_owned()
                } else {
                    honoured.iter().map(|p| p.flag()).collect::<Vec<_>>().join(", ")
                };
                Err(format!(
                    "the {target} target does not use {} with --strategy {}; it reads {reads} there",
                    param.flag(),
                    self.strategy
                ))
            }
        }
    }

    /// One line for logs and plans: `canary (steps 10,25; bake 2m)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(batch) = self.batch_size {
            parts.push(format!("batch {batch}"));
        }
        if let Some(surge) = self.max_surge {
            parts.push(format!("max surge {surge}"));
        }
        if let Some(unavailable) = self.max_unavailable {
            parts.push(format!("max unavailable {unavailable}"));
        }
        if !self.steps.is_empty() {
            let steps: Vec<String> = self.steps.iter().map(|s| format!("{s}%")).collect();
            parts.push(format!("steps {}", steps.join(",")));
        }
        if let Some(bake) = self.bake {
            parts.push(format!("bake {}", humantime::format_duration(bake)));
        }
        if parts.is_empty() { self.strategy.to_string() } else { format!("{} ({})", self.strategy, parts.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_percentages_or_counts() {
        assert_eq!(Amount::parse("--batch-size", "30%", false), Ok(Amount::Percent(30)));
        assert_eq!(Amount::parse("--batch-size", " 2 ", false), Ok(Amount::Count(2)));
        assert_eq!(Amount::parse("--max-unavailable", "0", true), Ok(Amount::Count(0)));
        for bad in ["0", "0%", "101%", "x", "-1", "", "2.5"] {
            let error = Amount::parse("--batch-size", bad, false).unwrap_err();
            assert!(error.starts_with(&format!("--batch-size `{}`", bad.trim())), "{error}");
        }
        assert!(Amount::parse("--max-surge", "101%", true).is_err());
    }

    #[test]
    fn steps_are_percentages_by_comma_or_line() {
        assert_eq!(parse_steps("10,25,50"), Ok(Steps(vec![10, 25, 50])));
        assert_eq!(parse_steps("10%\n25%\n"), Ok(Steps(vec![10, 25])));
        assert_eq!(parse_steps(" 5 "), Ok(Steps(vec![5])));
        assert!(parse_steps("100").unwrap_err().contains("`100` is not a share of traffic from 1 to 99"));
        assert!(parse_steps("0,10").is_err());
        assert!(parse_steps("ten").is_err());
        assert_eq!(parse_steps(", ").unwrap_err(), "no steps; write them like 10,25,50");
    }

    #[test]
    fn steps_must_rise_and_budgets_must_move() {
        let args = |steps: &[u8]| RolloutArgs { steps: Some(Steps(steps.to_vec())), ..RolloutArgs::default() };
        assert!(Rollout::new(Strategy::Canary, &args(&[10, 25, 50])).is_ok());
        assert!(Rollout::new(Strategy::Canary, &args(&[25, 10])).unwrap_err().contains("must rise"));
        assert!(Rollout::new(Strategy::Canary, &args(&[10, 10])).is_err());
        let stuck = RolloutArgs {
            max_surge: Some(Amount::Count(0)),
            max_unavailable: Some(Amount::Percent(0)),
            ..RolloutArgs::default()
        };
        assert!(Rollout::new(Strategy::Rolling, &stuck).unwrap_err().contains("could never move"));
    }

    #[test]
    fn unread_parameters_are_named() {
        let rollout = Rollout {
            bake: Some(Duration::from_secs(60)),
            ..Rollout::new(Strategy::Direct, &RolloutArgs::default()).unwrap()
        };
        assert_eq!(rollout.given(), [Param::Bake]);
        let error = rollout.refuse_unread("docker", &[]).unwrap_err();
        assert_eq!(
            error,
            "the docker target does not use --bake with --strategy direct; it reads none of the rollout flags there"
        );
        assert!(rollout.refuse_unread("x", &[Param::Bake]).is_ok());
        assert_eq!(rollout.describe(), "direct (bake 1m)");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn amounts_round_trip(percent in 0u8..=100, count in any::<u32>(), allow_zero in any::<bool>()) {
            for amount in [Amount::Percent(percent), Amount::Count(count)] {
                let parsed = Amount::parse("--max-surge", &amount.to_string(), allow_zero);
                if amount.is_zero() && !allow_zero {
                    prop_assert!(parsed.unwrap_err().starts_with("--max-surge `"));
                } else {
                    prop_assert_eq!(parsed, Ok(amount));
                }
            }
        }

        #[test]
        fn any_amount_text_is_an_amount_or_one_error(text in "[0-9% .+-]{0,8}|.{0,8}") {
            match Amount::parse("--batch-size", &text, false) {
                Ok(amount) => {
                    prop_assert!(!amount.is_zero());
                    prop_assert_eq!(Amount::parse("--batch-size", &amount.to_string(), false), Ok(amount));
                }
                Err(message) => prop_assert!(message.starts_with("--batch-size `")),
            }
        }

        #[test]
        fn steps_round_trip_in_every_spelling(
            steps in proptest::collection::vec(1u8..=99, 1..6),
            separator in prop_oneof![Just(","), Just(", "), Just(" "), Just("\n")],
            percent in any::<bool>(),
        ) {
            let sign = if percent { "%" } else { "" };
            let text = steps.iter().map(|s| format!("{s}{sign}")).collect::<Vec<_>>().join(separator);
            prop_assert_eq!(parse_steps(&text), Ok(Steps(steps)));
        }

        #[test]
        fn steps_out_of_range_are_refused(good in 1u8..=99, bad in prop_oneof![Just(0u32), 100u32..100_000]) {
            let (out_of_range, not_a_number) = (format!("{good},{bad}"), format!("{good},x{good}"));
            prop_assert!(parse_steps(&out_of_range).is_err());
            prop_assert!(parse_steps(&not_a_number).is_err());
        }

        #[test]
        fn any_steps_text_is_steps_or_one_error(text in any::<String>()) {
            if let Ok(Steps(steps)) = parse_steps(&text) {
                prop_assert!(!steps.is_empty() && steps.iter().all(|s| (1..=99).contains(s)));
            }
        }
    }
}
