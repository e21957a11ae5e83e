//! Aggregation: from per-check states to one overall status.
//!
//! - A critical check's state counts as is: the overall status is the worst among them.
//! - A failing or unknown non-critical check only degrades the whole to `warn` (still served).
//! - Before a check's first result its state is `unknown`. During the startup grace period such a
//!   pending critical check keeps the overall status `unknown` (readiness reports "starting") and
//!   a pending non-critical check is ignored; after the grace period, and for any check whose
//!   evaluation itself failed, unknown counts as failing.
//! - A check added while the service runs (a plugin dropped into the directory, a config reload)
//!   is "joining" until its first result, for at most its first run's timeout: readiness does not
//!   wait for it, so adding a check never blips readiness. Past that bound it counts as failing.

use crate::check::Status;

/// One check's input to aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict<'a> {
    /// The check's name.
    pub name: &'a str,
    /// Whether it gates readiness.
    pub critical: bool,
    /// Its damped state.
    pub status: Status,
    /// Whether it has produced a result yet.
    pub progress: Progress,
}

/// Where a check is on its way to a first result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// It has a result.
    Evaluated,
    /// No result yet: counted by the service's phase (starting, or failing after the grace).
    Pending,
    /// Added while running, no result yet, still within its first run's timeout: not counted.
    Joining,
}

/// Whether the service is still inside its startup grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Inside the grace period: checks without a result yet are "starting", not failing.
    Starting,
    /// After it.
    Running,
}

/// The overall status and the checks that made it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overall {
    /// pass / warn / unknown (starting) / fail.
    pub status: Status,
    /// Names of the checks that are not passing, worst first.
    pub culprits: Vec<String>,
}

/// What one check contributes to the overall status.
pub(crate) fn contribution(v: Verdict<'_>, phase: Phase) -> Status {
    let phase = match v.progress {
        Progress::Joining => return Status::Pass,
        Progress::Pending => phase,
        Progress::Evaluated => Phase::Running,
    };
    match (v.critical, v.status, phase) {
        (_, Status::Pass, _) => Status::Pass,
        (_, Status::Warn, _) => Status::Warn,
        (true, Status::Fail, _) => Status::Fail,
        (true, Status::Unknown, Phase::Starting) => Status::Unknown,
        (true, Status::Unknown, Phase::Running) => Status::Fail,
        (false, Status::Unknown, Phase::Starting) => Status::Pass,
        (false, Status::Fail | Status::Unknown, _) => Status::Warn,
    }
}

/// Aggregate the verdicts of all checks. No checks at all is a pass.
pub(crate) fn aggregate<'a>(
    verdicts: impl IntoIterator<Item = Verdict<'a>>,
    phase: Phase,
) -> Overall {
    let mut worst = Status::Pass;
    let mut culprits: Vec<(Status, &str)> = Vec::new();
    for v in verdicts {
        let c = contribution(v, phase);
        worst = worst.max(c);
        if c != Status::Pass {
            culprits.push((c, v.name));
        }
    }
    culprits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    Overall {
        status: worst,
        culprits: culprits.into_iter().map(|(_, n)| n.to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use Status::*;

    fn v(name: &str, critical: bool, status: Status) -> Verdict<'_> {
        let progress = if status == Unknown {
            Progress::Pending
        } else {
            Progress::Evaluated
        };
        Verdict {
            name,
            critical,
            status,
            progress,
        }
    }

    #[test]
    fn all_passing_is_pass() {
        let o = aggregate([v("a", true, Pass), v("b", false, Pass)], Phase::Running);
        assert_eq!(o.status, Pass);
        assert!(o.culprits.is_empty());
    }

    #[test]
    fn no_checks_is_pass() {
        assert_eq!(aggregate([], Phase::Running).status, Pass);
    }

    #[test]
    fn failing_critical_check_fails_the_whole() {
        let o = aggregate(
            [v("db", true, Fail), v("cache", false, Pass)],
            Phase::Running,
        );
        assert_eq!(o.status, Fail);
        assert_eq!(o.culprits, vec!["db"]);
    }

    #[test]
    fn failing_non_critical_check_only_degrades() {
        let o = aggregate(
            [v("db", true, Pass), v("cache", false, Fail)],
            Phase::Running,
        );
        assert_eq!(o.status, Warn);
        assert_eq!(o.culprits, vec!["cache"]);
    }

    #[test]
    fn warning_critical_check_degrades() {
        assert_eq!(
            aggregate([v("db", true, Warn)], Phase::Running).status,
            Warn
        );
    }

    #[test]
    fn unknown_critical_check_is_starting_during_grace_and_failing_after() {
        assert_eq!(
            aggregate([v("db", true, Unknown)], Phase::Starting).status,
            Unknown
        );
        assert_eq!(
            aggregate([v("db", true, Unknown)], Phase::Running).status,
            Fail
        );
    }

    #[test]
    fn unknown_non_critical_check_is_ignored_during_grace_and_degrades_after() {
        assert_eq!(
            aggregate([v("c", false, Unknown)], Phase::Starting).status,
            Pass
        );
        assert_eq!(
            aggregate([v("c", false, Unknown)], Phase::Running).status,
            Warn
        );
    }

    #[test]
    fn evaluation_failure_counts_as_failing_even_during_grace() {
        let failed = Verdict {
            name: "db",
            critical: true,
            status: Unknown,
            progress: Progress::Evaluated,
        };
        assert_eq!(aggregate([failed], Phase::Starting).status, Fail);
    }

    #[test]
    fn a_check_joining_a_running_service_does_not_count_until_its_first_result() {
        let joining = Verdict {
            name: "new-plugin",
            critical: true,
            status: Unknown,
            progress: Progress::Joining,
        };
        let o = aggregate([v("db", true, Pass), joining], Phase::Running);
        assert_eq!(o.status, Pass);
        assert!(o.culprits.is_empty());
        let overdue = Verdict {
            progress: Progress::Pending,
            ..joining
        };
        assert_eq!(aggregate([overdue], Phase::Running).status, Fail);
    }

    #[test]
    fn culprits_are_listed_worst_first() {
        let o = aggregate(
            [v("w", true, Warn), v("f", true, Fail), v("n", false, Fail)],
            Phase::Running,
        );
        assert_eq!(o.status, Fail);
        assert_eq!(o.culprits, vec!["f", "n", "w"]);
    }
}
