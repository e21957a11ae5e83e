//! Always passes at once: the baseline for per-run overhead benchmarks.

use vitals_guest::{CheckResult, Description, Plugin};

struct Noop;

impl Plugin for Noop {
    fn describe() -> Description {
        Description::new("noop", env!("CARGO_PKG_VERSION"), "Always passes")
    }

    fn check() -> Result<CheckResult, String> {
        Ok(CheckResult::pass("ok"))
    }
}

vitals_guest::export!(Noop);
