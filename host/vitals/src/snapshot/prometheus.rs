//! `/metrics` text for a snapshot (the per-request age lines are added by the handler).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::HealthSnapshot;
use crate::backpressure::{Admission, ShedSource};
use crate::check::Status;
use crate::metrics::{MetricsSource, MetricsWriter};

const STATUSES: [Status; 4] = [Status::Pass, Status::Warn, Status::Unknown, Status::Fail];
const SOURCES: [ShedSource; 5] = [
    ShedSource::CircuitBreaker,
    ShedSource::ChannelSaturation,
    ShedSource::QueueDepth,
    ShedSource::Check,
    ShedSource::Stale,
];

pub(super) fn render(snap: &HealthSnapshot, sources: &[Arc<dyn MetricsSource>]) -> String {
    let mut w = MetricsWriter::new();
    w.family(
        "vitals_health_status",
        "gauge",
        "Overall status (1 for the current one).",
    );
    for s in STATUSES {
        let v = f64::from(u8::from(snap.overall.status == s));
        w.sample("vitals_health_status", &[("status", s.as_str())], v);
    }

    w.family(
        "vitals_check_status",
        "gauge",
        "Check state (1 for the current one).",
    );
    for c in &snap.checks {
        let current = c.status();
        for s in STATUSES {
            let v = f64::from(u8::from(current == s));
            w.sample(
                "vitals_check_status",
                &[("check", &c.name), ("status", s.as_str())],
                v,
            );
        }
    }

    w.family(
        "vitals_check_critical",
        "gauge",
        "1 if the check gates readiness.",
    );
    for c in &snap.checks {
        w.sample(
            "vitals_check_critical",
            &[("check", &c.name)],
            f64::from(u8::from(c.settings.critical)),
        );
    }

    w.family(
        "vitals_check_duration_seconds",
        "gauge",
        "Duration of the latest run.",
    );
    for c in &snap.checks {
        if let Some(r) = &c.last {
            w.sample(
                "vitals_check_duration_seconds",
                &[("check", &c.name)],
                r.duration.as_secs_f64(),
            );
        }
    }

    w.family(
        "vitals_check_consecutive_failures",
        "gauge",
        "Failing runs in a row.",
    );
    for c in &snap.checks {
        let v = f64::from(c.damped.consecutive_failures);
        w.sample(
            "vitals_check_consecutive_failures",
            &[("check", &c.name)],
            v,
        );
    }

    w.family(
        "vitals_check_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the latest passing run.",
    );
    for c in &snap.checks {
        if let Some(t) = c.last_success {
            let secs = t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            w.sample(
                "vitals_check_last_success_timestamp_seconds",
                &[("check", &c.name)],
                secs,
            );
        }
    }

    w.family(
        "vitals_check_runs_total",
        "counter",
        "Runs since the check was registered.",
    );
    for c in &snap.checks {
        w.sample(
            "vitals_check_runs_total",
            &[("check", &c.name)],
            c.runs as f64,
        );
    }
    w.family(
        "vitals_check_timeouts_total",
        "counter",
        "Runs that hit the timeout.",
    );
    for c in &snap.checks {
        w.sample(
            "vitals_check_timeouts_total",
            &[("check", &c.name)],
            c.timeouts as f64,
        );
    }

    w.family(
        "vitals_check_observed_value",
        "gauge",
        "The check's main measurement.",
    );
    for c in &snap.checks {
        if let Some(o) = c.last.as_ref().and_then(|r| r.outcome.observed.as_ref()) {
            w.sample(
                "vitals_check_observed_value",
                &[("check", &c.name), ("unit", &o.unit)],
                o.value,
            );
        }
    }

    w.family(
        "vitals_check_tier",
        "gauge",
        "Load tier: 0 normal, 1 warning, 2 critical, 3 overflow.",
    );
    for c in &snap.checks {
        if let Some(t) = c.load_tier() {
            w.sample(
                "vitals_check_tier",
                &[("check", &c.name)],
                f64::from(t.level()),
            );
        }
    }

    w.family(
        "vitals_backpressure_active",
        "gauge",
        "1 while admission is closed.",
    );
    w.sample(
        "vitals_backpressure_active",
        &[],
        f64::from(u8::from(!snap.admission.is_open())),
    );
    w.family(
        "vitals_backpressure_source",
        "gauge",
        "1 for the source that closed admission.",
    );
    for s in SOURCES {
        let active = matches!(&snap.admission, Admission::Shedding(x) if x.source == s);
        w.sample(
            "vitals_backpressure_source",
            &[("source", s.as_str())],
            f64::from(u8::from(active)),
        );
    }

    // A counter's name ends in `_total` (the exposition convention promtool checks).
    w.family(
        "vitals_snapshots_published_total",
        "counter",
        "Snapshots published.",
    );
    w.sample("vitals_snapshots_published_total", &[], snap.seq as f64);

    for s in sources {
        s.render(&mut w);
    }
    w.finish()
}
