//! A loaded plugin as a check: its `[[checks]]` settings and manifest, the run itself, its
//! quarantine, and the registry of every plugin's state with the `GET /plugins` route.

pub(crate) mod plugin_check;
pub(crate) mod quarantine;
pub(crate) mod registry;
pub(crate) mod routes;
pub(crate) mod settings;
