//! A loaded plugin as a check: its `[checks.NAME]` settings and manifest, the run itself (a
//! verdict, or the failure the sandbox made of it), and the `GET /plugins` route that shows
//! every plugin's state.

pub(crate) mod plugin_check;
pub(crate) mod routes;
pub(crate) mod settings;
