//! # vitals-config
//!
//! The pieces of vitals' TOML configuration that every crate reading it shares: documents whose
//! errors point at file, line, column and key ([`document`]), the settings every `[checks.NAME]`
//! table accepts ([`CommonSettings`], [`check_config!`]), and secrets (`${ENV}` interpolation,
//! redaction), and the closest known name for a mistyped one.

#![deny(unreachable_pub)]

mod check_table;
pub mod document;
mod secret;
mod suggest;

pub use check_table::CommonSettings;
pub use document::ConfigError;
pub use secret::{InterpolateError, Scrubber, Secret, interpolate, interpolate_with, redact_url};
pub use suggest::{closest, did_you_mean};
