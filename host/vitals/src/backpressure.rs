//! The backpressure engine: a pure decision on whether to admit work.
//!
//! Sources, in priority order (the first that is active decides, as in the seed evaluator):
//! 1. an open circuit breaker,
//! 2. a channel at or above its critical saturation tier,
//! 3. a queue at or above its critical depth tier,
//! 4. a failing check marked `backpressure_source`.
//!
//! Tiers already carry hysteresis ([`crate::tiers`]); this module only ranks and explains them.

mod config;

use std::time::Duration;

use serde::Serialize;

use crate::check::Status;
use crate::tiers::Tier;

pub use config::{AgeThresholds, BackpressureConfig, RetryAfter};

/// One check's contribution to the decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// Its circuit breaker is open.
    CircuitOpen,
    /// A channel in a tier, at a saturation percentage.
    Channel {
        /// Current tier (with hysteresis).
        tier: Tier,
        /// Saturation in percent.
        percent: f64,
    },
    /// A queue in a tier, at a depth.
    Queue {
        /// Current tier (with hysteresis): the higher of the depth and the age tier.
        tier: Tier,
        /// Messages waiting.
        depth: u64,
        /// Age of the oldest waiting message in whole seconds, if the queue reports it.
        oldest_age_secs: Option<u64>,
    },
    /// A check marked as a backpressure source, with its damped state.
    Source {
        /// Its damped state.
        status: Status,
    },
}

/// What closed admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShedSource {
    /// An open circuit breaker.
    CircuitBreaker,
    /// A saturated channel.
    ChannelSaturation,
    /// A deep queue.
    QueueDepth,
    /// A failing check marked as a source.
    Check,
    /// The evaluator stopped publishing.
    Stale,
}

impl ShedSource {
    /// The snake_case name used in responses and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ShedSource::CircuitBreaker => "circuit_breaker",
            ShedSource::ChannelSaturation => "channel_saturation",
            ShedSource::QueueDepth => "queue_depth",
            ShedSource::Check => "check",
            ShedSource::Stale => "stale",
        }
    }
}

/// Why admission is closed, and when to come back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shed {
    /// Which kind of source.
    pub source: ShedSource,
    /// Which check (empty for `stale`).
    pub check: String,
    /// A sentence for humans.
    pub reason: String,
    /// The configured Retry-After before jitter.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

/// The admission decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Admission {
    /// Work is admitted.
    Open,
    /// Work is refused with 503 + Retry-After.
    Shedding(Shed),
}

impl Admission {
    /// Whether work is admitted.
    pub fn is_open(&self) -> bool {
        matches!(self, Admission::Open)
    }
}

fn rank(signal: &Signal) -> Option<(u8, u8, f64)> {
    // (priority class, tier level, magnitude): higher is more urgent within a class.
    match *signal {
        Signal::CircuitOpen => Some((3, 0, 0.0)),
        Signal::Channel { tier, percent } if tier.sheds_load() => Some((2, tier.level(), percent)),
        Signal::Queue { tier, depth, .. } if tier.sheds_load() => {
            Some((1, tier.level(), depth as f64))
        }
        Signal::Source { status } if !status.is_serving() => Some((0, 0, 0.0)),
        _ => None,
    }
}

/// Decide admission from every check's signal.
pub(crate) fn decide<'a>(
    signals: impl IntoIterator<Item = (&'a str, Signal)>,
    cfg: &BackpressureConfig,
) -> Admission {
    let worst = signals
        .into_iter()
        .filter_map(|(name, s)| rank(&s).map(|r| (r, name, s)))
        .max_by(|a, b| {
            (a.0.0, a.0.1)
                .cmp(&(b.0.0, b.0.1))
                .then(a.0.2.total_cmp(&b.0.2))
                // Equal rank: the alphabetically first check wins, for a stable answer.
                .then_with(|| b.1.cmp(a.1))
        });
    let Some((_, name, signal)) = worst else {
        return Admission::Open;
    };
    let ra = &cfg.retry_after;
    let (source, reason, retry_after) = match signal {
        Signal::CircuitOpen => (
            ShedSource::CircuitBreaker,
            format!("circuit breaker of '{name}' is open"),
            ra.circuit_breaker,
        ),
        Signal::Channel { tier, percent } => (
            ShedSource::ChannelSaturation,
            format!(
                "channel '{name}' is {percent:.1}% full ({} tier)",
                tier.as_str()
            ),
            if tier == Tier::Overflow {
                ra.channel_overflow
            } else {
                ra.channel_critical
            },
        ),
        Signal::Queue {
            tier,
            depth,
            oldest_age_secs,
        } => (
            ShedSource::QueueDepth,
            match oldest_age_secs {
                Some(age) => format!(
                    "queue '{name}' holds {depth} messages, the oldest {age}s old ({} tier)",
                    tier.as_str()
                ),
                None => format!(
                    "queue '{name}' holds {depth} messages ({} tier)",
                    tier.as_str()
                ),
            },
            if tier == Tier::Overflow {
                ra.queue_overflow
            } else {
                ra.queue_critical
            },
        ),
        Signal::Source { status } => (
            ShedSource::Check,
            format!("backpressure source '{name}' is {status}"),
            ra.check,
        ),
    };
    Admission::Shedding(Shed {
        source,
        check: name.to_owned(),
        reason,
        retry_after,
    })
}

/// Retry-After in whole seconds with jitter: `base × (1 + jitter × unit)`, rounded up, at least 1.
/// `unit` is a random number in `[0, 1)`; passing it in keeps this function pure.
pub(crate) fn retry_after_secs(base: Duration, jitter: f64, unit: f64) -> u64 {
    let spread = base.as_secs_f64() * jitter.max(0.0) * unit.clamp(0.0, 1.0);
    ((base.as_secs_f64() + spread).ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg() -> BackpressureConfig {
        BackpressureConfig::default()
    }

    fn shed(a: Admission) -> Shed {
        match a {
            Admission::Shedding(s) => s,
            Admission::Open => panic!("expected shedding"),
        }
    }

    #[test]
    fn quiet_signals_keep_admission_open() {
        let signals = [
            (
                "jobs",
                Signal::Channel {
                    tier: Tier::Warning,
                    percent: 75.0,
                },
            ),
            (
                "queue",
                Signal::Queue {
                    tier: Tier::Warning,
                    depth: 2_000,
                    oldest_age_secs: None,
                },
            ),
            (
                "api",
                Signal::Source {
                    status: Status::Warn,
                },
            ),
        ];
        assert_eq!(decide(signals, &cfg()), Admission::Open);
    }

    #[test]
    fn open_circuit_breaker_wins_over_channel_and_queue() {
        let signals = [
            (
                "queue",
                Signal::Queue {
                    tier: Tier::Overflow,
                    depth: 20_000,
                    oldest_age_secs: None,
                },
            ),
            (
                "jobs",
                Signal::Channel {
                    tier: Tier::Overflow,
                    percent: 99.0,
                },
            ),
            ("db", Signal::CircuitOpen),
        ];
        let s = shed(decide(signals, &cfg()));
        assert_eq!(s.source, ShedSource::CircuitBreaker);
        assert_eq!(s.check, "db");
        assert_eq!(s.retry_after, Duration::from_secs(30));
    }

    #[test]
    fn channel_wins_over_queue() {
        let signals = [
            (
                "queue",
                Signal::Queue {
                    tier: Tier::Overflow,
                    depth: 20_000,
                    oldest_age_secs: None,
                },
            ),
            (
                "jobs",
                Signal::Channel {
                    tier: Tier::Critical,
                    percent: 85.0,
                },
            ),
        ];
        let s = shed(decide(signals, &cfg()));
        assert_eq!(s.source, ShedSource::ChannelSaturation);
        assert_eq!(s.retry_after, cfg().retry_after.channel_critical);
        assert!(s.reason.contains("85.0%"), "{}", s.reason);
    }

    #[test]
    fn queue_wins_over_failing_source_check() {
        let signals = [
            (
                "api",
                Signal::Source {
                    status: Status::Fail,
                },
            ),
            (
                "queue",
                Signal::Queue {
                    tier: Tier::Critical,
                    depth: 6_000,
                    oldest_age_secs: None,
                },
            ),
        ];
        let s = shed(decide(signals, &cfg()));
        assert_eq!(s.source, ShedSource::QueueDepth);
        assert_eq!(s.retry_after, Duration::from_secs(30));
    }

    #[test]
    fn overflow_tier_uses_its_own_retry_after() {
        let signals = [(
            "queue",
            Signal::Queue {
                tier: Tier::Overflow,
                depth: 12_000,
                oldest_age_secs: None,
            },
        )];
        assert_eq!(
            shed(decide(signals, &cfg())).retry_after,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn worse_tier_of_the_same_kind_is_reported() {
        let signals = [
            (
                "a",
                Signal::Queue {
                    tier: Tier::Critical,
                    depth: 9_000,
                    oldest_age_secs: None,
                },
            ),
            (
                "b",
                Signal::Queue {
                    tier: Tier::Overflow,
                    depth: 10_500,
                    oldest_age_secs: None,
                },
            ),
        ];
        assert_eq!(shed(decide(signals, &cfg())).check, "b");
    }

    #[test]
    fn failing_or_unknown_source_check_sheds_but_warn_does_not() {
        let fail = [(
            "api",
            Signal::Source {
                status: Status::Fail,
            },
        )];
        assert_eq!(shed(decide(fail, &cfg())).source, ShedSource::Check);
        let unknown = [(
            "api",
            Signal::Source {
                status: Status::Unknown,
            },
        )];
        assert!(!decide(unknown, &cfg()).is_open());
    }

    #[test]
    fn configured_retry_after_is_used() {
        let mut c = cfg();
        c.retry_after.circuit_breaker = Duration::from_secs(7);
        let s = shed(decide([("db", Signal::CircuitOpen)], &c));
        assert_eq!(s.retry_after, Duration::from_secs(7));
    }

    #[test]
    fn retry_after_jitter_stays_within_its_band() {
        let base = Duration::from_secs(30);
        assert_eq!(retry_after_secs(base, 0.1, 0.0), 30);
        assert_eq!(retry_after_secs(base, 0.1, 0.999), 33);
        assert_eq!(retry_after_secs(base, 0.0, 0.9), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(200), 0.1, 0.5), 1);
    }
}
