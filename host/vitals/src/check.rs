//! The check model: what a check is, what it returns and how it is scheduled.
//!
//! A native check is one [`Check`] implementation; the evaluator adds timing, timeouts and flap
//! damping around it. WebAssembly plugins implement the same trait through the plugin runtime.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The health of one check, or of the whole service.
///
/// Ordered from best to worst for aggregation: `Pass < Warn < Unknown < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Working but degraded (still serves traffic).
    Warn,
    /// Not determined: no result yet, or evaluation itself failed. Never read as healthy.
    Unknown,
    /// Not working.
    Fail,
}

impl Status {
    /// The lowercase name used in responses and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
            Status::Fail => "fail",
        }
    }

    /// Whether this status lets traffic through (pass or warn).
    pub fn is_serving(self) -> bool {
        matches!(self, Status::Pass | Status::Warn)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A measured value with its unit, such as `3.2 ms` or `71 %`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// The value.
    pub value: f64,
    /// The unit, e.g. `"ms"`, `"%"`, `"messages"`.
    pub unit: String,
}

/// Extra facts a check reports, shown in the detailed status.
pub type Details = BTreeMap<String, serde_json::Value>;

/// A measurement that can feed the backpressure engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pressure {
    /// A circuit breaker guarding a dependency is open (or half-open and probing).
    CircuitOpen,
    /// An in-process channel's fill level, in percent of its capacity.
    ChannelSaturation {
        /// 0.0 ..= 100.0
        percent: f64,
    },
    /// A queue's depth.
    QueueDepth {
        /// Messages waiting.
        depth: u64,
        /// Age of the oldest waiting message, if the queue reports it.
        #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
        oldest_age: Option<Duration>,
    },
}

/// What one run of a check found. Built by a check; the evaluator adds timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The raw status of this run.
    pub status: Status,
    /// One line for humans.
    pub output: String,
    /// The main measurement, if any.
    pub observed: Option<Observed>,
    /// Extra key/value facts.
    pub details: Details,
    /// A signal for the backpressure engine, if this check measures load.
    pub pressure: Option<Pressure>,
}

impl Outcome {
    /// An outcome with the given status and output.
    pub fn new(status: Status, output: impl Into<String>) -> Self {
        Outcome {
            status,
            output: output.into(),
            observed: None,
            details: Details::new(),
            pressure: None,
        }
    }

    /// A passing outcome.
    pub fn pass(output: impl Into<String>) -> Self {
        Self::new(Status::Pass, output)
    }

    /// A degraded outcome.
    pub fn warn(output: impl Into<String>) -> Self {
        Self::new(Status::Warn, output)
    }

    /// A failing outcome.
    pub fn fail(output: impl Into<String>) -> Self {
        Self::new(Status::Fail, output)
    }

    /// An outcome for a check that could not be evaluated.
    pub fn unknown(output: impl Into<String>) -> Self {
        Self::new(Status::Unknown, output)
    }

    /// Attach the main measurement.
    pub fn observed(mut self, value: f64, unit: impl Into<String>) -> Self {
        self.observed = Some(Observed {
            value,
            unit: unit.into(),
        });
        self
    }

    /// Attach one detail.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Attach a backpressure signal.
    pub fn pressure(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }
}

/// A duration in milliseconds as people and JSON should see it: rounded to the microsecond
/// (`0.656`, not `0.6563199999999999`): whole microseconds are as precise as a check's timing means.
pub fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// One finished run of a check: its outcome plus when it ran and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// What the check found.
    pub outcome: Outcome,
    /// Wall-clock time the run finished.
    pub time: SystemTime,
    /// How long the run took.
    pub duration: Duration,
}

/// How the host should label a check in health+json output (`component:measurement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckKind {
    /// The draft's `componentType`: `"datastore"`, `"component"`, `"system"`, ...
    pub component_type: &'static str,
    /// The measurement name, e.g. `"responseTime"`, `"saturation"`, `"depth"`, `"status"`.
    pub measurement: &'static str,
}

impl Default for CheckKind {
    fn default() -> Self {
        CheckKind {
            component_type: "component",
            measurement: "status",
        }
    }
}

/// A health check. Implement this for a native check; the evaluator runs it in the background
/// under a hard timeout, so `run` may block on I/O freely (it is cancelled when the timeout
/// fires).
#[async_trait]
pub trait Check: Send + Sync + 'static {
    /// How the check is labelled in responses.
    fn kind(&self) -> CheckKind {
        CheckKind::default()
    }

    /// Run the check once.
    async fn run(&self) -> Outcome;
}

/// Scheduling and policy for one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSettings {
    /// Time between the end of one run and the start of the next (plus jitter).
    pub interval: Duration,
    /// Hard limit for one run; a run past it is a `fail` that says so.
    pub timeout: Duration,
    /// A failing critical check fails readiness; a failing non-critical one only degrades.
    pub critical: bool,
    /// Consecutive failing runs before the check's state turns `fail`.
    pub failures_before_fail: u32,
    /// Consecutive passing runs before a failed check's state turns `pass` again.
    pub successes_before_pass: u32,
    /// Whether a failing state of this check closes admission (backpressure).
    pub backpressure_source: bool,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            critical: true,
            failures_before_fail: 1,
            successes_before_pass: 1,
            backpressure_source: false,
        }
    }
}

/// A named check with its settings, ready to register with the evaluator.
#[derive(Clone)]
pub struct CheckSpec {
    /// Unique name; the `component` part of `component:measurement`.
    pub name: String,
    /// The check itself.
    pub check: Arc<dyn Check>,
    /// How and how often it runs.
    pub settings: CheckSettings,
}

impl CheckSpec {
    /// A spec with default settings.
    pub fn new(name: impl Into<String>, check: impl Check) -> Self {
        CheckSpec {
            name: name.into(),
            check: Arc::new(check),
            settings: CheckSettings::default(),
        }
    }

    /// Replace the settings.
    pub fn with_settings(mut self, settings: CheckSettings) -> Self {
        self.settings = settings;
        self
    }
}

impl fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckSpec")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

mod opt_secs {
    use serde::Serializer;
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn milliseconds_are_shown_to_the_microsecond_without_float_noise() {
        assert_eq!(millis(Duration::from_nanos(656_319)), 0.656);
        assert_eq!(millis(Duration::from_nanos(1_601_584)), 1.601);
        assert_eq!(
            serde_json::to_string(&millis(Duration::from_nanos(1_601_584))).unwrap(),
            "1.601"
        );
        assert_eq!(millis(Duration::from_secs(2)), 2000.0);
    }

    #[test]
    fn statuses_order_from_best_to_worst() {
        assert!(Status::Pass < Status::Warn);
        assert!(Status::Warn < Status::Unknown);
        assert!(Status::Unknown < Status::Fail);
    }

    #[test]
    fn outcome_builder_collects_measurement_and_details() {
        let o = Outcome::warn("slow")
            .observed(412.0, "ms")
            .detail("pool_idle", 0)
            .pressure(Pressure::CircuitOpen);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(o.observed.as_ref().map(|o| o.value), Some(412.0));
        assert_eq!(o.details["pool_idle"], serde_json::json!(0));
        assert_eq!(o.pressure, Some(Pressure::CircuitOpen));
    }
}
