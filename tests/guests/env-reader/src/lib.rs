//! Reads environment variable config `var`: pass with the value in detail `value` when set
//! (only granted variables are), fail when not set.

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

struct EnvReader;

impl Plugin for EnvReader {
    fn describe() -> Description {
        Description::new(
            "env-reader",
            env!("CARGO_PKG_VERSION"),
            "Reads an environment variable",
        )
        .config(Key::required("var", "Environment variable to read"))
    }

    fn check() -> Result<CheckResult, String> {
        let var = config::require("var")?;
        Ok(match std::env::var(&var) {
            Ok(value) => CheckResult::pass(format!("{var} is set")).detail("value", value),
            Err(error) => CheckResult::fail(format!("{var}: {error}")),
        })
    }
}

vitals_guest::export!(EnvReader);
