//! A fake host for unit tests run natively (`cargo test` on your machine, not in wasm).
//!
//! [`run`] does what the host does with your plugin: it checks a config against the keys
//! [`Plugin::describe`] declares (an unknown or a missing required key is refused with the
//! host's message), fills in declared defaults, and calls [`Plugin::check`] through the same
//! glue the component exports. [`config::get`](crate::config::get) and the [`log`](crate::log)
//! functions read and write this fake host; [`sql`](crate::sql) and [`http`](crate::http) are
//! not faked (they need the real host).
//!
//! ```
//! use vitals_guest::{CheckResult, Description, Plugin, Status, config, testing};
//!
//! struct Threshold;
//! impl Plugin for Threshold {
//!     fn describe() -> Description {
//!         Description::new("threshold", "1.0.0", "Compares a value")
//!             .config(config::Key::optional("value", "The value").default("42"))
//!     }
//!     fn check() -> Result<CheckResult, String> {
//!         let value: f64 = config::require_parsed("value")?;
//!         Ok(if value > 90.0 { CheckResult::fail("high") } else { CheckResult::pass("ok") })
//!     }
//! }
//!
//! assert_eq!(testing::run::<Threshold>(&[]).unwrap().status, Status::Pass);
//! assert_eq!(testing::run::<Threshold>(&[("value", "99")]).unwrap().status, Status::Fail);
//! let typo = testing::run::<Threshold>(&[("vaule", "99")]).unwrap_err();
//! assert_eq!(typo, "unknown config key `vaule`; the plugin reads: value");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::__private::bindings;
use crate::log::Level;
use crate::{CheckResult, Plugin};

thread_local! {
    static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
}

/// Run `P`'s check once with `config`, as the host would. `Err` is the host's refusal of the
/// config, or the check's own "could not evaluate" message.
pub fn run<P: Plugin>(config: &[(&str, &str)]) -> Result<CheckResult, String> {
    let description: bindings::Description = P::describe().into();
    let given: BTreeMap<String, String> = config
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let resolved = resolve(&description.config, given)?;
    CONFIG.with(|c| *c.borrow_mut() = resolved);
    LOGS.with(|l| l.borrow_mut().clear());
    <P as bindings::Guest>::check().map(|wire| CheckResult {
        status: match wire.status {
            bindings::vitals::check::types::Status::Pass => crate::Status::Pass,
            bindings::vitals::check::types::Status::Warn => crate::Status::Warn,
            bindings::vitals::check::types::Status::Fail => crate::Status::Fail,
            bindings::vitals::check::types::Status::Unknown => crate::Status::Unknown,
        },
        output: wire.output,
        observed: wire.observed.map(|o| crate::Observed {
            value: o.value,
            unit: o.unit,
        }),
        details: wire.details,
    })
}

/// The lines the last [`run`] logged, as "Level message" (e.g. "Debug measured 42").
pub fn logs() -> Vec<String> {
    LOGS.with(|l| {
        l.borrow()
            .iter()
            .map(|(level, message)| format!("{level:?} {message}"))
            .collect()
    })
}

/// The host's rule: every key set must be declared, every required key set; defaults fill the
/// rest. Messages match the host's.
fn resolve(
    declared: &[bindings::vitals::check::types::ConfigKey],
    mut given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut problems: Vec<String> = given
        .keys()
        .filter(|k| {
            !declared
                .iter()
                .any(|d| &d.name == *k || (d.name.ends_with('.') && k.starts_with(&d.name)))
        })
        .map(|k| format!("unknown config key `{k}`"))
        .collect();
    for key in declared
        .iter()
        .filter(|d| d.required && !given.contains_key(&d.name))
    {
        let help = if key.help.is_empty() {
            String::new()
        } else {
            format!(" ({})", key.help)
        };
        problems.push(format!(
            "config key `{}` is required{help} but not set",
            key.name
        ));
    }
    if !problems.is_empty() {
        let reads = if declared.is_empty() {
            "the plugin reads no config keys".to_owned()
        } else {
            let names: Vec<&str> = declared.iter().map(|k| k.name.as_str()).collect();
            format!("the plugin reads: {}", names.join(", "))
        };
        return Err(format!("{}; {reads}", problems.join("; ")));
    }
    for key in declared {
        if let Some(default) = &key.default {
            given
                .entry(key.name.clone())
                .or_insert_with(|| default.clone());
        }
    }
    Ok(given)
}

pub(crate) fn config_get(key: &str) -> Option<String> {
    CONFIG.with(|c| c.borrow().get(key).cloned())
}

pub(crate) fn config_keys() -> Vec<String> {
    CONFIG.with(|c| c.borrow().keys().cloned().collect())
}

pub(crate) fn log(level: Level, message: &str) {
    LOGS.with(|l| l.borrow_mut().push((level, message.to_owned())));
}
