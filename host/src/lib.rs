//! # vitals-daemon
//!
//! The `vitals` daemon on the [`vitals`] core: the TOML configuration, datasources and their
//! checks (SQL, queues), the WebAssembly plugin runtime, the gRPC health service, the CLI and
//! `vitals serve` with hot reload.
//!
//! A service that only needs probes, backpressure, channel and heartbeat checks depends on the
//! `vitals` crate alone.

pub mod check_table;
pub mod checks;
pub mod circuit;
pub mod cli;
pub mod config;
pub mod datasource;
mod document;
pub mod grpc;
pub mod plugin;
pub mod secret;
pub mod serve;
