//! Panics in `check` (a trap for the host); `describe` works.

use vitals_guest::{CheckResult, Description, Plugin};

struct Panicker;

impl Plugin for Panicker {
    fn describe() -> Description {
        Description::new("panicker", env!("CARGO_PKG_VERSION"), "Panics in check")
    }

    fn check() -> Result<CheckResult, String> {
        panic!("panicker guest panics on purpose")
    }
}

vitals_guest::export!(Panicker);
