//! # cert-expiry
//!
//! Reads a PEM file and reports how many days are left until its certificate expires. With a
//! chain (e.g. `fullchain.pem`) the certificate that expires first counts. Observed value: days
//! left (fractional; negative once expired).
//!
//! | key | required | meaning |
//! |---|---|---|
//! | `path` | yes | the PEM file; must be inside a directory the operator granted read-only |
//! | `warn_days` | no | `warn` when fewer days are left (default 14) |
//!
//! An expired certificate is `fail`; an unreadable file or a file without a certificate is
//! `unknown` with a message naming the path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vitals_guest::config::Key;
use vitals_guest::{CheckResult, Description, Plugin, config};

mod expiry;

struct CertExpiry;

impl Plugin for CertExpiry {
    fn describe() -> Description {
        Description::new(
            "cert-expiry",
            env!("CARGO_PKG_VERSION"),
            "Days until a PEM certificate expires",
        )
        .interval(Duration::from_secs(3600))
        .config(Key::required(
            "path",
            "PEM certificate file, inside a granted read_dirs",
        ))
        .config(Key::optional("warn_days", "Days before expiry that warn").default(14))
    }

    fn check() -> Result<CheckResult, String> {
        let path = config::require("path")?;
        let warn_days: f64 = config::parsed_or("warn_days", 14.0)?;
        let pem =
            std::fs::read(&path).map_err(|error| format!("reading {path} failed: {error}"))?;
        let soonest = expiry::soonest_expiry(&pem).map_err(|reason| format!("{path}: {reason}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_string())?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        Ok(expiry::evaluate(&soonest, now, warn_days).detail("path", path))
    }
}

vitals_guest::export!(CertExpiry);
