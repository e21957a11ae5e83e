//! What this crate's suites share beyond `vitals_test_support`: plugin runtimes on the shared
//! compile cache, grants, and a lock that keeps the measuring tests apart from the heavy ones.

use std::collections::BTreeMap;

use vitals_test_support::guests;
use vitals_wasm::{LoadedPlugin, PluginGrants, PluginRuntime, RuntimeConfig};

/// A plugin runtime with default settings and the shared compile cache
/// ([`guests::shared_cache_dir`]).
pub fn cached_runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(guests::shared_cache_dir()),
        ..RuntimeConfig::default()
    })
    .expect("plugin runtime")
}

/// Load guest `name` into `rt`, one load at a time in this process: parallel tests then compile
/// a big component once, and the others hit the cache.
pub async fn load_serialized(rt: &PluginRuntime, name: &str, grants: PluginGrants) -> LoadedPlugin {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let path = guests::component(name);
    let _beside = HEAVY.read().await;
    let _turn = ONE_AT_A_TIME.lock().await;
    rt.load(&path, grants)
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// Plugin config values from `(key, value)` pairs.
pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Grants with config values and nothing else.
pub fn grants(pairs: &[(&str, &str)]) -> PluginGrants {
    PluginGrants {
        config: config(pairs),
        ..PluginGrants::default()
    }
}

/// Grants with config values and outgoing HTTP to any port on 127.0.0.1.
pub fn http_grants(pairs: &[(&str, &str)]) -> PluginGrants {
    PluginGrants {
        allow_http: vec!["http://127.0.0.1:*".to_owned()],
        ..grants(pairs)
    }
}

/// Held for writing by the tests that measure probe latency while they load the machine, for
/// reading by the tests that compile the big JavaScript and Python components: a measurement
/// never runs beside another test's big compiles, so it measures the load of its own work only
/// (beside another test's compiles, a busy 2-core machine showed a 165 ms probe; alone under
/// the same load, the probes stay under 100 ms).
pub static HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
