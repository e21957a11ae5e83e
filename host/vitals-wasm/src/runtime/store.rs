//! What lives in a plugin run's wasmtime `Store`: the WASI context the sandbox grants, the HTTP
//! guard, the memory limiter, the plugin's shared context and the run's deadline.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::context::PluginContext;
use crate::capabilities::http::HttpGuard;
use crate::capabilities::wasi::wasi_ctx;
use crate::runtime::capture::BoundedCapture;
use crate::runtime::failure::RunFailure;
use crate::runtime::limits::{MemoryLimiter, RunLimits};

/// What lives in a plugin run's `Store` (one per run, or per warm instance).
pub(crate) struct StoreData {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(super) hooks: HttpGuard,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) plugin: Arc<PluginContext>,
    pub(crate) deadline: Instant,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The epoch callback's error when the deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(super) struct DeadlineExceeded;

/// A store for one run of `plugin`: no network but granted HTTP, granted env and read-only
/// directories, output into `capture`, memory capped, trapping at `deadline`.
pub(super) fn new_store(
    engine: &wasmtime::Engine,
    plugin: &Arc<PluginContext>,
    limits: &RunLimits,
    capture: &BoundedCapture,
    deadline: Instant,
) -> Result<Store<StoreData>, RunFailure> {
    let state = StoreData {
        wasi: wasi_ctx(&plugin.grants, capture)?,
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        hooks: HttpGuard::new(plugin.clone(), deadline),
        limiter: MemoryLimiter::new(limits.memory),
        plugin: plugin.clone(),
        deadline,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    // Yield to tokio on every tick so a spinning guest never holds a worker thread; trap once
    // the deadline has passed. tokio's own `yield_now` lets the timer and I/O drivers run
    // before the guest resumes (a plain self-wake would not, on a current-thread runtime). The
    // deadline is read from the store, so a warm instance gets a new one for every run.
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
    Ok(store)
}
