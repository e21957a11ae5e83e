//! The plugin runtime's integration tests, one binary with one module per suite, on the real
//! guest components `cargo xtask guests` builds: limits, grants, every language, warm instances,
//! the compile cache, quarantine, hot reload and the shipped plugins.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod guest_components;
mod plugin_grants;
mod plugin_languages;
mod plugin_limits;
mod plugin_reload;
mod plugin_runtime;
mod plugin_warm;
mod shipped_plugins;
