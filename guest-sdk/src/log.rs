//! Logging through the host, which tags every line with the plugin's name and version and
//! rate-limits it.
//!
//! Plain functions take a message; the macros of the same names format like `format!`:
//!
//! ```no_run
//! use vitals_guest::log;
//!
//! log::info("starting");
//! let attempts = 3;
//! log::warn!("retrying after {attempts} attempts");
//! ```
//!
//! Never log secrets: log lines end up in the host's logs.

#[cfg(target_family = "wasm")]
use crate::__private::bindings::vitals::check::host;

#[doc(inline)]
pub use crate::{__log_debug as debug, __log_error as error, __log_info as info};
#[doc(inline)]
pub use crate::{__log_trace as trace, __log_warn as warn};

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging information.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

/// Writes one log line at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_family = "wasm")]
    {
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }
    #[cfg(not(target_family = "wasm"))]
    crate::testing::log(level, message);
}

/// Writes a trace line.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Writes a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes an info line.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes a warning line.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes an error line.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Formats and writes a trace line; use it as `log::trace!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)*)) };
}

/// Formats and writes a debug line; use it as `log::debug!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Formats and writes an info line; use it as `log::info!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Formats and writes a warning line; use it as `log::warn!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Formats and writes an error line; use it as `log::error!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)*)) };
}
