//! `[backpressure]` in config: tier thresholds, dwell, Retry-After and jitter.
//!
//! Every key is optional. A tier table that sets only some keys takes the others from that
//! table's own defaults (channel: percent, queue: messages), so `[backpressure.queue]` with only
//! `warning` is complete.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::tiers::{Thresholds, order_error};

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
    /// Check that thresholds rise and the exit ratio is within (0, 1]; the message names the
    /// values as written (durations).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.warning <= self.critical && self.critical <= self.overflow) {
            let show = |d: Duration| humantime::format_duration(d).to_string();
            return Err(order_error(
                show(self.warning),
                show(self.critical),
                show(self.overflow),
            ));
        }
        self.seconds().validate()
    }

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
    #[serde(deserialize_with = "channel_thresholds")]
    pub channel: Thresholds,
    /// Queue depth tiers, in messages.
    #[serde(deserialize_with = "queue_thresholds")]
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

impl BackpressureConfig {
    /// Check every tier table and the jitter; the error names the key and says why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.channel
            .validate()
            .map_err(|m| ("backpressure.channel", m))?;
        self.queue
            .validate()
            .map_err(|m| ("backpressure.queue", m))?;
        self.queue_age
            .validate()
            .map_err(|m| ("backpressure.queue_age", m))?;
        if !(0.0..=1.0).contains(&self.retry_jitter) {
            return Err((
                "backpressure.retry_jitter",
                format!("must be within 0..=1, got {}", self.retry_jitter),
            ));
        }
        Ok(())
    }
}

/// A tier table as written: any key may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialThresholds {
    warning: Option<f64>,
    critical: Option<f64>,
    overflow: Option<f64>,
    exit_ratio: Option<f64>,
}

impl PartialThresholds {
    fn over(self, base: Thresholds) -> Thresholds {
        Thresholds {
            warning: self.warning.unwrap_or(base.warning),
            critical: self.critical.unwrap_or(base.critical),
            overflow: self.overflow.unwrap_or(base.overflow),
            exit_ratio: self.exit_ratio.unwrap_or(base.exit_ratio),
        }
    }
}

fn channel_thresholds<'de, D: Deserializer<'de>>(d: D) -> Result<Thresholds, D::Error> {
    PartialThresholds::deserialize(d).map(|p| p.over(Thresholds::CHANNEL))
}

fn queue_thresholds<'de, D: Deserializer<'de>>(d: D) -> Result<Thresholds, D::Error> {
    PartialThresholds::deserialize(d).map(|p| p.over(Thresholds::QUEUE))
}
