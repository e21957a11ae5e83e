//! Turning a measured value into a status.

use vitals_guest::Status;

/// Optional bounds; a `fail_*` bound wins over a `warn_*` bound.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    /// Fail when the value is greater.
    pub fail_above: Option<f64>,
    /// Warn when the value is greater.
    pub warn_above: Option<f64>,
    /// Warn when the value is smaller.
    pub warn_below: Option<f64>,
    /// Fail when the value is smaller.
    pub fail_below: Option<f64>,
}

impl Thresholds {
    /// The status of `value` and, unless it passes, which bound it crossed.
    pub fn classify(&self, value: f64) -> (Status, Option<String>) {
        let above = |bound: Option<f64>| bound.filter(|bound| value > *bound);
        let below = |bound: Option<f64>| bound.filter(|bound| value < *bound);
        if value.is_nan() {
            (Status::Unknown, Some("not a number".into()))
        } else if let Some(bound) = above(self.fail_above) {
            (Status::Fail, Some(format!("above {bound}")))
        } else if let Some(bound) = below(self.fail_below) {
            (Status::Fail, Some(format!("below {bound}")))
        } else if let Some(bound) = above(self.warn_above) {
            (Status::Warn, Some(format!("above {bound}")))
        } else if let Some(bound) = below(self.warn_below) {
            (Status::Warn, Some(format!("below {bound}")))
        } else {
            (Status::Pass, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANDS: Thresholds = Thresholds {
        fail_above: Some(10.0),
        warn_above: Some(5.0),
        warn_below: Some(1.0),
        fail_below: Some(0.0),
    };

    #[test]
    fn value_inside_every_bound_passes() {
        assert_eq!(BANDS.classify(3.0), (Status::Pass, None));
    }

    #[test]
    fn bounds_are_exclusive() {
        assert_eq!(BANDS.classify(5.0).0, Status::Pass);
        assert_eq!(BANDS.classify(10.0).0, Status::Warn);
    }

    #[test]
    fn fail_bound_wins_over_warn_bound() {
        assert_eq!(
            BANDS.classify(11.0),
            (Status::Fail, Some("above 10".into()))
        );
        assert_eq!(BANDS.classify(-1.0), (Status::Fail, Some("below 0".into())));
    }

    #[test]
    fn warn_bounds_apply_between_fail_bounds() {
        assert_eq!(BANDS.classify(6.0), (Status::Warn, Some("above 5".into())));
        assert_eq!(BANDS.classify(0.5), (Status::Warn, Some("below 1".into())));
    }

    #[test]
    fn no_bounds_always_pass_and_nan_is_unknown() {
        assert_eq!(Thresholds::default().classify(1e12).0, Status::Pass);
        assert_eq!(BANDS.classify(f64::NAN).0, Status::Unknown);
    }
}
