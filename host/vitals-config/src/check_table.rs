//! The settings every `[checks.NAME]` table accepts, shared by all check types.
//!
//! serde cannot combine `flatten` with `deny_unknown_fields`, so instead of flattening a common
//! struct, [`check_config!`](crate::check_config) declares each check type's struct with the common
//! fields included. Unknown keys stay rejected and the table stays flat:
//!
//! ```toml
//! [checks.orders-db]
//! type = "database"
//! datasource = "orders"   # specific to this type
//! interval = "5s"         # common
//! critical = true         # common
//! ```

use std::time::Duration;

use vitals::CheckSettings;

/// The common per-check settings as written in config; `None` means "use the default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommonSettings {
    /// Time between runs.
    pub interval: Option<Duration>,
    /// Hard limit per run.
    pub timeout: Option<Duration>,
    /// Whether failing fails readiness.
    pub critical: Option<bool>,
    /// Consecutive failures before the state turns `fail`.
    pub failures_before_fail: Option<u32>,
    /// Consecutive successes before a failed state turns `pass`.
    pub successes_before_pass: Option<u32>,
    /// Whether a failing state closes admission.
    pub backpressure_source: Option<bool>,
}

impl CommonSettings {
    /// Apply these overrides on top of `base`.
    pub fn apply(&self, base: &CheckSettings) -> CheckSettings {
        CheckSettings {
            interval: self.interval.unwrap_or(base.interval),
            timeout: self.timeout.unwrap_or(base.timeout),
            critical: self.critical.unwrap_or(base.critical),
            failures_before_fail: self
                .failures_before_fail
                .unwrap_or(base.failures_before_fail),
            successes_before_pass: self
                .successes_before_pass
                .unwrap_or(base.successes_before_pass),
            backpressure_source: self.backpressure_source.unwrap_or(base.backpressure_source),
        }
    }
}

/// Declare the config struct of one check type: its own fields plus the common ones
/// (`interval`, `timeout`, `critical`, `failures_before_fail`, `successes_before_pass`,
/// `backpressure_source`), with unknown keys rejected. The struct gets a `common()` method
/// returning [`CommonSettings`].
///
/// ```ignore
/// vitals::check_config! {
///     /// A database check.
///     pub struct DatabaseCheckConfig {
///         /// Which datasource to query.
///         pub datasource: String,
///     }
/// }
/// ```
#[macro_export]
macro_rules! check_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
            /// Time between runs, e.g. "10s".
            #[serde(default, with = "humantime_serde::option")]
            pub interval: Option<std::time::Duration>,
            /// Hard limit per run, e.g. "2s".
            #[serde(default, with = "humantime_serde::option")]
            pub timeout: Option<std::time::Duration>,
            /// Whether failing fails readiness (default true).
            #[serde(default)]
            pub critical: Option<bool>,
            /// Consecutive failures before the state turns fail.
            #[serde(default)]
            pub failures_before_fail: Option<u32>,
            /// Consecutive successes before a failed state turns pass.
            #[serde(default)]
            pub successes_before_pass: Option<u32>,
            /// Whether a failing state closes admission.
            #[serde(default)]
            pub backpressure_source: Option<bool>,
        }

        impl $name {
            /// The common settings written in this table.
            pub fn common(&self) -> $crate::CommonSettings {
                $crate::CommonSettings {
                    interval: self.interval,
                    timeout: self.timeout,
                    critical: self.critical,
                    failures_before_fail: self.failures_before_fail,
                    successes_before_pass: self.successes_before_pass,
                    backpressure_source: self.backpressure_source,
                }
            }
        }
    };
}
