//! The WASI capability: the plugin's stdout and stderr go to its bounded capture, environment
//! variables and read-only directories only as granted (`env`, `read_dirs`), and no sockets or
//! name lookups (outgoing HTTP is `http`'s, through `wasi:http`).

use wasmtime::component::Linker;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};

use crate::capabilities::grants::PluginGrants;
use crate::runtime::capture::BoundedCapture;
use crate::runtime::failure::RunFailure;

/// Link WASI preview 2 (its sockets are linked but refused by [`wasi_ctx`]). Generic over the
/// store's data, which holds the context [`wasi_ctx`] builds.
pub(crate) fn add_to_linker<T: WasiView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)
}

/// The WASI context of one run: what `grants` allow, output into `capture`. A granted directory
/// that cannot be opened is a setup failure, not the plugin's.
pub(crate) fn wasi_ctx(
    grants: &PluginGrants,
    capture: &BoundedCapture,
) -> Result<WasiCtx, RunFailure> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .stdout(capture.clone())
        .stderr(capture.clone());
    for name in &grants.env {
        if let Ok(value) = std::env::var(name) {
            wasi.env(name, value);
        }
    }
    for dir in &grants.read_dirs {
        let guest = dir.to_string_lossy();
        wasi.preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly)
            .map_err(|e| RunFailure::Setup(format!("read_dirs {}: {e}", dir.display())))?;
    }
    Ok(wasi.build())
}
