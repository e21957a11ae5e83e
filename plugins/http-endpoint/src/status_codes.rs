//! The `expect_status` config value: codes and inclusive ranges.

use std::fmt;
use std::ops::RangeInclusive;

/// A set of accepted HTTP status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCodes(Vec<RangeInclusive<u16>>);

impl StatusCodes {
    /// Any 2xx code.
    pub fn success() -> Self {
        Self(vec![200..=299])
    }

    /// Parses `200`, `200-299` or a comma-separated list of both.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in spec.split(',').map(str::trim) {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let code = |text: &str| match text.trim().parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Ok(code),
                _ => Err(format!("`{part}` is not a status code (100-599) or range")),
            };
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(format!("range `{part}` is empty"));
            }
            ranges.push(low..=high);
        }
        Ok(Self(ranges))
    }

    /// Whether `status` is accepted.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|range| range.contains(&status))
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, range) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            if range.start() == range.end() {
                write!(f, "{}", range.start())?;
            } else {
                write!(f, "{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_code_accepts_only_itself() {
        let codes = StatusCodes::parse("200").expect("valid");
        assert!(codes.contains(200));
        assert!(!codes.contains(204));
    }

    #[test]
    fn list_of_codes_and_ranges_accepts_each_member() {
        let codes = StatusCodes::parse("204, 300-399").expect("valid");
        assert!(codes.contains(204) && codes.contains(300) && codes.contains(399));
        assert!(!codes.contains(200) && !codes.contains(400));
        assert_eq!(codes.to_string(), "204,300-399");
    }

    #[test]
    fn rejects_non_codes_and_empty_ranges() {
        assert!(StatusCodes::parse("ok").is_err());
        assert!(StatusCodes::parse("99").is_err());
        assert!(StatusCodes::parse("299-200").is_err());
    }
}
