//! # vitals-guest
//!
//! Write a [vitals](https://example.invalid/vitals) health check in Rust and ship it as a
//! WebAssembly component. A plugin implements one trait, [`Plugin`], and exports it with
//! [`export!`]; the host calls [`Plugin::describe`] once when it loads the file and
//! [`Plugin::check`] on every run, each time in a fresh sandbox with a deadline, a memory cap and an
//! output cap.
//!
//! Everything a plugin can reach beyond its own memory is denied unless the operator grants it:
//! config values ([`config`]) and logging ([`log`]) are always there; read-only SQL ([`sql`]), files
//! (through `std::fs`, inside granted directories) and outgoing HTTP ([`http`]) are not.
//!
//! [`testing::run`] runs a plugin's exported check natively against a fake host (`cargo test`).
//!
//! The SDK implements the contract `vitals:check@0.2.0`.
//!
//! ## A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "queue-lag"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! vitals-guest = "0.1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use std::time::Duration;
//! use vitals_guest::config::Key;
//! use vitals_guest::{CheckResult, Description, Plugin, config, log, sql};
//!
//! struct QueueLag;
//!
//! impl Plugin for QueueLag {
//!     fn describe() -> Description {
//!         Description::new("queue-lag", env!("CARGO_PKG_VERSION"), "Age of the oldest queued job")
//!             .interval(Duration::from_secs(30))
//!             .timeout(Duration::from_secs(5))
//!             // Every key `check` reads: the host refuses any other (a typo) before a run.
//!             .config(Key::required("datasource", "Granted datasource holding the jobs table"))
//!             .config(Key::optional("warn_after_s", "Seconds a job may wait").default(60))
//!     }
//!
//!     fn check() -> Result<CheckResult, String> {
//!         // `?` turns a malformed config value into an `unknown` result whose output names
//!         // the key. The host filled in the declared default.
//!         let datasource = config::require("datasource")?;
//!         let warn_after: f64 = config::require_parsed("warn_after_s")?;
//!
//!         let rows = sql::query(
//!             &datasource,
//!             "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(enqueued_at)), 0) FROM jobs \
//!              WHERE state = $1",
//!             &["queued".into()],
//!         )?;
//!         let age = rows.single_f64()?;
//!         log::debug!("oldest queued job is {age:.1} s old");
//!
//!         let result = if age > warn_after {
//!             CheckResult::warn(format!("oldest job waited {age:.0} s"))
//!         } else {
//!             CheckResult::pass(format!("oldest job waited {age:.0} s"))
//!         };
//!         Ok(result.observed(age, "s").detail("datasource", &datasource))
//!     }
//! }
//!
//! vitals_guest::export!(QueueLag);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (after
//! `rustup target add wasm32-wasip2`); the `.wasm` file under
//! `target/wasm32-wasip2/release/` is the component to drop into the plugin directory.
//!
//! ## Errors
//!
//! Returning `Err(message)` from [`Plugin::check`] means "could not evaluate": the host records
//! the run as `unknown` with the message as output. Every error type in this crate converts into
//! `String`, so `?` works throughout `check`. A panic or a trap is recorded as a failure of that
//! run; the next run starts from a fresh instance.

extern crate self as vitals_guest;

pub mod config;
pub mod http;
pub mod log;
mod result;
pub mod sql;
#[cfg(not(target_family = "wasm"))]
pub mod testing;

pub use result::{CheckResult, Defaults, Description, Observed, Status};

/// A health check plugin.
///
/// Both functions are associated functions (no `self`): by default the host creates a fresh
/// instance for every run, so nothing carries over between runs. An operator may opt in to warm
/// instances (`warm_runs`), in which case statics do carry over; never rely on either.
pub trait Plugin {
    /// Describes the plugin: name, version, summary and suggested settings. Called once when the
    /// host loads the component; a panic here makes the host reject the file.
    fn describe() -> Description;

    /// Runs the check once. `Err(message)` means the check could not be evaluated; the host
    /// records it as [`Status::Unknown`] with the message as output.
    fn check() -> Result<CheckResult, String>;
}

/// Exports a [`Plugin`] implementation as the component's `describe` and `check` functions.
///
/// Use it exactly once per plugin crate, with the name of the type implementing [`Plugin`]:
///
/// ```no_run
/// # use vitals_guest::{CheckResult, Description, Plugin};
/// struct Noop;
/// impl Plugin for Noop {
///     fn describe() -> Description {
///         Description::new("noop", "1.0.0", "Always passes")
///     }
///     fn check() -> Result<CheckResult, String> {
///         Ok(CheckResult::pass("ok"))
///     }
/// }
/// vitals_guest::export!(Noop);
/// ```
#[macro_export]
macro_rules! export {
    ($plugin:ident) => {
        $crate::__private::bindings::__export_plugin!(
            $plugin with_types_in $crate::__private::bindings
        );
    };
}

/// Implementation details used by [`export!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    /// The generated bindings for `wit/check.wit` (the file alone: `wit/deps/` holds 0.1.0 of
    /// the same package, which would make wit-bindgen name every module by version). The world
    /// `use`s `description` and `check-result`, so wit-bindgen emits them both under
    /// `vitals::check::types` and as top-level aliases; importing both paths clashes (E0255),
    /// which is why plugin code never sees this module.
    #[allow(unsafe_code, missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit/check.wit",
            world: "vitals:check/plugin@0.2.0",
            pub_export_macro: true,
            export_macro_name: "__export_plugin",
            default_bindings_module: "::vitals_guest::__private::bindings",
            runtime_path: "::vitals_guest::__private::wit_bindgen::rt",
        });
    }

    impl<T: crate::Plugin> bindings::Guest for T {
        fn describe() -> bindings::Description {
            T::describe().into()
        }

        fn check() -> Result<bindings::CheckResult, String> {
            T::check().map(Into::into)
        }
    }
}
