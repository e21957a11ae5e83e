//! The plugin's own config values, as the operator set them (always strings on the wire).
//!
//! Declare every key the plugin reads in [`Plugin::describe`](crate::Plugin::describe) with
//! [`Key`]: the host refuses a config that sets an undeclared key (a typo) or leaves a required
//! one unset, and fills in declared defaults.
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

#[cfg(target_family = "wasm")]
use crate::__private::bindings::vitals::check::host;

/// A config key the plugin reads, declared in its description. A name ending in `.`
/// (`Key::optional("header.", "...")`) declares a family: every key starting with it.
///
/// ```
/// use vitals_guest::{Description, config::Key};
///
/// let description = Description::new("queue-lag", "1.0.0", "Age of the oldest queued job")
///     .config(Key::required("datasource", "Datasource holding the jobs table"))
///     .config(Key::optional("warn_after_s", "Seconds a job may wait").default("60"));
/// assert_eq!(description.config.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// Whether the operator must set it.
    pub required: bool,
    /// The value the host fills in when the operator does not set it.
    pub default: Option<String>,
    /// One line of help for the operator.
    pub help: String,
}

impl Key {
    /// A key the operator must set.
    pub fn required(name: impl Into<String>, help: impl Into<String>) -> Self {
        Key {
            name: name.into(),
            required: true,
            default: None,
            help: help.into(),
        }
    }

    /// A key the operator may leave unset (then [`get`] returns its default, if it has one).
    pub fn optional(name: impl Into<String>, help: impl Into<String>) -> Self {
        Key {
            name: name.into(),
            required: false,
            default: None,
            help: help.into(),
        }
    }

    /// The value used when the operator does not set this key (makes it optional).
    #[must_use]
    pub fn default(mut self, value: impl ToString) -> Self {
        self.required = false;
        self.default = Some(value.to_string());
        self
    }
}

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
    #[error("config value `{key}`{shown} is invalid: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// ` = "the value"`, shortened; empty for a key that may hold a secret.
        shown: String,
        /// Why it does not parse.
        reason: String,
    },
}

impl From<ConfigError> for String {
    fn from(error: ConfigError) -> Self {
        error.to_string()
    }
}

/// The raw value of `key`, if the operator set it or it has a declared default.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_family = "wasm")]
    return host::config_get(key);
    #[cfg(not(target_family = "wasm"))]
    return crate::testing::config_get(key);
}

/// The names of all config values set (by the operator or a declared default).
pub fn keys() -> Vec<String> {
    #[cfg(target_family = "wasm")]
    return host::config_keys();
    #[cfg(not(target_family = "wasm"))]
    return crate::testing::config_keys();
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
            shown: shown(key, raw),
            reason: error.to_string(),
        })
}

/// Words in a key's name that say its value may be a secret: such a value is never echoed.
const SECRET_WORDS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "credential",
    "auth",
    "dsn",
    "url",
];

/// Echoed values are cut to this many characters.
const SHOWN_CHARS: usize = 32;

/// ` = "value"` for an error message (cut at [`SHOWN_CHARS`]), or nothing when the key's name
/// says it may hold a secret (URLs and DSNs can carry passwords).
fn shown(key: &str, raw: &str) -> String {
    let lower = key.to_ascii_lowercase();
    if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
        return String::new();
    }
    let mut value: String = raw.chars().take(SHOWN_CHARS).collect();
    if raw.chars().count() > SHOWN_CHARS {
        value.push_str("...");
    }
    format!(" = {value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ignores_surrounding_whitespace() {
        assert_eq!(parse::<u64>("timeout_ms", " 250 "), Ok(250));
    }

    #[test]
    fn invalid_value_error_names_the_key_and_echoes_the_value_shortened() {
        let error = parse::<f64>("value", "abc").expect_err("not a number");
        assert_eq!(
            error.to_string(),
            "config value `value` = \"abc\" is invalid: invalid float literal"
        );
        let long = "9".repeat(40) + "x";
        let message = parse::<u64>("limit", &long).expect_err("x").to_string();
        assert!(
            message.contains(&format!("= \"{}...\"", "9".repeat(32))),
            "{message}"
        );
    }

    #[test]
    fn a_value_whose_key_may_hold_a_secret_is_never_echoed() {
        for key in ["api_token", "db_password", "API_KEY", "upstream_url"] {
            let message = parse::<u64>(key, "s3cret").expect_err("x").to_string();
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }

    #[test]
    fn missing_error_converts_into_a_message_naming_the_key() {
        let message: String = ConfigError::Missing { key: "url".into() }.into();
        assert_eq!(message, "config value `url` is required but not set");
    }
}
