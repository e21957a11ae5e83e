//! # vitals-wasm
//!
//! The WebAssembly plugin runtime: user checks as sandboxed components of the
//! `vitals:check/plugin@0.2.0` world (see `wit/check.wit`), or of 0.1.0 (`wit/deps/`).
//!
//! One [`PluginRuntime`] owns one wasmtime `Engine` (pooling allocator, epoch interruption), an
//! epoch ticker, the on-disk compile cache and the per-plugin statistics. [`PluginRuntime::load`]
//! turns a `.wasm` file into a [`LoadedPlugin`] (compiled off the async runtime, checked against
//! the world, described once in a sandbox); [`PluginCheck`] runs it as a [`Check`](vitals::Check):
//! every run gets a fresh store and instance with a hard deadline, a memory cap, a stack cap and
//! an output cap, and only the capabilities in its [`PluginGrants`].
//!
//! The crate reads as the data flow, one room a concern:
//! - `runtime/`: the wasmtime engine, the compile cache, the WIT contracts and loading a
//!   component, the sandbox a run happens in (store, limits, output capture), the quarantine,
//!   and the registry of every plugin's state and statistics;
//! - `capabilities/`: what a plugin may reach, one module each with its grant, linker wiring and
//!   host code: `host` (logging, config), `sql` (granted datasources), `http` (outgoing
//!   requests), `wasi` (stdio, environment, read-only directories), and the `grants` table
//!   that turns them on;
//! - `check/`: a plugin as a [`Check`](vitals::Check): its settings, its runs, and the
//!   `GET /plugins` route that shows the registry;
//! - `supervision/`: the plugin directory, its watcher and the supervisor that reconciles loaded
//!   checks with the files.

#![deny(unreachable_pub)]

mod capabilities;
mod check;
mod runtime;
mod supervision;

use std::path::PathBuf;

pub use capabilities::grants::PluginGrants;
pub use capabilities::http::rule::HttpRule;
pub use check::plugin_check::{EVALUATOR_GRACE, PluginCheck, PluginRun, Stop};
pub use check::routes::{routes, serve_plugins};
pub use check::settings::{PluginCheckConfig, PluginManifest};
pub use runtime::cache::CompileCache;
pub use runtime::declared::ConfigKey;
pub use runtime::engine::{PluginRuntime, RuntimeConfig};
pub use runtime::failure::RunFailure;
pub use runtime::limits::{ByteSize, RunLimits};
pub use runtime::loader::{Description, LoadedPlugin, SuggestedDefaults};
pub use runtime::quarantine::{QuarantinePolicy, QuarantineState};
pub use runtime::registry::{
    Loading, PluginRegistry, PluginState, PluginStats, PluginView, Rejection,
};
pub use runtime::sandbox::{FreshRunPhases, RunReport, WarmPolicy};
pub use supervision::directory::plugin_name;
pub use supervision::supervisor::{PluginSupervisor, ReconcileReport, SupervisorConfig};
pub use supervision::watcher::{PluginWatcher, WatchConfig};

/// The WIT world a new plugin implements, as named in messages. Components of the older
/// `vitals:check/plugin@0.1.0` load too.
pub const WORLD: &str = "vitals:check/plugin@0.2.0";

/// Why a plugin could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("plugin {file}: cannot read: {error}")]
    Read {
        /// The plugin file.
        file: PathBuf,
        /// The I/O error (in the message, not a `source()`, so a printed chain names it once).
        error: std::io::Error,
    },
    /// The file is larger than the runtime accepts.
    #[error(
        "plugin {file}: file is {size} bytes, larger than the {limit} byte limit (plugins.max_file_size)"
    )]
    TooLarge {
        /// The plugin file.
        file: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not a valid WebAssembly component (or failed to compile).
    #[error("plugin {file}: not a valid WebAssembly component: {message}")]
    Compile {
        /// The plugin file.
        file: PathBuf,
        /// What the compiler said.
        message: String,
    },
    /// The component does not implement the plugin world (missing export, unsatisfiable import).
    #[error("plugin {file}: does not implement {WORLD}: {message}")]
    WrongWorld {
        /// The plugin file.
        file: PathBuf,
        /// What is missing or mismatched.
        message: String,
    },
    /// `describe()` trapped or exceeded its limits.
    #[error("plugin {file}: describe() failed: {reason}")]
    Describe {
        /// The plugin file.
        file: PathBuf,
        /// Why, e.g. "trap: wasm `unreachable` instruction executed".
        reason: String,
    },
    /// The config set for a plugin does not match the keys it declares: an unknown key, or a
    /// required one unset (the message names them and the keys that exist).
    #[error("plugin {file}: {message}")]
    Config {
        /// The plugin file.
        file: PathBuf,
        /// Which keys are wrong.
        message: String,
    },
    /// A grant is malformed (for example an `allow_http` rule that does not parse).
    #[error("plugin {plugin}: invalid grant {field}: {message}")]
    InvalidGrant {
        /// The plugin (file or check name).
        plugin: String,
        /// The config key, e.g. `allow_http`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The runtime itself could not be created (engine, cache directory).
    #[error("plugin runtime: {0}")]
    Runtime(String),
    /// A manifest next to the plugin could not be read.
    #[error("plugin manifest {file}: {message}")]
    Manifest {
        /// The manifest file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A manifest next to the plugin is not valid (the error names file, line, column and key).
    #[error("plugin manifest {0}")]
    InvalidManifest(vitals_config::ConfigError),
}
