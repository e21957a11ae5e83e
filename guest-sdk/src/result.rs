//! What a plugin returns: its description and the result of one check run.

use std::time::Duration;

use crate::__private::bindings::vitals::check::types as wit;
use crate::config::Key;

/// The health of what a plugin checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Working, but degraded or close to a limit.
    Warn,
    /// Not working.
    Fail,
    /// Could not be determined. The host never reads it as healthy.
    Unknown,
}

/// A measured value with its unit, such as `41.0 "ms"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The value.
    pub value: f64,
    /// Its unit, for example "ms", "s", "%", "rows", "days".
    pub unit: String,
}

/// The result of one check run, built fluently:
/// `CheckResult::pass("HTTP 200").observed(41.0, "ms").detail("status_code", 200)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The health status.
    pub status: Status,
    /// One line for humans. The host truncates long output.
    pub output: String,
    /// The main measurement, if any.
    pub observed: Option<Observed>,
    /// Extra key/value facts, in insertion order.
    pub details: Vec<(String, String)>,
}

impl CheckResult {
    /// A result with the given status and output, no measurement and no details.
    pub fn new(status: Status, output: impl Into<String>) -> Self {
        Self {
            status,
            output: output.into(),
            observed: None,
            details: Vec::new(),
        }
    }

    /// A healthy result.
    pub fn pass(output: impl Into<String>) -> Self {
        Self::new(Status::Pass, output)
    }

    /// A degraded result.
    pub fn warn(output: impl Into<String>) -> Self {
        Self::new(Status::Warn, output)
    }

    /// A failed result.
    pub fn fail(output: impl Into<String>) -> Self {
        Self::new(Status::Fail, output)
    }

    /// A result whose health could not be determined.
    pub fn unknown(output: impl Into<String>) -> Self {
        Self::new(Status::Unknown, output)
    }

    /// Sets the main measurement.
    #[must_use]
    pub fn observed(mut self, value: f64, unit: impl Into<String>) -> Self {
        self.observed = Some(Observed {
            value,
            unit: unit.into(),
        });
        self
    }

    /// Adds a key/value fact shown in the detailed status.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.details.push((key.into(), value.to_string()));
        self
    }
}

/// Settings a plugin suggests; the operator's config overrides each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// How often to run the check.
    pub interval: Option<Duration>,
    /// The hard deadline of one run.
    pub timeout: Option<Duration>,
    /// Whether a failure makes the whole service unhealthy.
    pub critical: Option<bool>,
}

/// What a plugin is, returned by [`Plugin::describe`](crate::Plugin::describe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Short identifier, e.g. "http-endpoint".
    pub name: String,
    /// The plugin's own version, e.g. "1.2.0"; `env!("CARGO_PKG_VERSION")` is a good choice.
    pub version: String,
    /// What it checks, in one sentence.
    pub summary: String,
    /// Suggested settings.
    pub defaults: Defaults,
    /// Every config key the plugin reads. The host refuses a config that sets any other key or
    /// leaves a required one unset, and fills in declared defaults.
    pub config: Vec<Key>,
}

impl Description {
    /// A description with no suggested settings.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            summary: summary.into(),
            defaults: Defaults::default(),
            config: Vec::new(),
        }
    }

    /// Declares a config key the plugin reads (see [`Key`]). Declare every key you read: the
    /// host refuses any key not declared.
    #[must_use]
    pub fn config(mut self, key: Key) -> Self {
        self.config.push(key);
        self
    }

    /// Suggests how often to run the check.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.defaults.interval = Some(interval);
        self
    }

    /// Suggests the hard deadline of one run.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.defaults.timeout = Some(timeout);
        self
    }

    /// Suggests whether a failure makes the whole service unhealthy.
    #[must_use]
    pub fn critical(mut self, critical: bool) -> Self {
        self.defaults.critical = Some(critical);
        self
    }
}

/// Milliseconds for the wire, saturating instead of wrapping for absurd durations.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl From<Status> for wit::Status {
    fn from(status: Status) -> Self {
        match status {
            Status::Pass => wit::Status::Pass,
            Status::Warn => wit::Status::Warn,
            Status::Fail => wit::Status::Fail,
            Status::Unknown => wit::Status::Unknown,
        }
    }
}

impl From<CheckResult> for wit::CheckResult {
    fn from(result: CheckResult) -> Self {
        wit::CheckResult {
            status: result.status.into(),
            output: result.output,
            observed: result.observed.map(|observed| wit::Observed {
                value: observed.value,
                unit: observed.unit,
            }),
            details: result.details,
        }
    }
}

impl From<Description> for wit::Description {
    fn from(description: Description) -> Self {
        wit::Description {
            name: description.name,
            version: description.version,
            summary: description.summary,
            defaults: wit::Defaults {
                interval_ms: description.defaults.interval.map(millis),
                timeout_ms: description.defaults.timeout.map(millis),
                critical: description.defaults.critical,
            },
            config: description
                .config
                .into_iter()
                .map(|key| wit::ConfigKey {
                    name: key.name,
                    required: key.required,
                    default: key.default,
                    help: key.help,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_collects_observed_value_and_details_in_order() {
        let result = CheckResult::warn("slow")
            .observed(41.5, "ms")
            .detail("status_code", 200)
            .detail("url", "http://x");
        assert_eq!(result.status, Status::Warn);
        assert_eq!(
            result.observed,
            Some(Observed {
                value: 41.5,
                unit: "ms".into()
            })
        );
        assert_eq!(
            result.details,
            vec![
                ("status_code".to_string(), "200".to_string()),
                ("url".to_string(), "http://x".to_string())
            ]
        );
    }

    #[test]
    fn description_defaults_convert_to_milliseconds() {
        let wire: wit::Description = Description::new("n", "1.0.0", "s")
            .interval(Duration::from_secs(30))
            .timeout(Duration::from_millis(1500))
            .critical(true)
            .into();
        assert_eq!(wire.defaults.interval_ms, Some(30_000));
        assert_eq!(wire.defaults.timeout_ms, Some(1_500));
        assert_eq!(wire.defaults.critical, Some(true));
    }

    #[test]
    fn declared_config_keys_go_on_the_wire_in_order() {
        let wire: wit::Description = Description::new("n", "1.0.0", "s")
            .config(Key::required("url", "URL to fetch"))
            .config(Key::optional("timeout_ms", "Per request").default("5000"))
            .into();
        let keys: Vec<_> = wire
            .config
            .iter()
            .map(|k| (k.name.as_str(), k.required, k.default.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [("url", true, None), ("timeout_ms", false, Some("5000"))]
        );
    }

    #[test]
    fn absurd_durations_saturate_instead_of_wrapping() {
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
