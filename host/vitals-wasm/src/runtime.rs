//! The runtime: one wasmtime engine, its compile cache, the WIT contracts a component may
//! implement, loading a component, and the sandbox every run happens in.

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
pub(crate) mod sandbox;
pub(crate) mod store;
