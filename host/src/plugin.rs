//! The WebAssembly plugin runtime: user checks as sandboxed components of the
//! `vitals:check/plugin@0.2.0` world (see `wit/check.wit`), or of 0.1.0 (`wit/deps/`).
//!
//! One [`PluginRuntime`] owns one wasmtime `Engine` (pooling allocator, epoch interruption), an
//! epoch ticker, the on-disk compile cache and the per-plugin statistics. [`PluginRuntime::load`]
//! turns a `.wasm` file into a [`LoadedPlugin`] (compiled off the async runtime, checked against
//! the world, described once in a sandbox); [`PluginCheck`] runs it as a [`Check`](vitals::Check):
//! every run gets a fresh store and instance with a hard deadline, a memory cap, a stack cap and
//! an output cap, and only the capabilities in its [`PluginGrants`].

mod bindings;
mod cache;
mod capture;
mod check;
pub mod cli;
mod context;
mod contract;
mod declared;
mod directory;
mod engine;
mod failure;
mod grants;
mod host_api;
mod http_guard;
pub mod install;
mod lift;
mod limits;
mod loader;
mod output;
mod quarantine;
mod registry;
mod routes;
mod sandbox;
mod settings;
mod sql;
mod store;
mod supervisor;
pub mod template;
mod watcher;

use std::path::PathBuf;

pub use cache::CompileCache;
pub use check::{EVALUATOR_GRACE, PluginCheck};
pub use declared::ConfigKey;
pub use engine::{PluginRuntime, RuntimeConfig};
pub use failure::RunFailure;
pub use grants::{HttpRule, PluginGrants};
pub use limits::{ByteSize, RunLimits};
pub use loader::{Description, LoadedPlugin, SuggestedDefaults};
pub use quarantine::{QuarantinePolicy, QuarantineState};
pub use registry::{Loading, PluginRegistry, PluginState, PluginStats, PluginView, Rejection};
pub(crate) use routes::routes;
pub use routes::serve_plugins;
pub use sandbox::{FreshRunPhases, RunReport, WarmPolicy};
pub use settings::{PluginCheckConfig, PluginManifest};
pub use supervisor::{PluginSupervisor, ReconcileReport, SupervisorConfig};
pub use watcher::{PluginWatcher, WatchConfig};

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
    InvalidManifest(crate::document::ConfigError),
}
