//! What a plugin may reach beyond its own memory, one module a capability, each holding how its
//! grant is read, its linker wiring (for every contract version it serves) and its host code:
//! `host` (logging, config values), `sql` (granted datasources, read-only), `http` (outgoing
//! requests checked against `allow_http`) and `wasi` (captured stdio, granted environment
//! variables and read-only directories). `grants` is the operator's one table that turns them
//! on; `context` is what the capabilities of one plugin share (its name, grants, datasources,
//! log budget).

pub(crate) mod context;
pub(crate) mod grants;
pub(crate) mod host;
pub(crate) mod http;
pub(crate) mod sql;
pub(crate) mod wasi;
