//! The runtime: one wasmtime engine and the WebAssembly proposals it accepts, its compile cache, the WIT contracts a component may
//! implement, loading a component, the sandbox every run happens in, the quarantine that pauses
//! a plugin that keeps trapping, and the registry of every plugin's state and statistics that
//! the runs report into.

pub(crate) mod bindings;
pub(crate) mod cache;
pub(crate) mod capture;
pub(crate) mod contract;
pub(crate) mod declared;
pub(crate) mod engine;
pub(crate) mod failure;
pub(crate) mod lift;
pub(crate) mod limits;
pub(crate) mod loader;
pub(crate) mod output;
pub(crate) mod proposals;
pub(crate) mod quarantine;
pub(crate) mod registry;
pub(crate) mod sandbox;
pub(crate) mod store;
