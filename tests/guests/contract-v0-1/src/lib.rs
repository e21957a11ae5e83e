//! A plugin as built before contract 0.2.0: its bindings come from the frozen
//! `wit/deps/check-0.1.0` WIT, so it declares no config keys and imports `host@0.1.0`. The host
//! must keep loading it, serve its imports and accept any config key.

// The generated bindings and their export macro are unsafe glue, as in the SDK.
#![allow(unsafe_code)]

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/deps/check-0.1.0",
        world: "vitals:check/plugin@0.1.0",
    });
}

use bindings::vitals::check::host::{self, Level};
use bindings::vitals::check::types::{CheckResult, Defaults, Description, Observed, Status};

struct Old;

impl bindings::Guest for Old {
    fn describe() -> Description {
        Description {
            name: "contract-v0-1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "A plugin built against vitals:check@0.1.0".into(),
            defaults: Defaults {
                interval_ms: None,
                timeout_ms: None,
                critical: None,
            },
        }
    }

    /// Passes with the config it was given, so a test sees the 0.1.0 `host` import answered.
    fn check() -> Result<CheckResult, String> {
        host::log(Level::Info, "checking from 0.1.0");
        let keys = host::config_keys();
        let greeting = host::config_get("greeting").unwrap_or_else(|| "unset".into());
        Ok(CheckResult {
            status: Status::Pass,
            output: format!("0.1.0 says {greeting}"),
            observed: Some(Observed {
                value: keys.len() as f64,
                unit: "keys".into(),
            }),
            details: vec![("keys".into(), keys.join(","))],
        })
    }
}

bindings::export!(Old with_types_in bindings);
