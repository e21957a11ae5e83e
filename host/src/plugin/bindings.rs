//! The one `bindgen!` site: host bindings for the `vitals:check/plugin` world.
//!
//! Imports and exports are async: SQL queries await the database and outgoing HTTP
//! (wasmtime-wasi-http) is async, and async calls let a spinning guest yield to tokio.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "vitals:check/plugin",
    imports: { default: async },
    exports: { default: async },
});
