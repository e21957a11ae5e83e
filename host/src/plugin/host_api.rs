//! The `host` interface a plugin imports: logging tagged with the plugin (rate-limited by its
//! [`PluginContext`](super::context::PluginContext)), and its config values.

use super::bindings::vitals::check::host::{self, Level};
use super::bindings::vitals::check::types;
use super::store::StoreData;

impl types::Host for StoreData {}

impl host::Host for StoreData {
    async fn log(&mut self, level: Level, message: String) {
        self.plugin.log(level, &message);
    }

    async fn config_get(&mut self, key: String) -> Option<String> {
        self.plugin.grants.config.get(&key).cloned()
    }

    async fn config_keys(&mut self) -> Vec<String> {
        self.plugin.grants.config.keys().cloned().collect()
    }
}
