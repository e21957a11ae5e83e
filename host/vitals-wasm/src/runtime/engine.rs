//! The one wasmtime `Engine` shared by all plugins, its linker and its epoch ticker.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::PluginError;
use crate::capabilities::{host, http, sql, wasi};
use crate::runtime::cache::CompileCache;
use crate::runtime::limits::{ByteSize, RunLimits};
use crate::runtime::proposals;
use crate::runtime::registry::PluginRegistry;
use crate::runtime::store::StoreData;
use vitals_sql::Datasources;

/// Bytes of a pool slot's memory (and table) reset in place and kept resident between runs.
const KEEP_RESIDENT: usize = 64 * 1024;

/// One epoch tick; deadlines are checked (and spinning guests yield) this often.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How the plugin runtime is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached; `None` compiles in memory every time.
    pub cache_dir: Option<PathBuf>,
    /// Largest memory limit a plugin may be given (each pool slot reserves this much address
    /// space).
    pub max_memory: ByteSize,
    /// Wasm stack cap per run.
    pub max_stack: usize,
    /// Instances that may exist at once (pooling allocator slots).
    pub max_instances: u32,
    /// Use the pooling allocator (falls back to on-demand if the pool cannot be created).
    pub pooling: bool,
    /// Largest `.wasm` file accepted.
    pub max_file_size: ByteSize,
    /// Limits for the `describe()` call made at load time.
    pub describe_limits: RunLimits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_memory: ByteSize::mib(256),
            max_stack: 512 * 1024,
            max_instances: 100,
            pooling: true,
            max_file_size: ByteSize::mib(64),
            describe_limits: RunLimits::default(),
        }
    }
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Result<Self, PluginError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vitals-epoch".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Runtime(format!("cannot start the epoch ticker: {e}")))?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Shared state behind [`PluginRuntime`].
pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreData>,
    pub(crate) cache: CompileCache,
    pub(crate) config: RuntimeConfig,
    pub(crate) datasources: Arc<ArcSwap<Datasources>>,
    pub(crate) registry: Arc<PluginRegistry>,
    pub(crate) pooling: bool,
    /// Plugin versions alive now (compiled components held by checks or in-flight runs).
    pub(crate) versions: Arc<AtomicUsize>,
    _ticker: EpochTicker,
}

/// Counts one live plugin version for as long as it exists.
pub(crate) struct VersionCount(Arc<AtomicUsize>);

impl VersionCount {
    pub(crate) fn new(versions: &Arc<AtomicUsize>) -> Self {
        versions.fetch_add(1, Ordering::Relaxed);
        VersionCount(versions.clone())
    }
}

impl Drop for VersionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The plugin runtime: engine, linker, compile cache and statistics. Cheap to clone.
#[derive(Clone)]
pub struct PluginRuntime {
    pub(crate) inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("config", &self.inner.config)
            .field("pooling", &self.inner.pooling)
            .finish_non_exhaustive()
    }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    proposals::configure(&mut c);
    c.epoch_interruption(true);
    c.max_wasm_stack(config.max_stack);
    c.memory_init_cow(true);
    c.memory_reservation(config.max_memory.bytes());
    c
}

fn pooling_config(config: &RuntimeConfig) -> PoolingAllocationConfig {
    let n = config.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(10))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size(usize::try_from(config.max_memory.bytes()).unwrap_or(usize::MAX))
        // A slot's pages that the last run dirtied are found with the PAGEMAP_SCAN ioctl
        // (Linux 6.7+) and zeroed with memset, up to this much per memory and table, instead of
        // being unmapped with madvise: a fresh run of a small plugin then takes no page faults and
        // no system call to reset. Each idle slot keeps at most this much resident.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    pool
}

fn build_engine(config: &RuntimeConfig) -> Result<(Engine, bool), PluginError> {
    if config.pooling {
        let mut c = engine_config(config);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(config)));
        match Engine::new(&c) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => tracing::warn!(
                "plugin runtime: pooling allocator unavailable ({e:#}); using on-demand allocation"
            ),
        }
    }
    let engine = Engine::new(&engine_config(config))
        .map_err(|e| PluginError::Runtime(format!("cannot create the wasm engine: {e:#}")))?;
    Ok((engine, false))
}

fn build_linker(engine: &Engine) -> Result<Linker<StoreData>, PluginError> {
    let mut linker = Linker::new(engine);
    let link = |what: &str, r: wasmtime::Result<()>| {
        r.map_err(|e| PluginError::Runtime(format!("linking {what}: {e:#}")))
    };
    // One capability a module (`capabilities/`), each linking every contract version it serves.
    link("WASI", wasi::add_to_linker(&mut linker))?;
    link("wasi:http", http::add_to_linker(&mut linker))?;
    link("vitals:check/host", host::add_to_linker(&mut linker))?;
    link("vitals:check/sql", sql::add_to_linker(&mut linker))?;
    Ok(linker)
}

impl PluginRuntime {
    /// Create the engine (pooling allocator if possible), linker, cache and epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, PluginError> {
        let (engine, pooling) = build_engine(&config)?;
        let linker = build_linker(&engine)?;
        let cache = CompileCache::new(&engine, config.cache_dir.clone())?;
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(PluginRuntime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache,
                config,
                datasources: Arc::new(ArcSwap::from_pointee(Datasources::default())),
                registry: Arc::new(PluginRegistry::default()),
                pooling,
                versions: Arc::new(AtomicUsize::new(0)),
                _ticker: ticker,
            }),
        })
    }

    /// Make these datasources available to plugins granted them (replaces the previous set).
    pub fn set_datasources(&self, datasources: Datasources) {
        self.inner.datasources.store(Arc::new(datasources));
    }

    /// Whether the pooling allocator is in use (false after a fallback to on-demand).
    pub fn is_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// The compile cache.
    pub fn cache(&self) -> &CompileCache {
        &self.inner.cache
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Per-plugin statistics: the `GET /plugins` view and the `/metrics` source.
    pub fn registry(&self) -> Arc<PluginRegistry> {
        self.inner.registry.clone()
    }

    /// Plugin versions alive now: held by a check, or by a run still in flight on a replaced
    /// version. After reloads settle this equals the number of loaded plugins.
    pub fn loaded_versions(&self) -> usize {
        self.inner.versions.load(Ordering::Relaxed)
    }

    /// The wasmtime engine (for inspection tools).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

impl vitals::MetricsSource for PluginRuntime {
    fn render(&self, out: &mut vitals::MetricsWriter) {
        self.inner.registry.render(out);
        let cache = &self.inner.cache;
        let name = "vitals_plugin_cache_compiles_total";
        out.family(
            name,
            "counter",
            "Plugin components compiled (compile cache misses).",
        );
        out.sample(name, &[], cache.compiles() as f64);
        let name = "vitals_plugin_cache_hits_total";
        out.family(
            name,
            "counter",
            "Plugin components loaded from the compile cache.",
        );
        out.sample(name, &[], cache.hits() as f64);
        let name = "vitals_plugin_versions_loaded";
        out.family(
            name,
            "gauge",
            "Plugin versions in memory (replaced versions are released when their last run ends).",
        );
        out.sample(name, &[], self.loaded_versions() as f64);
    }
}
