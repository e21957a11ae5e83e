//! Quarantine: a plugin that keeps trapping is not instantiated again for a while.
//!
//! After `threshold` consecutive traps (deadline, out-of-memory, stack overflow, panic) the
//! plugin is skipped for `base`, doubling on each further quarantine up to `max`. When the
//! quarantine ends one run is attempted; a trap quarantines again (longer), a completed run
//! resets everything.

use std::time::{Duration, Instant};

use serde::Serialize;

/// When and for how long to quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantinePolicy {
    /// Consecutive traps before the first quarantine.
    pub threshold: u32,
    /// First quarantine length.
    pub base: Duration,
    /// Longest quarantine.
    pub max: Duration,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        QuarantinePolicy {
            threshold: 3,
            base: Duration::from_secs(30),
            max: Duration::from_secs(600),
        }
    }
}

/// A plugin's quarantine state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QuarantineState {
    /// Runs normally.
    Active {
        /// Traps in a row so far.
        consecutive_traps: u32,
    },
    /// Skipped until the quarantine ends.
    Quarantined {
        /// Traps in a row that led here.
        consecutive_traps: u32,
        /// Time left, in whole seconds (rounded up).
        retry_in_secs: u64,
    },
}

/// The quarantine bookkeeping of one plugin check.
#[derive(Debug)]
pub(crate) struct Quarantine {
    policy: QuarantinePolicy,
    consecutive_traps: u32,
    quarantines: u32,
    until: Option<Instant>,
}

impl Quarantine {
    pub(crate) fn new(policy: QuarantinePolicy) -> Self {
        Quarantine {
            policy,
            consecutive_traps: 0,
            quarantines: 0,
            until: None,
        }
    }

    /// `Some(time left)` while quarantined.
    pub(crate) fn blocked(&self, now: Instant) -> Option<Duration> {
        self.until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// The outcome message while quarantined.
    pub(crate) fn message(&self, left: Duration) -> String {
        format!(
            "quarantined after {} consecutive traps; next attempt in {}s",
            self.consecutive_traps,
            secs_ceil(left)
        )
    }

    /// Record a run that trapped.
    pub(crate) fn record_trap(&mut self, now: Instant) {
        self.consecutive_traps += 1;
        if self.consecutive_traps >= self.policy.threshold.max(1) {
            let factor = 2u32.saturating_pow(self.quarantines.min(20));
            let length = self.policy.base.saturating_mul(factor).min(self.policy.max);
            self.quarantines += 1;
            self.until = Some(now + length);
        }
    }

    /// Record a run that completed (whatever status it reported).
    pub(crate) fn record_completion(&mut self) {
        self.consecutive_traps = 0;
        self.quarantines = 0;
        self.until = None;
    }

    pub(crate) fn state(&self, now: Instant) -> QuarantineState {
        match self.blocked(now) {
            Some(left) => QuarantineState::Quarantined {
                consecutive_traps: self.consecutive_traps,
                retry_in_secs: secs_ceil(left),
            },
            None => QuarantineState::Active {
                consecutive_traps: self.consecutive_traps,
            },
        }
    }
}

fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> QuarantinePolicy {
        QuarantinePolicy {
            threshold: 3,
            base: Duration::from_secs(30),
            max: Duration::from_secs(100),
        }
    }

    #[test]
    fn two_traps_do_not_quarantine_and_the_third_does() {
        let now = Instant::now();
        let mut q = Quarantine::new(policy());
        q.record_trap(now);
        q.record_trap(now);
        assert_eq!(q.blocked(now), None);
        q.record_trap(now);
        assert_eq!(q.blocked(now), Some(Duration::from_secs(30)));
        assert_eq!(
            q.message(Duration::from_millis(41_200)),
            "quarantined after 3 consecutive traps; next attempt in 42s"
        );
    }

    #[test]
    fn each_further_quarantine_doubles_up_to_the_cap() {
        let mut now = Instant::now();
        let mut q = Quarantine::new(policy());
        for _ in 0..3 {
            q.record_trap(now);
        }
        let mut lengths = vec![];
        for _ in 0..3 {
            let left = q.blocked(now).unwrap_or_default();
            lengths.push(left.as_secs());
            now += left;
            q.record_trap(now);
        }
        assert_eq!(lengths, [30, 60, 100]);
    }

    #[test]
    fn a_completed_run_resets_the_count() {
        let now = Instant::now();
        let mut q = Quarantine::new(policy());
        q.record_trap(now);
        q.record_trap(now);
        q.record_completion();
        q.record_trap(now);
        assert_eq!(
            q.state(now),
            QuarantineState::Active {
                consecutive_traps: 1
            }
        );
    }
}
