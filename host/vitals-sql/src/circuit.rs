//! A circuit breaker per datasource: after repeated failures, stop calling a sick dependency for
//! a while instead of piling more waiting work onto it.
//!
//! Closed → (failure_threshold consecutive failures) → Open → (open_for elapsed) → HalfOpen →
//! (success_threshold consecutive successes) → Closed; a failure while half-open re-opens it.
//! Transitions are at least `min_transition_interval` apart, except re-opening from half-open:
//! a failed probe stops traffic at once. Time is `tokio::time::Instant`, so tests can pause it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::time::Instant;

/// How many transitions are kept for the status output.
const TRANSITION_HISTORY: usize = 50;

/// Circuit breaker settings (`[datasources.NAME.circuit]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before probing again.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// Consecutive successful probes that close a half-open circuit.
    pub success_threshold: u32,
    /// Minimum time between two transitions, against flapping.
    #[serde(with = "humantime_serde")]
    pub min_transition_interval: Duration,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        CircuitConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
            success_threshold: 2,
            min_transition_interval: Duration::from_secs(1),
        }
    }
}

/// The state of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are rejected without touching the dependency.
    Open {
        /// When it opened.
        since: Instant,
    },
    /// Probe calls go through; their results decide whether to close or re-open.
    HalfOpen,
}

impl CircuitState {
    /// `"closed"`, `"open"` or `"half_open"`.
    pub fn name(&self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open { .. } => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// Whether a call may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (closed, or a half-open probe).
    Admit,
    /// Do not touch the dependency.
    Reject {
        /// Time until the next probe is allowed.
        retry_in: Duration,
    },
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// State name before.
    pub from: &'static str,
    /// State name after.
    pub to: &'static str,
    /// When, on the monotonic clock.
    pub at: Instant,
    /// When, on the wall clock (for display).
    pub at_wall: SystemTime,
    /// Why it happened.
    pub reason: String,
}

#[derive(Debug)]
struct Inner {
    state: CircuitState,
    consecutive_failures: u32,
    half_open_successes: u32,
    last_transition: Option<Instant>,
    transitions: VecDeque<Transition>,
    transitions_total: u64,
}

/// A circuit breaker. Cheap to share behind an `Arc`; the lock is never held across `.await`.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: CircuitConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: CircuitConfig) -> Self {
        CircuitBreaker {
            config,
            inner: Mutex::new(Inner {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                half_open_successes: 0,
                last_transition: None,
                transitions: VecDeque::new(),
                transitions_total: 0,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CircuitConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot panic half-way, so a poisoned lock still holds valid data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state (an open circuit whose time is up still reads open until the next
    /// [`allow`](Self::allow) half-opens it).
    pub fn state(&self) -> CircuitState {
        self.lock().state
    }

    /// Consecutive failures counted so far (reset by a success).
    pub fn consecutive_failures(&self) -> u32 {
        self.lock().consecutive_failures
    }

    /// All transitions since start.
    pub fn transitions_total(&self) -> u64 {
        self.lock().transitions_total
    }

    /// The last (up to 50) transitions, oldest first.
    pub fn transitions(&self) -> Vec<Transition> {
        self.lock().transitions.iter().cloned().collect()
    }

    /// Ask before calling the dependency.
    pub fn allow(&self) -> Admission {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.state {
            CircuitState::Closed | CircuitState::HalfOpen => Admission::Admit,
            CircuitState::Open { since } => {
                let reopen_at = since + self.config.open_for;
                let earliest = inner
                    .last_transition
                    .map_or(now, |t| t + self.config.min_transition_interval);
                let probe_at = reopen_at.max(earliest);
                if now >= probe_at {
                    let reason = format!("open for {:?}, probing", now - since);
                    self.transition(&mut inner, CircuitState::HalfOpen, now, reason);
                    Admission::Admit
                } else {
                    Admission::Reject {
                        retry_in: probe_at - now,
                    }
                }
            }
        }
    }

    /// Report a successful call.
    pub fn record_success(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.consecutive_failures = 0;
        if inner.state == CircuitState::HalfOpen {
            inner.half_open_successes += 1;
            if inner.half_open_successes >= self.config.success_threshold
                && self.interval_passed(&inner, now)
            {
                let reason = format!(
                    "{} consecutive successful probes",
                    inner.half_open_successes
                );
                self.transition(&mut inner, CircuitState::Closed, now, reason);
            }
        }
    }

    /// Report a failed call.
    pub fn record_failure(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        match inner.state {
            CircuitState::Closed => {
                if inner.consecutive_failures >= self.config.failure_threshold
                    && self.interval_passed(&inner, now)
                {
                    let reason = format!("{} consecutive failures", inner.consecutive_failures);
                    self.transition(&mut inner, CircuitState::Open { since: now }, now, reason);
                }
            }
            CircuitState::HalfOpen => {
                let reason = "probe failed".to_owned();
                self.transition(&mut inner, CircuitState::Open { since: now }, now, reason);
            }
            CircuitState::Open { .. } => {}
        }
    }

    fn interval_passed(&self, inner: &Inner, now: Instant) -> bool {
        inner
            .last_transition
            .is_none_or(|t| now >= t + self.config.min_transition_interval)
    }

    fn transition(&self, inner: &mut Inner, to: CircuitState, now: Instant, reason: String) {
        let from = inner.state.name();
        tracing::info!(from, to = to.name(), %reason, "circuit breaker transition");
        inner.state = to;
        inner.half_open_successes = 0;
        inner.last_transition = Some(now);
        inner.transitions_total += 1;
        if inner.transitions.len() == TRANSITION_HISTORY {
            inner.transitions.pop_front();
        }
        inner.transitions.push_back(Transition {
            from,
            to: to.name(),
            at: now,
            at_wall: SystemTime::now(),
            reason,
        });
    }
}

#[cfg(test)]
mod tests;
