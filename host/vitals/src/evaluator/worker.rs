//! One background loop per check: wait for a permit, run under a hard timeout, report, sleep.
//! A check's first run waits in the first-run queue (see [`super::permits`]).
//!
//! Each check has its own loop, so a check that hangs only delays itself (until its timeout),
//! and the loop awaiting its own run makes every check single-flight. Cancellation is only
//! observed between runs: a run in flight finishes (bounded by its timeout) even when the check is
//! replaced, so a reload never cuts a run short.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::permits::{RunPermits, Turn};
use crate::check::{Check, CheckResult, CheckSettings, Outcome};

/// A finished run, sent to the publisher.
#[derive(Debug)]
pub(crate) struct RunReport {
    pub name: Arc<str>,
    pub generation: u64,
    pub result: CheckResult,
    pub timed_out: bool,
    /// The check's labels after this run (a plugin's measurement follows its observed unit).
    pub kind: crate::check::CheckKind,
}

/// Repeat runs start on this grid: checks that come due within the same 10 ms wake the runtime
/// once, together, instead of once each. A thousand checks on a 1 s interval otherwise wake a
/// worker thread about a thousand times a second, and each wake (a futex, a context switch)
/// costs more than a small plugin's run. A run starts at most this much later than its jittered
/// interval says.
pub(crate) const RUN_GRID: Duration = Duration::from_millis(10);

pub(crate) struct Worker {
    pub name: Arc<str>,
    pub generation: u64,
    pub check: Arc<dyn Check>,
    pub settings: CheckSettings,
    pub jitter: f64,
    pub permits: Arc<RunPermits>,
    pub reports: mpsc::Sender<RunReport>,
    pub cancel: CancellationToken,
    /// The origin of [`RUN_GRID`], shared by every worker of one evaluator.
    pub grid: Instant,
}

impl Worker {
    pub(crate) async fn run(self) {
        let mut turn = Turn::First;
        loop {
            let permit = tokio::select! {
                p = self.permits.acquire(turn) => match p {
                    Some(p) => p,
                    None => return, // pool closed: evaluator is gone
                },
                _ = self.cancel.cancelled() => return,
            };
            turn = Turn::Repeat;
            let started = Instant::now();
            let (outcome, timed_out) = run_once(self.check.clone(), self.settings.timeout).await;
            let duration = started.elapsed();
            drop(permit);
            let report = RunReport {
                name: self.name.clone(),
                generation: self.generation,
                result: CheckResult {
                    outcome,
                    time: SystemTime::now(),
                    duration,
                },
                timed_out,
                kind: self.check.kind(),
            };
            if self.reports.send(report).await.is_err() {
                return;
            }
            let wait = jittered(self.settings.interval, self.jitter, fastrand::f64());
            let next = on_grid(Instant::now() + wait, self.grid, RUN_GRID);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.cancel.cancelled() => return,
            }
        }
    }
}

/// Run a check once under a hard timeout. The run is its own task so that a panic becomes a
/// failed result instead of killing the loop, and so that it can be aborted at the timeout.
pub async fn run_once(check: Arc<dyn Check>, timeout: Duration) -> (Outcome, bool) {
    let task = tokio::spawn(async move { check.run().await });
    let abort = task.abort_handle();
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(outcome)) => (outcome, false),
        Ok(Err(e)) if e.is_panic() => {
            let msg = e
                .into_panic()
                .downcast::<String>()
                .map(|s| *s)
                .or_else(|p| p.downcast::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|_| "no message".to_owned());
            (Outcome::fail(format!("check panicked: {msg}")), false)
        }
        Ok(Err(_)) => (Outcome::fail("check was cancelled"), false),
        Err(_) => {
            abort.abort();
            let msg = format!(
                "timed out after {} (deadline exceeded)",
                humantime::format_duration(timeout)
            );
            (Outcome::fail(msg), true)
        }
    }
}

/// `t` rounded up to the next point of a grid of `step` starting at `origin`.
pub(crate) fn on_grid(t: Instant, origin: Instant, step: Duration) -> Instant {
    let since = t.saturating_duration_since(origin).as_nanos();
    let step = step.as_nanos().max(1);
    let rounded = since.div_ceil(step).saturating_mul(step);
    origin + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// `interval` spread by up to ±`jitter` (a fraction), from a unit random number in `[0, 1)`.
pub(crate) fn jittered(interval: Duration, jitter: f64, unit: f64) -> Duration {
    let j = jitter.clamp(0.0, 1.0);
    let factor = 1.0 - j + 2.0 * j * unit.clamp(0.0, 1.0);
    interval.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn run_times_round_up_to_the_grid_and_never_earlier() {
        let origin = Instant::now();
        let step = Duration::from_millis(10);
        let at = |ms: u64| origin + Duration::from_millis(ms);
        assert_eq!(on_grid(at(0), origin, step), at(0));
        assert_eq!(on_grid(at(1), origin, step), at(10));
        assert_eq!(on_grid(at(10), origin, step), at(10));
        assert_eq!(
            on_grid(at(1003) + Duration::from_nanos(1), origin, step),
            at(1010)
        );
        // Two checks due 4 ms apart in one slot share one wake-up.
        assert_eq!(
            on_grid(at(501), origin, step),
            on_grid(at(505), origin, step)
        );
    }

    #[test]
    fn jitter_spreads_within_the_band() {
        let i = Duration::from_secs(10);
        assert_eq!(jittered(i, 0.1, 0.0), Duration::from_secs(9));
        assert_eq!(jittered(i, 0.1, 0.5), Duration::from_secs(10));
        assert!(jittered(i, 0.1, 0.999) <= Duration::from_secs(11));
        assert_eq!(jittered(i, 0.0, 0.7), i);
    }
}
