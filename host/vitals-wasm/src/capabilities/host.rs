//! The `host` capability every plugin has: logging tagged with the plugin (rate-limited by its
//! [`PluginContext`](crate::capabilities::context::PluginContext)), and the config values its
//! grants hold. Linked for every contract version; 0.1.0's calls are answered by the same code.

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::bindings::v0_1::vitals::check as old;
use crate::runtime::bindings::vitals::check::host::{self, Level};
use crate::runtime::bindings::vitals::check::types;
use crate::runtime::store::StoreData;

/// Link `vitals:check/types` and `vitals:check/host`, current and 0.1.0.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    types::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)?;
    host::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)?;
    old::types::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)?;
    old::host::add_to_linker::<_, HasSelf<StoreData>>(linker, |s| s)
}

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

impl old::types::Host for StoreData {}

impl old::host::Host for StoreData {
    async fn log(&mut self, level: old::host::Level, message: String) {
        let level = match level {
            old::host::Level::Trace => host::Level::Trace,
            old::host::Level::Debug => host::Level::Debug,
            old::host::Level::Info => host::Level::Info,
            old::host::Level::Warn => host::Level::Warn,
            old::host::Level::Error => host::Level::Error,
        };
        host::Host::log(self, level, message).await;
    }

    async fn config_get(&mut self, key: String) -> Option<String> {
        host::Host::config_get(self, key).await
    }

    async fn config_keys(&mut self) -> Vec<String> {
        host::Host::config_keys(self).await
    }
}
