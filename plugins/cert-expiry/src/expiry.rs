//! Finding the expiry in a PEM file and turning days left into a status.

use vitals_guest::CheckResult;
use x509_parser::pem::Pem;

const SECONDS_PER_DAY: f64 = 86_400.0;

/// The certificate in a PEM file that expires first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// Its subject, e.g. "CN=example.com".
    pub subject: String,
    /// Its notAfter as Unix seconds.
    pub not_after: i64,
    /// Its notAfter for humans.
    pub not_after_text: String,
}

/// The soonest notAfter among the certificates in `pem`.
pub fn soonest_expiry(pem: &[u8]) -> Result<Expiry, String> {
    let mut soonest: Option<Expiry> = None;
    for (index, block) in Pem::iter_from_buffer(pem).enumerate() {
        let block = block.map_err(|error| format!("PEM block {index} is malformed: {error}"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let certificate = block
            .parse_x509()
            .map_err(|error| format!("certificate {index} does not parse: {error}"))?;
        let not_after = certificate.validity().not_after;
        let candidate = Expiry {
            subject: certificate.subject().to_string(),
            not_after: not_after.timestamp(),
            not_after_text: not_after.to_string(),
        };
        if soonest
            .as_ref()
            .is_none_or(|current| candidate.not_after < current.not_after)
        {
            soonest = Some(candidate);
        }
    }
    soonest.ok_or_else(|| "no CERTIFICATE block found".to_string())
}

/// Fail once expired, warn when fewer than `warn_days` are left, pass otherwise.
#[allow(clippy::cast_precision_loss)] // seconds until expiry fit f64 exactly for any real date
pub fn evaluate(expiry: &Expiry, now: i64, warn_days: f64) -> CheckResult {
    let days_left = (expiry.not_after.saturating_sub(now)) as f64 / SECONDS_PER_DAY;
    let result = if days_left <= 0.0 {
        CheckResult::fail(format!("expired {:.0} days ago", -days_left.floor()))
    } else if days_left < warn_days {
        CheckResult::warn(format!("expires in {days_left:.1} days"))
    } else {
        CheckResult::pass(format!("expires in {days_left:.0} days"))
    };
    result
        .observed(days_left, "days")
        .detail("subject", &expiry.subject)
        .detail("not_after", &expiry.not_after_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_guest::Status;

    const DAY: i64 = 86_400;

    fn expiring_at(not_after: i64) -> Expiry {
        Expiry {
            subject: "CN=test".into(),
            not_after,
            not_after_text: "then".into(),
        }
    }

    #[test]
    fn plenty_of_days_left_passes() {
        let result = evaluate(&expiring_at(100 * DAY), 0, 14.0);
        assert_eq!(result.status, Status::Pass);
        assert_eq!(result.observed.map(|o| o.value), Some(100.0));
    }

    #[test]
    fn fewer_days_than_warn_days_warns() {
        let result = evaluate(&expiring_at(10 * DAY), 0, 14.0);
        assert_eq!(result.status, Status::Warn);
        assert_eq!(result.output, "expires in 10.0 days");
    }

    #[test]
    fn expired_certificate_fails_with_negative_days() {
        let result = evaluate(&expiring_at(0), 3 * DAY, 14.0);
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.output, "expired 3 days ago");
        assert_eq!(result.observed.map(|o| o.value), Some(-3.0));
    }

    #[test]
    fn file_without_certificate_is_an_error() {
        assert_eq!(
            soonest_expiry(b"not a pem"),
            Err("no CERTIFICATE block found".to_string())
        );
    }
}
