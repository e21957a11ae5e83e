//! Reads (or with config `mode = "write"`, writes) the file at config `path`: pass with the size
//! and the first 64 characters in detail `head`, fail with the OS error. Tests filesystem grants.

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

struct FileReader;

impl Plugin for FileReader {
    fn describe() -> Description {
        Description::new(
            "file-reader",
            env!("CARGO_PKG_VERSION"),
            "Reads or writes a file",
        )
        .config(Key::required("path", "File to read or write"))
        .config(Key::optional("mode", "read or write").default("read"))
    }

    fn check() -> Result<CheckResult, String> {
        let path = config::require("path")?;
        let mode = config::get("mode").unwrap_or_else(|| "read".into());
        Ok(match mode.as_str() {
            "read" => match std::fs::read(&path) {
                Ok(bytes) => {
                    let head: String = String::from_utf8_lossy(&bytes).chars().take(64).collect();
                    CheckResult::pass(format!("read {} bytes", bytes.len()))
                        .observed(bytes.len() as f64, "bytes")
                        .detail("head", head)
                }
                Err(error) => CheckResult::fail(format!("reading {path} failed: {error}")),
            },
            "write" => match std::fs::write(&path, b"written by file-reader") {
                Ok(()) => CheckResult::pass(format!("wrote {path}")),
                Err(error) => CheckResult::fail(format!("writing {path} failed: {error}")),
            },
            other => {
                return Err(format!(
                    "config value `mode` must be read or write, not {other}"
                ));
            }
        })
    }
}

vitals_guest::export!(FileReader);
