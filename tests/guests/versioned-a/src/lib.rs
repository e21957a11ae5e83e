//! Version v1 of the `versioned` guest; `versioned-a` and `versioned-b` differ only in their
//! version, so swapping one file for the other is a hot-reload upgrade.

use vitals_guest::{CheckResult, Description, Plugin};

/// Reported by `describe` and in the output of every run.
const VERSION: &str = "1.0.0";

struct Versioned;

impl Plugin for Versioned {
    fn describe() -> Description {
        Description::new("versioned", VERSION, "Reports its own version")
    }

    fn check() -> Result<CheckResult, String> {
        Ok(CheckResult::pass("versioned v1").detail("version", VERSION))
    }
}

vitals_guest::export!(Versioned);
