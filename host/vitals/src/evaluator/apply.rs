//! Folding one run's result into a check's state, and deriving the snapshot's decisions.
//! Pure functions of their inputs (time is passed in).

use std::borrow::Borrow;

use tokio::time::Instant;

use crate::aggregate::{Overall, Phase, Progress, Verdict, aggregate};
use crate::backpressure::{Admission, BackpressureConfig, Signal, decide};
use crate::check::{CheckResult, Pressure, Status};
use crate::damping::{FlapPolicy, damp};
use crate::snapshot::{CheckState, Transition};
use crate::tiers::{Tier, TierState, next_tier};

/// Fold one finished run into the check's state.
pub(crate) fn apply_result(
    state: &mut CheckState,
    result: CheckResult,
    timed_out: bool,
    bp: &BackpressureConfig,
    now: Instant,
) {
    state.changed();
    let before = state.status();
    state.runs += 1;
    if timed_out {
        state.timeouts += 1;
    }
    let policy = FlapPolicy {
        failures_before_fail: state.settings.failures_before_fail,
        successes_before_pass: state.settings.successes_before_pass,
    };
    state.damped = damp(state.damped, result.outcome.status, policy);
    if result.outcome.status.is_serving() {
        state.last_success = Some(result.time);
    }
    // A failed measurement (unknown, or a run cut off at its timeout) keeps the last known load:
    // unknown never reads as "empty", and a hung dependency must not reopen admission.
    let measured = !(timed_out || result.outcome.status == Status::Unknown);
    state.tier = match &result.outcome.pressure {
        Some(Pressure::ChannelSaturation { percent }) => {
            Some(step_tier(state.tier, *percent, &bp.channel, bp, now))
        }
        Some(Pressure::QueueDepth { depth, .. }) => {
            Some(step_tier(state.tier, *depth as f64, &bp.queue, bp, now))
        }
        None if !measured => state.tier,
        _ => None,
    };
    state.age_tier = match &result.outcome.pressure {
        Some(Pressure::QueueDepth {
            oldest_age: Some(age),
            ..
        }) => Some(step_tier(
            state.age_tier,
            age.as_secs_f64(),
            &bp.queue_age.seconds(),
            bp,
            now,
        )),
        None if !measured => state.age_tier,
        _ => None,
    };
    let previous = state.last.as_ref().and_then(|l| l.outcome.pressure.clone());
    let pressure = match &result.outcome.pressure {
        Some(p) => Some(p.clone()),
        // A timed-out run says nothing about the breaker: an open circuit stays open.
        None if timed_out => previous,
        // An unknown result of a check that reports its breaker's live state replaces it.
        None if !measured => previous.filter(|p| !matches!(p, Pressure::CircuitOpen)),
        None => None,
    };
    let time = result.time;
    let output = result.outcome.output.clone();
    let mut result = result;
    result.outcome.pressure = pressure;
    state.last = Some(result);
    let after = state.status();
    if after != before {
        state.push_transition(Transition {
            time,
            from: Some(before),
            to: after,
            output,
        });
    }
}

fn step_tier(
    prev: Option<TierState>,
    value: f64,
    thresholds: &crate::tiers::Thresholds,
    bp: &BackpressureConfig,
    now: Instant,
) -> TierState {
    let prev = prev.unwrap_or(TierState {
        tier: Tier::Normal,
        since: now,
    });
    next_tier(prev, value, thresholds, bp.min_dwell, now)
}

/// The backpressure signal a check contributes, if any.
pub(crate) fn signal(c: &CheckState) -> Option<Signal> {
    let pressure = c.last.as_ref().and_then(|r| r.outcome.pressure.as_ref());
    match (pressure, c.load_tier()) {
        (Some(Pressure::CircuitOpen), _) => Some(Signal::CircuitOpen),
        (Some(Pressure::ChannelSaturation { percent }), Some(tier)) => Some(Signal::Channel {
            tier,
            percent: *percent,
        }),
        (Some(Pressure::QueueDepth { depth, oldest_age }), Some(tier)) => Some(Signal::Queue {
            tier,
            depth: *depth,
            oldest_age_secs: oldest_age.map(|a| a.as_secs()),
        }),
        _ if c.settings.backpressure_source => Some(Signal::Source { status: c.status() }),
        _ => None,
    }
}

/// The overall status of a set of check states at `now`.
pub(crate) fn overall<C: Borrow<CheckState>>(checks: &[C], phase: Phase, now: Instant) -> Overall {
    aggregate(
        checks.iter().map(Borrow::borrow).map(|c| Verdict {
            name: &c.name,
            critical: c.settings.critical,
            status: c.status(),
            progress: match (&c.last, c.joining_until) {
                (Some(_), _) => Progress::Evaluated,
                (None, Some(until)) if now < until => Progress::Joining,
                (None, _) => Progress::Pending,
            },
        }),
        phase,
    )
}

/// The admission decision for a set of check states.
pub(crate) fn admission<C: Borrow<CheckState>>(checks: &[C], bp: &BackpressureConfig) -> Admission {
    decide(
        checks
            .iter()
            .map(Borrow::borrow)
            .filter_map(|c| signal(c).map(|s| (c.name.as_ref(), s))),
        bp,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::check::{CheckKind, CheckSettings, Outcome};

    fn state(settings: CheckSettings) -> CheckState {
        CheckState::new("q", CheckKind::default(), settings, SystemTime::now())
    }

    fn result(o: Outcome) -> CheckResult {
        CheckResult {
            outcome: o,
            time: SystemTime::now(),
            duration: Duration::from_millis(1),
        }
    }

    fn depth(d: u64) -> Outcome {
        Outcome::pass("ok").pressure(Pressure::QueueDepth {
            depth: d,
            oldest_age: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn queue_past_critical_sheds_and_stays_until_below_exit_after_dwell() {
        let bp = BackpressureConfig::default();
        let mut s = state(CheckSettings::default());
        let t0 = Instant::now();
        apply_result(&mut s, result(depth(6_000)), false, &bp, t0);
        assert!(!admission(std::slice::from_ref(&s), &bp).is_open());
        assert_eq!(s.status(), Status::Warn, "a raised tier degrades the check");
        // Below the exit threshold but before the dwell: still shedding.
        apply_result(
            &mut s,
            result(depth(100)),
            false,
            &bp,
            t0 + Duration::from_secs(5),
        );
        assert!(!admission(std::slice::from_ref(&s), &bp).is_open());
        // After the dwell: open.
        apply_result(&mut s, result(depth(100)), false, &bp, t0 + bp.min_dwell);
        assert!(admission(std::slice::from_ref(&s), &bp).is_open());
        assert_eq!(s.status(), Status::Pass);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_measurement_keeps_the_last_tier_instead_of_reading_empty() {
        let bp = BackpressureConfig::default();
        let mut s = state(CheckSettings::default());
        let t0 = Instant::now();
        apply_result(&mut s, result(depth(6_000)), false, &bp, t0);
        apply_result(
            &mut s,
            result(Outcome::unknown("connection refused")),
            false,
            &bp,
            t0,
        );
        assert_eq!(s.status(), Status::Unknown);
        assert!(!admission(std::slice::from_ref(&s), &bp).is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_message_in_a_short_queue_sheds_by_age_with_hysteresis() {
        let bp = BackpressureConfig::default();
        let mut s = state(CheckSettings::default());
        let aged = |secs: u64| {
            Outcome::pass("ok").pressure(Pressure::QueueDepth {
                depth: 3,
                oldest_age: Some(Duration::from_secs(secs)),
            })
        };
        let t0 = Instant::now();
        apply_result(&mut s, result(aged(60)), false, &bp, t0);
        assert!(admission(std::slice::from_ref(&s), &bp).is_open());
        let critical = bp.queue_age.critical.as_secs();
        apply_result(&mut s, result(aged(critical)), false, &bp, t0);
        let Admission::Shedding(shed) = admission(std::slice::from_ref(&s), &bp) else {
            panic!("an old message past the critical age must close admission");
        };
        assert!(shed.reason.contains("oldest 900s old"), "{}", shed.reason);
        // Drained below the exit threshold, but within the dwell: still shedding.
        let soon = t0 + Duration::from_secs(1);
        apply_result(&mut s, result(aged(5)), false, &bp, soon);
        assert!(!admission(std::slice::from_ref(&s), &bp).is_open());
        apply_result(&mut s, result(aged(5)), false, &bp, t0 + bp.min_dwell);
        assert!(admission(std::slice::from_ref(&s), &bp).is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_out_run_keeps_the_queue_tier_and_the_open_circuit() {
        let bp = BackpressureConfig::default();
        let mut s = state(CheckSettings::default());
        let t0 = Instant::now();
        apply_result(&mut s, result(depth(6_000)), false, &bp, t0);
        let late = t0 + bp.min_dwell * 2;
        apply_result(&mut s, result(Outcome::fail("timed out")), true, &bp, late);
        assert_eq!(s.status(), Status::Fail);
        assert!(
            !admission(std::slice::from_ref(&s), &bp).is_open(),
            "a hung queue check must not reopen admission"
        );

        let mut db = state(CheckSettings::default());
        let open = Outcome::fail("circuit open").pressure(Pressure::CircuitOpen);
        apply_result(&mut db, result(open), false, &bp, t0);
        apply_result(&mut db, result(Outcome::fail("timed out")), true, &bp, t0);
        assert!(!admission(std::slice::from_ref(&db), &bp).is_open());
        // A real answer without pressure (the breaker closed again) does reopen it.
        apply_result(&mut db, result(Outcome::pass("ok")), false, &bp, t0);
        assert!(admission(std::slice::from_ref(&db), &bp).is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn circuit_open_signal_clears_with_the_next_result() {
        let bp = BackpressureConfig::default();
        let mut s = state(CheckSettings::default());
        let now = Instant::now();
        let open = Outcome::fail("circuit open").pressure(Pressure::CircuitOpen);
        apply_result(&mut s, result(open), false, &bp, now);
        assert!(!admission(std::slice::from_ref(&s), &bp).is_open());
        apply_result(
            &mut s,
            result(Outcome::unknown("probe failed")),
            false,
            &bp,
            now,
        );
        assert!(admission(std::slice::from_ref(&s), &bp).is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn transitions_are_recorded_once_per_change_and_bounded() {
        let bp = BackpressureConfig::default();
        let mut s = state(CheckSettings::default());
        let now = Instant::now();
        for i in 0..200 {
            let o = if i % 2 == 0 {
                Outcome::fail("down")
            } else {
                Outcome::pass("up")
            };
            apply_result(&mut s, result(o), false, &bp, now);
        }
        assert_eq!(s.history.len(), crate::snapshot::HISTORY_LEN);
        assert_eq!(s.runs, 200);
        let last = s.history.back().unwrap();
        assert_eq!((last.from, last.to), (Some(Status::Fail), Status::Pass));
    }

    #[tokio::test(start_paused = true)]
    async fn failing_backpressure_source_closes_admission() {
        let bp = BackpressureConfig::default();
        let settings = CheckSettings {
            backpressure_source: true,
            ..CheckSettings::default()
        };
        let mut s = state(settings);
        apply_result(
            &mut s,
            result(Outcome::fail("503 from upstream")),
            false,
            &bp,
            Instant::now(),
        );
        assert!(!admission(std::slice::from_ref(&s), &bp).is_open());
    }
}
