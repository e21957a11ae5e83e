//! # vitals-daemon
//!
//! The `vitals` binary on the vitals crates: the TOML configuration (`config`), `vitals serve`
//! with hot reload and the daemon's own routes (`serve`), the gRPC health service (`grpc`), the
//! command line (`cli`) and plugin authoring, `vitals plugin new/run/inspect/install`
//! (`authoring`).
//!
//! The daemon assembles the other crates: [`vitals`] (the core: engine, snapshot, probes),
//! `vitals-sql` (datasources and their checks) and `vitals-wasm` (the plugin runtime). A
//! service that only needs probes, backpressure, channel and heartbeat checks depends on the
//! `vitals` crate alone. This library exists for the binary and its tests; its exports are the
//! entry points those use.

#![deny(unreachable_pub)]

mod authoring;
mod cli;
mod config;
mod grpc;
mod serve;

pub use authoring::{InspectArgs, RunArgs, RunExit, inspect, run_once};
pub use cli::main;
pub use config::{Config, ConfigError, parse as parse_config};
pub use serve::{Daemon, ServeError, builder_from_config, openapi_json};
