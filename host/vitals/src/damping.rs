//! Flap control: turning a stream of raw results into a stable state.
//!
//! A check's state only turns `fail` after `failures_before_fail` consecutive failing runs, and a
//! failed check only turns back after `successes_before_pass` consecutive good runs. `unknown`
//! counts as failing (unknown is never healthy) but is reported as `unknown`, not `fail`.

use crate::check::Status;

/// The damped state of one check, carried from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damped {
    /// The state the outside world sees.
    pub status: Status,
    /// Consecutive failing (fail or unknown) runs up to now.
    pub consecutive_failures: u32,
    /// Consecutive good (pass or warn) runs up to now.
    pub consecutive_successes: u32,
}

impl Damped {
    /// The state before the first result: unknown, no streaks.
    pub const INITIAL: Damped = Damped {
        status: Status::Unknown,
        consecutive_failures: 0,
        consecutive_successes: 0,
    };
}

/// How many consecutive runs it takes to change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapPolicy {
    /// Failing runs before the state turns `fail` (at least 1).
    pub failures_before_fail: u32,
    /// Good runs before a failed state recovers (at least 1).
    pub successes_before_pass: u32,
}

/// The next damped state after one raw result.
///
/// The first result of a check is taken as is: there is no earlier state to hold on to.
pub(crate) fn damp(prev: Damped, raw: Status, policy: FlapPolicy) -> Damped {
    let failing = matches!(raw, Status::Fail | Status::Unknown);
    let (consecutive_failures, consecutive_successes) = if failing {
        (prev.consecutive_failures.saturating_add(1), 0)
    } else {
        (0, prev.consecutive_successes.saturating_add(1))
    };
    let first_result = prev == Damped::INITIAL;
    let status = if first_result {
        raw
    } else if failing {
        let held_good = prev.status.is_serving();
        if held_good && consecutive_failures < policy.failures_before_fail.max(1) {
            prev.status
        } else {
            raw
        }
    } else {
        let was_bad = !prev.status.is_serving();
        if was_bad && consecutive_successes < policy.successes_before_pass.max(1) {
            prev.status
        } else {
            raw
        }
    };
    Damped {
        status,
        consecutive_failures,
        consecutive_successes,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use Status::*;

    fn run(policy: FlapPolicy, raws: &[Status]) -> Vec<Status> {
        let mut state = Damped::INITIAL;
        raws.iter()
            .map(|&raw| {
                state = damp(state, raw, policy);
                state.status
            })
            .collect()
    }

    const THREE_TWO: FlapPolicy = FlapPolicy {
        failures_before_fail: 3,
        successes_before_pass: 2,
    };

    #[test]
    fn first_result_is_taken_as_is() {
        assert_eq!(run(THREE_TWO, &[Fail]), vec![Fail]);
        assert_eq!(run(THREE_TWO, &[Pass]), vec![Pass]);
    }

    #[test]
    fn state_turns_fail_only_after_consecutive_failures() {
        assert_eq!(
            run(THREE_TWO, &[Pass, Fail, Fail, Fail]),
            vec![Pass, Pass, Pass, Fail]
        );
    }

    #[test]
    fn an_interleaved_success_resets_the_failure_streak() {
        assert_eq!(
            run(THREE_TWO, &[Pass, Fail, Fail, Pass, Fail, Fail]),
            vec![Pass, Pass, Pass, Pass, Pass, Pass]
        );
    }

    #[test]
    fn failed_state_recovers_only_after_consecutive_successes() {
        assert_eq!(
            run(THREE_TWO, &[Fail, Pass, Fail, Pass, Pass]),
            vec![Fail, Fail, Fail, Fail, Pass]
        );
    }

    #[test]
    fn unknown_counts_as_failing_but_reads_as_unknown() {
        assert_eq!(
            run(THREE_TWO, &[Pass, Unknown, Unknown, Unknown]),
            vec![Pass, Pass, Pass, Unknown]
        );
    }

    #[test]
    fn warn_is_applied_at_once_when_not_failed() {
        assert_eq!(run(THREE_TWO, &[Pass, Warn, Pass]), vec![Pass, Warn, Pass]);
    }

    #[test]
    fn policy_of_one_follows_raw_results() {
        let one = FlapPolicy {
            failures_before_fail: 1,
            successes_before_pass: 1,
        };
        assert_eq!(run(one, &[Pass, Fail, Pass]), vec![Pass, Fail, Pass]);
    }
}
