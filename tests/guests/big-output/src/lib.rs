//! Returns a large result: config `bytes` (default 1 MiB) sets the length of `output`, optional
//! `details` adds that many detail entries of `detail_bytes` (default 64) bytes each. Tests the
//! host's output cap.

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

struct BigOutput;

impl Plugin for BigOutput {
    fn describe() -> Description {
        Description::new(
            "big-output",
            env!("CARGO_PKG_VERSION"),
            "Returns a large result",
        )
        .config(Key::optional("bytes", "Output bytes").default(1024 * 1024))
        .config(Key::optional("details", "Detail entries").default(0))
        .config(Key::optional("detail_bytes", "Bytes per detail value").default(64))
    }

    fn check() -> Result<CheckResult, String> {
        let bytes: usize = config::parsed_or("bytes", 1024 * 1024)?;
        let details: usize = config::parsed_or("details", 0)?;
        let detail_bytes: usize = config::parsed_or("detail_bytes", 64)?;
        let mut result = CheckResult::pass("x".repeat(bytes));
        for index in 0..details {
            result = result.detail(format!("detail_{index}"), "d".repeat(detail_bytes));
        }
        Ok(result)
    }
}

vitals_guest::export!(BigOutput);
