//! The backpressure engine: a pure decision on whether to admit work.
//!
//! Sources, in priority order (the first that is active decides, as in the seed evaluator):
//! 1. an open circuit breaker,
//! 2. a channel at or above its critical saturation tier,
//! 3. a queue at or above its critical depth tier,
//! 4. a failing check marked `backpressure_source`.
//!
//! Tiers already carry hysteresis ([`crate::tiers`]); this module only ranks and explains them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::Status;
use crate::tiers::{Thresholds, Tier};

/// Retry-After per source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryAfter {
    /// An open circuit breaker.
    #[serde(with = "humantime_serde")]
    pub circuit_breaker: Duration,
    /// A channel in the critical tier.
    #[serde(with = "humantime_serde")]
    pub channel_critical: Duration,
    /// A channel in the overflow tier.
    #[serde(with = "humantime_serde")]
    pub channel_overflow: Duration,
    /// A queue in the critical tier.
    #[serde(with = "humantime_serde")]
    pub queue_critical: Duration,
    /// A queue in the overflow tier.
    #[serde(with = "humantime_serde")]
    pub queue_overflow: Duration,
    /// A failing check marked as a backpressure source.
    #[serde(with = "humantime_serde")]
    pub check: Duration,
    /// The evaluator stopped publishing (stale snapshot).
    #[serde(with = "humantime_serde")]
    pub stale: Duration,
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter {
            circuit_breaker: Duration::from_secs(30),
            channel_critical: Duration::from_secs(5),
            channel_overflow: Duration::from_secs(15),
            queue_critical: Duration::from_secs(30),
            queue_overflow: Duration::from_secs(60),
            check: Duration::from_secs(10),
            stale: Duration::from_secs(5),
        }
    }
}

/// Tier thresholds for the age of a queue's oldest message, e.g. `warning = "5m"`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeThresholds {
    /// Warning tier entry.
    #[serde(with = "humantime_serde")]
    pub warning: Duration,
    /// Critical tier entry: admission closes.
    #[serde(with = "humantime_serde")]
    pub critical: Duration,
    /// Overflow tier entry.
    #[serde(with = "humantime_serde")]
    pub overflow: Duration,
    /// A tier is left only below `threshold × exit_ratio`.
    pub exit_ratio: f64,
}

impl Default for AgeThresholds {
    /// 5 minutes / 15 minutes / 1 hour: a message that old means the consumers are not keeping up.
    fn default() -> Self {
        AgeThresholds {
            warning: Duration::from_secs(300),
            critical: Duration::from_secs(900),
            overflow: Duration::from_secs(3600),
            exit_ratio: 0.9,
        }
    }
}

impl AgeThresholds {
    /// The same thresholds in seconds, for [`crate::tiers::next_tier`].
    pub fn seconds(&self) -> Thresholds {
        Thresholds {
            warning: self.warning.as_secs_f64(),
            critical: self.critical.as_secs_f64(),
            overflow: self.overflow.as_secs_f64(),
            exit_ratio: self.exit_ratio,
        }
    }
}

/// Backpressure settings (`[backpressure]` in config).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackpressureConfig {
    /// Channel saturation tiers, in percent.
    pub channel: Thresholds,
    /// Queue depth tiers, in messages.
    pub queue: Thresholds,
    /// Queue tiers by the age of the oldest waiting message (for queues that report it). A
    /// queue's tier is the higher of its depth tier and its age tier.
    pub queue_age: AgeThresholds,
    /// Minimum time a tier is held before it may be left.
    #[serde(with = "humantime_serde")]
    pub min_dwell: Duration,
    /// Retry-After per source.
    pub retry_after: RetryAfter,
    /// Random spread added to Retry-After, as a fraction (0.1 = up to +10 %), so clients that were
    /// refused together do not all come back together.
    pub retry_jitter: f64,
}

impl Default for BackpressureConfig {
    fn default() -> Self {
        BackpressureConfig {
            channel: Thresholds::CHANNEL,
            queue: Thresholds::QUEUE,
            queue_age: AgeThresholds::default(),
            min_dwell: Duration::from_secs(10),
            retry_after: RetryAfter::default(),
            retry_jitter: 0.1,
        }
    }
}

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
pub fn decide<'a>(
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
pub fn retry_after_secs(base: Duration, jitter: f64, unit: f64) -> u64 {
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
