//! Panics in `describe`, so the host must reject the file at load time; `check` would pass.

use vitals_guest::{CheckResult, Description, Plugin};

struct TrapDescribe;

impl Plugin for TrapDescribe {
    fn describe() -> Description {
        panic!("trap-describe guest panics in describe on purpose")
    }

    fn check() -> Result<CheckResult, String> {
        Ok(CheckResult::pass("ok"))
    }
}

vitals_guest::export!(TrapDescribe);
