//! The plugin's own config values, as the operator set them (always strings on the wire).
//!
//! ```no_run
//! use vitals_guest::config;
//!
//! # fn f() -> Result<(), config::ConfigError> {
//! let url = config::require("url")?; // error if missing
//! let timeout_ms: u64 = config::parsed_or("timeout_ms", 5_000)?; // default if missing
//! let max: Option<f64> = config::get_parsed("max_latency_ms")?; // None if missing
//! # Ok(()) }
//! ```
//!
//! Errors name the key but never the value: a config value may be a secret.

use std::fmt::Display;
use std::str::FromStr;

use crate::__private::bindings::vitals::check::host;

/// A config value is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required key is not set.
    #[error("config value `{key}` is required but not set")]
    Missing {
        /// The key.
        key: String,
    },
    /// The value does not parse as the expected type.
    #[error("config value `{key}` is invalid: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Why it does not parse (without the value itself).
        reason: String,
    },
}

impl From<ConfigError> for String {
    fn from(error: ConfigError) -> Self {
        error.to_string()
    }
}

/// The raw value of `key`, if the operator set it.
pub fn get(key: &str) -> Option<String> {
    host::config_get(key)
}

/// The names of all config values the operator set.
pub fn keys() -> Vec<String> {
    host::config_keys()
}

/// The raw value of `key`, or [`ConfigError::Missing`].
pub fn require(key: &str) -> Result<String, ConfigError> {
    get(key).ok_or_else(|| ConfigError::Missing { key: key.into() })
}

/// The value of `key` parsed as `T` (surrounding whitespace ignored), or `None` if not set.
pub fn get_parsed<T>(key: &str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    get(key).map(|raw| parse(key, &raw)).transpose()
}

/// The value of `key` parsed as `T`, or `default` if not set.
pub fn parsed_or<T>(key: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(get_parsed(key)?.unwrap_or(default))
}

/// The value of `key` parsed as `T`, or [`ConfigError::Missing`].
pub fn require_parsed<T>(key: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    parse(key, &require(key)?)
}

/// Parses one raw value; the error names the key and the parser's reason.
pub fn parse<T>(key: &str, raw: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim()
        .parse()
        .map_err(|error: T::Err| ConfigError::Invalid {
            key: key.into(),
            reason: error.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ignores_surrounding_whitespace() {
        assert_eq!(parse::<u64>("timeout_ms", " 250 "), Ok(250));
    }

    #[test]
    fn invalid_value_error_names_the_key_but_not_the_value() {
        let error = parse::<u64>("timeout_ms", "s3cret").expect_err("not a number");
        let message = error.to_string();
        assert!(message.contains("`timeout_ms`"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn missing_error_converts_into_a_message_naming_the_key() {
        let message: String = ConfigError::Missing { key: "url".into() }.into();
        assert_eq!(message, "config value `url` is required but not set");
    }
}
