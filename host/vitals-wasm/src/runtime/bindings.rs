//! The `bindgen!` sites: host bindings for each version of the `vitals:check/plugin` world.
//!
//! The current version (`wit/check.wit`) is re-exported at this module's root; older versions
//! live in their own modules (`v0_1`) with their WIT frozen under `wit/deps/`, so components built
//! against them keep loading (see `contract`).
//!
//! Each reads one version's WIT alone (a file, or its own folder): bindgen given both versions
//! of `vitals:check` at once would name every module by version.
//!
//! Imports and exports are async: SQL queries await the database and outgoing HTTP
//! (wasmtime-wasi-http) is async, and async calls let a spinning guest yield to tokio.

#![allow(missing_docs)]

mod current {
    wasmtime::component::bindgen!({
        path: "../../wit/check.wit",
        world: "vitals:check/plugin@0.2.0",
        imports: { default: async },
        exports: { default: async },
    });
}

pub(crate) use current::*;

/// `vitals:check@0.1.0`: no declared config keys.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/deps/check-0.1.0",
        world: "vitals:check/plugin@0.1.0",
        imports: { default: async },
        exports: { default: async },
    });
}
