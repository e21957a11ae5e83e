//! Logs config `lines` (default 100000) info lines in one run: tests the host's log rate limit.

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config, log};

struct LogFlood;

impl Plugin for LogFlood {
    fn describe() -> Description {
        Description::new("log-flood", env!("CARGO_PKG_VERSION"), "Logs a lot")
            .config(Key::optional("lines", "Lines to log").default(100_000))
    }

    fn check() -> Result<CheckResult, String> {
        let lines: u64 = config::parsed_or("lines", 100_000)?;
        for line in 0..lines {
            log::info!("log-flood line {line}");
        }
        Ok(CheckResult::pass(format!("logged {lines} lines")).observed(lines as f64, "lines"))
    }
}

vitals_guest::export!(LogFlood);
