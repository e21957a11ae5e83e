//! Plugin authoring: `vitals plugin new` (a project from a template), `plugin run` and `plugin
//! inspect` (one run, or the description, of a component outside the daemon), `plugin install`
//! (checked, then placed into a plugin directory), and `plugin list` / `plugin remove`.

pub(crate) mod cli;
mod client;
pub(crate) mod install;
pub(crate) mod manage;
pub(crate) mod template;

pub use cli::{InspectArgs, RunArgs, RunExit, inspect, run_once};
