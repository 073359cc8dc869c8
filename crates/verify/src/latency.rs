//! Latency percentiles of the samples taken after the checks pass.

use std::time::Duration;

/// p50/p95/p99 of a set of samples (nearest-rank: each is a latency that was observed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyStats {
    pub samples: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

impl LatencyStats {
    /// `None` when there is no sample.
    pub fn from_samples(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Self {
            samples: sorted.len(),
            p50: percentile(&sorted, 50)?,
            p95: percentile(&sorted, 95)?,
            p99: percentile(&sorted, 99)?,
        })
    }
}

/// The nearest-rank `percent`-th percentile of `sorted` (ascending).
pub fn percentile(sorted: &[Duration], percent: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// Whole milliseconds, rounded to the nearest: the unit of the `*-ms` outputs.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from((duration.as_micros() + 500) / 1000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = ms(&(1..=100).rev().collect::<Vec<_>>());
        let stats = LatencyStats::from_samples(&samples).unwrap();
        assert_eq!(stats.samples, 100);
        assert_eq!(stats.p50, Duration::from_millis(50));
        assert_eq!(stats.p95, Duration::from_millis(95));
        assert_eq!(stats.p99, Duration::from_millis(99));
    }

    #[test]
    fn few_samples_take_the_slowest_for_high_percentiles() {
        let stats = LatencyStats::from_samples(&ms(&[10, 30, 20])).unwrap();
        assert_eq!(stats.p50, Duration::from_millis(20));
        assert_eq!(stats.p95, Duration::from_millis(30));
        assert_eq!(stats.p99, Duration::from_millis(30));
        assert_eq!(LatencyStats::from_samples(&[]), None);
        assert_eq!(percentile(&ms(&[7]), 1), Some(Duration::from_millis(7)));
    }

    #[test]
    fn millis_round_to_nearest() {
        assert_eq!(millis(Duration::from_micros(1499)), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::ZERO), 0);
    }
}
