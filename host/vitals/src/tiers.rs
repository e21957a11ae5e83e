//! Load tiers with hysteresis, for channel saturation and queue depth.
//!
//! A tier is entered as soon as the value reaches its threshold. It is left only when the value
//! falls below the tier's exit threshold (`threshold × exit_ratio`) and the tier has been held for
//! at least the minimum dwell, so a value hovering around a threshold does not flap.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// How loaded a channel or queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Below the warning threshold.
    Normal,
    /// At or above the warning threshold: reported, admission stays open.
    Warning,
    /// At or above the critical threshold: admission closes.
    Critical,
    /// At or above the overflow (emergency) threshold: admission closes with a longer Retry-After.
    Overflow,
}

impl Tier {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Normal => "normal",
            Tier::Warning => "warning",
            Tier::Critical => "critical",
            Tier::Overflow => "overflow",
        }
    }

    /// Whether this tier closes admission.
    pub fn sheds_load(self) -> bool {
        matches!(self, Tier::Critical | Tier::Overflow)
    }

    /// A number for metrics: 0 normal, 1 warning, 2 critical, 3 overflow.
    pub fn level(self) -> u8 {
        self as u8
    }
}

/// Entry thresholds of the three raised tiers, and how far below them a value must fall to leave.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Warning tier entry.
    pub warning: f64,
    /// Critical tier entry.
    pub critical: f64,
    /// Overflow tier entry.
    pub overflow: f64,
    /// A tier is left only below `threshold × exit_ratio` (0 < ratio ≤ 1).
    #[serde(default = "default_exit_ratio")]
    pub exit_ratio: f64,
}

fn default_exit_ratio() -> f64 {
    0.9
}

impl Thresholds {
    /// Channel saturation defaults, in percent: 70 / 80 / 95.
    pub const CHANNEL: Thresholds = Thresholds {
        warning: 70.0,
        critical: 80.0,
        overflow: 95.0,
        exit_ratio: 0.9,
    };

    /// Queue depth defaults, in messages: 1,000 / 5,000 / 10,000.
    pub const QUEUE: Thresholds = Thresholds {
        warning: 1_000.0,
        critical: 5_000.0,
        overflow: 10_000.0,
        exit_ratio: 0.9,
    };

    fn entry(&self, tier: Tier) -> f64 {
        match tier {
            Tier::Normal => f64::NEG_INFINITY,
            Tier::Warning => self.warning,
            Tier::Critical => self.critical,
            Tier::Overflow => self.overflow,
        }
    }

    fn exit(&self, tier: Tier) -> f64 {
        self.entry(tier) * self.exit_ratio
    }

    /// The tier a value reaches with no history.
    pub fn classify(&self, value: f64) -> Tier {
        [Tier::Overflow, Tier::Critical, Tier::Warning]
            .into_iter()
            .find(|&t| value >= self.entry(t))
            .unwrap_or(Tier::Normal)
    }

    /// Check that thresholds rise and the exit ratio is within (0, 1]; the message names the
    /// values.
    pub fn validate(&self) -> Result<(), String> {
        // Written so that NaN fails too.
        if !(self.warning <= self.critical && self.critical <= self.overflow) {
            return Err(order_error(self.warning, self.critical, self.overflow));
        }
        if !(self.exit_ratio > 0.0 && self.exit_ratio <= 1.0) {
            return Err(format!(
                "exit_ratio must be within (0, 1] (a tier is left below threshold × exit_ratio), \
                 got {}",
                self.exit_ratio
            ));
        }
        Ok(())
    }
}

/// The refusal of thresholds that do not rise, naming the three values as written.
pub(crate) fn order_error(
    warning: impl std::fmt::Display,
    critical: impl std::fmt::Display,
    overflow: impl std::fmt::Display,
) -> String {
    format!(
        "thresholds must rise (warning <= critical <= overflow), got warning {warning}, \
         critical {critical}, overflow {overflow}: reorder them"
    )
}

/// The tier a source is in and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierState {
    /// Current tier.
    pub tier: Tier,
    /// When the current tier was entered.
    pub since: Instant,
}

/// The next tier for a new measurement.
///
/// Rising is immediate. Falling requires the value to be below the current tier's exit threshold
/// and the tier to have been held for `min_dwell`; the new tier is then the highest lower tier whose
/// exit threshold the value still reaches (so it is left by the same rule later).
pub(crate) fn next_tier(
    prev: TierState,
    value: f64,
    thresholds: &Thresholds,
    min_dwell: Duration,
    now: Instant,
) -> TierState {
    let reached = thresholds.classify(value);
    if reached > prev.tier {
        return TierState {
            tier: reached,
            since: now,
        };
    }
    let below_exit = value < thresholds.exit(prev.tier);
    let dwelt = now.saturating_duration_since(prev.since) >= min_dwell;
    if prev.tier == Tier::Normal || !below_exit || !dwelt {
        return prev;
    }
    let lower = [Tier::Critical, Tier::Warning]
        .into_iter()
        .filter(|&t| t < prev.tier)
        .find(|&t| value >= thresholds.exit(t))
        .unwrap_or(Tier::Normal);
    TierState {
        tier: lower,
        since: now,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DWELL: Duration = Duration::from_secs(10);

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn values_classify_at_their_entry_thresholds() {
        let q = Thresholds::QUEUE;
        assert_eq!(q.classify(999.0), Tier::Normal);
        assert_eq!(q.classify(1_000.0), Tier::Warning);
        assert_eq!(q.classify(5_000.0), Tier::Critical);
        assert_eq!(q.classify(10_000.0), Tier::Overflow);
    }

    #[test]
    fn rising_enters_the_reached_tier_at_once() {
        let t0 = Instant::now();
        let s = TierState {
            tier: Tier::Normal,
            since: t0,
        };
        let s = next_tier(s, 9_000.0, &Thresholds::QUEUE, DWELL, at(t0, 1));
        assert_eq!(s.tier, Tier::Critical);
        assert_eq!(s.since, at(t0, 1));
    }

    #[test]
    fn tier_is_kept_between_exit_and_entry_threshold() {
        let t0 = Instant::now();
        let s = TierState {
            tier: Tier::Critical,
            since: t0,
        };
        // 4,600 is below the 5,000 entry but above the 4,500 exit.
        let s2 = next_tier(s, 4_600.0, &Thresholds::QUEUE, DWELL, at(t0, 60));
        assert_eq!(s2, s);
    }

    #[test]
    fn tier_is_kept_below_exit_until_the_dwell_has_passed() {
        let t0 = Instant::now();
        let s = TierState {
            tier: Tier::Critical,
            since: t0,
        };
        let early = next_tier(s, 100.0, &Thresholds::QUEUE, DWELL, at(t0, 9));
        assert_eq!(early.tier, Tier::Critical);
        let late = next_tier(s, 100.0, &Thresholds::QUEUE, DWELL, at(t0, 10));
        assert_eq!(late.tier, Tier::Normal);
        assert_eq!(late.since, at(t0, 10));
    }

    #[test]
    fn falling_stops_at_a_lower_tier_whose_exit_is_still_reached() {
        let t0 = Instant::now();
        let s = TierState {
            tier: Tier::Overflow,
            since: t0,
        };
        // 950 is below warning's entry (1,000) but above its exit (900): warning is kept.
        let s = next_tier(s, 950.0, &Thresholds::QUEUE, DWELL, at(t0, 30));
        assert_eq!(s.tier, Tier::Warning);
    }

    #[test]
    fn a_value_hovering_around_a_threshold_does_not_flap() {
        let t0 = Instant::now();
        let mut s = TierState {
            tier: Tier::Normal,
            since: t0,
        };
        let mut changes = 0;
        for i in 0..100u64 {
            let v = if i % 2 == 0 { 80.5 } else { 79.5 };
            let n = next_tier(s, v, &Thresholds::CHANNEL, DWELL, at(t0, i));
            if n.tier != s.tier {
                changes += 1;
            }
            s = n;
        }
        assert_eq!(changes, 1, "entered critical once and stayed");
        assert_eq!(s.tier, Tier::Critical);
    }

    #[test]
    fn thresholds_that_do_not_rise_are_rejected() {
        let bad = Thresholds {
            warning: 10.0,
            critical: 5.0,
            overflow: 20.0,
            exit_ratio: 0.9,
        };
        assert!(bad.validate().is_err());
        let bad_ratio = Thresholds {
            exit_ratio: 1.5,
            ..Thresholds::QUEUE
        };
        assert!(bad_ratio.validate().unwrap_err().contains("exit_ratio"));
        assert!(Thresholds::QUEUE.validate().is_ok());
    }
}
