//! On-disk cache of compiled plugins, keyed by the wasm file's sha256 and the engine's
//! compatibility hash (an artifact compiled under another engine configuration is never
//! loaded). The hashes of settled files are remembered by file identity
//! ([`known_hashes`]), so an unchanged file is not read again to find its artifact.

mod known_hashes;

use std::collections::HashMap;
use std::fs::Metadata;
use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::PluginError;
use crate::runtime::proposals;
use known_hashes::KnownHashes;

/// Compiled artifacts on disk, loaded with mmap; components with the same bytes loaded more
/// than once (one check per endpoint from one `.wasm`) share one copy in memory.
#[derive(Debug)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_hash: String,
    compiles: AtomicU64,
    hits: AtomicU64,
    hashed: AtomicU64,
    known: KnownHashes,
    /// Components in use, by sha256: their code and memory images are shared, not mapped again.
    live: Mutex<HashMap<String, Weak<Component>>>,
    /// One lock per sha256 being loaded: parallel loads of copies of one new file (a plugin
    /// directory of one component per endpoint) compile it once; the others wait and share it.
    loading: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// Feeds `Hash` output into sha256 (stable, unlike `DefaultHasher`).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl CompileCache {
    /// A cache in `dir` (created if missing) for artifacts of `engine`; `None` disables disk
    /// caching.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                PluginError::Runtime(format!(
                    "cannot create cache directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(CompileCache {
            known: KnownHashes::open(dir.as_deref()),
            dir,
            engine_hash,
            compiles: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            hashed: AtomicU64::new(0),
            live: Mutex::default(),
            loading: Mutex::default(),
        })
    }

    /// How many components were compiled (cache misses).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// How many components were loaded from disk without compiling.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many plugin files were read and hashed; a settled file whose hash is remembered is
    /// not.
    pub fn files_hashed(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }

    /// The sha256 and the compiled component of the plugin file at `path`, whose metadata
    /// `meta` the caller has read (for its size check), reading at most `limit` bytes. A
    /// settled file whose hash is remembered is not read again. Blocking: call from
    /// `spawn_blocking`. The outer error is reading the file, the inner one compiling it.
    pub(crate) fn load_file(
        &self,
        engine: &Engine,
        path: &Path,
        meta: &Metadata,
        limit: u64,
    ) -> std::io::Result<(String, Result<Arc<Component>, String>)> {
        if let Some(sha256) = self.known.get(path, meta)
            && let Some(component) = self.load_cached(engine, &sha256)
        {
            return Ok((sha256, Ok(component)));
        }
        let wasm = read_bounded(path, limit)?;
        self.hashed.fetch_add(1, Ordering::Relaxed);
        let sha256 = sha256_hex(&wasm);
        if let Ok(after) = std::fs::metadata(path) {
            self.known
                .remember(path, meta, &after, &sha256, SystemTime::now());
        }
        let compiled = self.load_or_compile(engine, &wasm, &sha256);
        Ok((sha256, compiled))
    }

    /// The sha256 of the file at `path` (metadata `meta`): remembered for a settled file,
    /// else hashed by streaming in constant memory. Blocking: call from `spawn_blocking`.
    pub(crate) fn hash_file(&self, path: &Path, meta: &Metadata) -> std::io::Result<String> {
        if let Some(sha256) = self.known.get(path, meta) {
            return Ok(sha256);
        }
        let mut hasher = Sha256::new();
        let mut file = std::fs::File::open(path)?.take(meta.len());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        self.hashed.fetch_add(1, Ordering::Relaxed);
        let sha256 = hex::encode(hasher.finalize());
        if let Ok(after) = std::fs::metadata(path) {
            self.known
                .remember(path, meta, &after, &sha256, SystemTime::now());
        }
        Ok(sha256)
    }

    /// The component for a wasm file with this sha256 if it is in use or has a usable cached
    /// artifact.
    fn load_cached(&self, engine: &Engine, sha256: &str) -> Option<Arc<Component>> {
        if let Some(live) = self.live(sha256) {
            return Some(live);
        }
        let path = self.path_for(sha256)?;
        let component = load_artifact(engine, &path).ok()?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(self.share(sha256, component))
    }

    /// How many distinct components are in use.
    pub fn components_in_use(&self) -> usize {
        self.live.lock().map_or(0, |live| {
            live.values().filter(|w| w.strong_count() > 0).count()
        })
    }

    fn live(&self, sha256: &str) -> Option<Arc<Component>> {
        self.live.lock().ok()?.get(sha256)?.upgrade()
    }

    fn share(&self, sha256: &str, component: Component) -> Arc<Component> {
        let component = Arc::new(component);
        if let Ok(mut live) = self.live.lock() {
            live.retain(|_, w| w.strong_count() > 0);
            live.insert(sha256.to_owned(), Arc::downgrade(&component));
        }
        component
    }

    /// Where the artifact for a wasm file with this sha256 lives.
    pub fn path_for(&self, sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{}.cwasm", self.engine_hash)))
    }

    /// Load the compiled component from disk, or compile and store it. A corrupt or
    /// incompatible entry is recompiled.
    fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> Result<Arc<Component>, String> {
        if let Some(live) = self.live(sha256) {
            return Ok(live);
        }
        binary_component(wasm)?;
        // A poisoned map: load without the gate rather than not at all.
        let gate = self
            .loading
            .lock()
            .ok()
            .map(|mut loading| loading.entry(sha256.to_owned()).or_default().clone());
        let held = gate
            .as_ref()
            .map(|g| g.lock().unwrap_or_else(PoisonError::into_inner));
        // Whoever held the gate before may have loaded it.
        let result = match self.live(sha256) {
            Some(live) => Ok(live),
            None => self
                .compile_or_load(engine, wasm, sha256)
                .map(|component| self.share(sha256, component)),
        };
        drop(held);
        if let (Some(gate), Ok(mut loading)) = (gate, self.loading.lock()) {
            // The map's own reference and this one: nobody else waits, forget the gate.
            if Arc::strong_count(&gate) <= 2 {
                loading.remove(sha256);
            }
        }
        result
    }

    fn compile_or_load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> Result<Component, String> {
        let Some(path) = self.path_for(sha256) else {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            return Component::new(engine, wasm).map_err(|e| compile_error(wasm, &e));
        };
        if path.exists() {
            match load_artifact(engine, &path) {
                Ok(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Err(e) => tracing::warn!(
                    "plugin cache: {} is unusable ({e:#}); recompiling",
                    path.display()
                ),
            }
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let artifact = engine
            .precompile_component(wasm)
            .map_err(|e| compile_error(wasm, &e))?;
        if let Err(e) = write_atomically(&path, &artifact) {
            tracing::warn!("plugin cache: cannot write {}: {e}", path.display());
            // The cache is an optimisation: compile in memory instead.
            return Component::new(engine, wasm).map_err(|e| compile_error(wasm, &e));
        }
        load_artifact(engine, &path).map_err(|e| format!("{e:#}"))
    }

    /// Remove cached artifacts whose wasm sha256 is not in `keep` (and artifacts of other
    /// engine configurations). Returns how many files were removed.
    pub fn prune(&self, keep: &[String]) -> std::io::Result<usize> {
        let Some(dir) = &self.dir else { return Ok(0) };
        self.known.retain(keep);
        let mut removed = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".cwasm") else {
                continue;
            };
            let keep_it = stem.rsplit_once('-').is_some_and(|(sha, engine)| {
                engine == self.engine_hash && keep.iter().any(|k| k == sha)
            });
            if !keep_it {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Read the file at `path`, at most `limit` bytes: the size is checked on the opened file (the
/// caller's earlier check may be of a file renamed away since), and the read stops past the
/// limit, so a file swapped for or grown into a bigger one is never read whole.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let too_large = |size: u64| {
        std::io::Error::other(format!(
            "file is {size} bytes, larger than the {limit} byte limit (plugins.max_file_size)"
        ))
    };
    if len > limit {
        return Err(too_large(len));
    }
    let mut wasm = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut wasm)?;
    if wasm.len() as u64 > limit {
        return Err(too_large(wasm.len() as u64));
    }
    Ok(wasm)
}

/// Why a component did not compile, in one line: the proposal it uses that the engine refuses,
/// or else what wasmtime said.
fn compile_error(wasm: &[u8], error: &wasmtime::Error) -> String {
    proposals::refused_proposal(wasm).unwrap_or_else(|| format!("{error:#}"))
}

/// Only the binary format of a component, checked before wasmtime sees it, so that a file that
/// is not WebAssembly at all, or a core module, gets a reason a person can act on.
fn binary_component(wasm: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8; 4] = b"\0asm";
    // Component-model layer 1, encoding version 0x0d.
    const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    if wasm.is_empty() {
        return Err("empty file".to_owned());
    }
    if !wasm.starts_with(MAGIC) {
        let start: String = wasm
            .iter()
            .take(8)
            .map(|b| match b {
                b' '..=b'~' => char::from(*b).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect();
        return Err(format!("starts with \"{start}\", not \"\\0asm\""));
    }
    match wasm.get(4..8) {
        Some(v) if v == COMPONENT => Ok(()),
        Some([1, 0, 0, 0]) => Err(
            "a core module, not a component: build for wasm32-wasip2, or wrap it with \
             `wasm-tools component new`"
                .to_owned(),
        ),
        Some(v) => Err(format!("unknown binary version {v:02x?}")),
        None => Err("truncated header".to_owned()),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A name of its own per write, not only per process: plugins load side by side, and two
    // loads of the same bytes writing one temporary file would truncate an artifact that the
    // other has already renamed into place and mapped (SIGBUS when its pages are read).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Map a compiled artifact from our cache.
#[allow(unsafe_code)]
fn load_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be a wasmtime artifact. This file is ours:
    // only `load_or_compile` writes into the cache directory, always via a temporary file and
    // an atomic rename (no reader sees a partial file), and its name carries the engine's
    // compatibility hash, so it was produced by `precompile_component` for this engine
    // configuration. wasmtime still checks the header and version and rejects a mismatch,
    // which we treat as a corrupt entry and recompile.
    unsafe { Component::deserialize_file(engine, path) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn concurrent_writes_of_one_artifact_never_touch_each_others_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact.cwasm");
        let bytes: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        super::write_atomically(&path, &bytes).unwrap();
        // A reader holds the file that is in place while others replace it, as a mapping does.
        let mut held = std::fs::File::open(&path).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| super::write_atomically(&path, &bytes).unwrap());
            }
        });
        let mut read = Vec::new();
        std::io::Read::read_to_end(&mut held, &mut read).unwrap();
        assert!(
            read == bytes,
            "the file in use was changed under its reader"
        );
        assert!(std::fs::read(&path).unwrap() == bytes);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary files left behind");
    }
    use super::*;

    #[test]
    fn parallel_loads_of_one_new_component_compile_it_once() {
        let engine = Engine::default();
        let cache = CompileCache::new(&engine, None).unwrap();
        // The smallest component: the header alone.
        let wasm = b"\0asm\x0d\0\x01\0";
        let sha = sha256_hex(wasm);
        let loaded: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| cache.load_or_compile(&engine, wasm, &sha).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(cache.compiles(), 1, "one compile for eight loads");
        assert!(loaded.iter().all(|c| Arc::ptr_eq(c, &loaded[0])));
        assert!(
            cache.loading.lock().unwrap().is_empty(),
            "gates left behind"
        );
    }

    #[test]
    fn only_a_binary_component_header_is_accepted_and_each_refusal_is_one_line() {
        assert_eq!(binary_component(b""), Err("empty file".to_owned()));
        let text = binary_component(b"(component)").unwrap_err();
        assert_eq!(text, "starts with \"(compone\", not \"\\0asm\"");
        let elf = binary_component(b"\x7fELF\x02\x01").unwrap_err();
        assert!(elf.starts_with("starts with \"\\x7fELF"), "{elf}");
        let module = binary_component(b"\0asm\x01\0\0\0").unwrap_err();
        assert!(
            module.starts_with("a core module, not a component"),
            "{module}"
        );
        assert!(binary_component(b"\0asm\x0d\0\x01\0").is_ok());
        for refusal in [text, elf, module] {
            assert!(!refusal.contains('\n'), "{refusal}");
        }
    }

    #[test]
    fn a_file_past_the_limit_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wasm");
        std::fs::write(&file, vec![7u8; 1000]).unwrap();
        assert_eq!(read_bounded(&file, 1000).unwrap().len(), 1000);
        let over = read_bounded(&file, 10).unwrap_err();
        assert_eq!(
            over.to_string(),
            "file is 1000 bytes, larger than the 10 byte limit (plugins.max_file_size)"
        );
    }
}
