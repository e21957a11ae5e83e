//! Keeping the running checks in step with the plugin directory: the directory's files, the
//! watcher that notices changes, and the supervisor that loads, swaps and drops checks.

pub(crate) mod directory;
pub(crate) mod supervisor;
pub(crate) mod watcher;
