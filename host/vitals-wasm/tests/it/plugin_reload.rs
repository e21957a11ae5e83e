//! Hot reload: files dropped into, replaced in and removed from a watched plugin directory, under
//! a running engine whose probes are served as the daemon serves them. The last good version
//! always keeps serving, and probes never notice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vitals::Status;
use vitals_test_support::{guests, http, probe, wait};
use vitals_wasm::{
    ByteSize, PluginCheckConfig, PluginRuntime, PluginState, PluginSupervisor, PluginWatcher,
    RuntimeConfig, SupervisorConfig, WatchConfig,
};

use crate::support;

/// How long a wait for a published outcome (a load, a rejection, a run) may take before the
/// test gives up. The waits end as soon as the outcome is published; the bound only catches a
/// daemon that never publishes it. It covers the slowest work a test here queues behind: the
/// JavaScript and Python compiles of the test running beside it, which take 10-30 s on a busy
/// 2-core machine.
const OUTCOME_BOUND: Duration = wait::COMPILE;

struct Harness {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    vitals: vitals::Vitals,
    addr: std::net::SocketAddr,
    runtime: PluginRuntime,
    supervisor: Arc<PluginSupervisor>,
    _watcher: PluginWatcher,
    stop: CancellationToken,
}

impl Harness {
    async fn start() -> Harness {
        Self::with(RuntimeConfig::default(), BTreeMap::new()).await
    }

    async fn with(runtime: RuntimeConfig, declared: BTreeMap<String, PluginCheckConfig>) -> Self {
        let watch = WatchConfig {
            debounce: Duration::from_millis(50),
            rescan: Duration::from_secs(30),
            ..WatchConfig::default()
        };
        Self::with_watch(runtime, declared, watch).await
    }

    async fn with_watch(
        runtime: RuntimeConfig,
        declared: BTreeMap<String, PluginCheckConfig>,
        watch: WatchConfig,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let runtime = PluginRuntime::new(RuntimeConfig {
            cache_dir: Some(cache.path().to_owned()),
            ..runtime
        })
        .unwrap();
        let registry = runtime.registry();
        let builder = vitals::Vitals::builder()
            .evaluator_config(vitals::EvaluatorConfig {
                heartbeat: Duration::from_millis(100),
                startup_grace: Duration::ZERO,
                ..vitals::EvaluatorConfig::default()
            })
            .notes_source(registry.clone())
            .metrics_source(Arc::new(runtime.clone()));
        let builder = vitals_wasm::serve_plugins(builder, registry);
        let (vitals, evaluator) = builder.build();
        let stop = CancellationToken::new();
        tokio::spawn(evaluator.run(stop.clone()));
        // The probes are served as the daemon serves them: on a thread and runtime of their own.
        let addr = http::serve_on_thread(vitals.router());
        let supervisor = Arc::new(PluginSupervisor::new(
            runtime.clone(),
            vitals.registry().clone(),
            SupervisorConfig {
                dir: Some(dir.path().to_owned()),
                settle: Duration::from_millis(600),
                prune_cache: true,
            },
        ));
        supervisor.set_declared(declared);
        let watcher = PluginWatcher::start(supervisor.clone(), watch, stop.clone()).unwrap();
        Harness {
            dir,
            cache,
            vitals,
            addr,
            runtime,
            supervisor,
            _watcher: watcher,
            stop,
        }
    }

    fn vitals(&self) -> &vitals::Vitals {
        &self.vitals
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The latest output of `check`, if it has one.
    fn output(&self, check: &str) -> Option<String> {
        let snap = self.vitals().snapshot();
        let last = snap.check(check)?.last.as_ref()?;
        Some(last.outcome.output.clone())
    }

    /// Wait until `check`'s latest output is `expected`.
    async fn wait_output(&self, check: &str, expected: &str) {
        self.wait_output_within(check, expected, OUTCOME_BOUND)
            .await;
    }

    /// Wait up to `within` until `check`'s latest output is `expected`.
    async fn wait_output_within(&self, check: &str, expected: &str, within: Duration) {
        let what = format!("{check} reports {expected:?}");
        wait::until_async(&what, within, async || {
            let output = self.output(check);
            if output.as_deref() == Some(expected) {
                Ok(())
            } else {
                Err(format!(
                    "{output:?}; plugins: {:?}",
                    self.runtime.registry().views()
                ))
            }
        })
        .await;
    }

    async fn wait_until(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        wait::until_async(what, OUTCOME_BOUND, async || cond(self)).await;
    }

    fn view(&self, check: &str) -> Option<vitals_wasm::PluginView> {
        self.runtime
            .registry()
            .views()
            .into_iter()
            .find(|v| v.name == check)
    }

    /// `GET path` through the router with full details.
    async fn get(&self, path: &str) -> String {
        use tower::ServiceExt;
        let res = self
            .vitals()
            .router()
            .oneshot(
                ::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = axum::body::to_bytes(res.into_body(), 1 << 22)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    async fn stop(self) {
        self.stop.cancel();
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn cached_artifacts(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_becomes_a_check_and_a_removed_file_removes_it_with_its_history() {
    let _beside = support::HEAVY.read().await;
    let h = Harness::start().await;
    guests::install(
        h.dir.path(),
        "probe.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("probe", "versioned v1").await;
    let view = h.view("probe").unwrap();
    assert_eq!(view.state, PluginState::Running);
    assert_eq!(view.version, "1.0.0");
    assert_eq!(view.file, h.path("probe.wasm"));

    std::fs::remove_file(h.path("probe.wasm")).unwrap();
    h.wait_until("the check is removed", |h| {
        h.vitals().snapshot().check("probe").is_none()
    })
    .await;
    assert!(h.view("probe").is_none(), "gone from /plugins too");
    let status = h.get("/health/status").await;
    let doc: serde_json::Value = serde_json::from_str(&status).unwrap();
    let history = doc["vitals"]["removed"]["probe"]["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no removed history in {status}"));
    let last = history.last().unwrap();
    assert!(
        last["output"].as_str().unwrap().starts_with("removed: "),
        "{last}"
    );
    assert!(
        history.iter().any(|t| t["output"]
            .as_str()
            .unwrap()
            .starts_with("loaded versioned 1.0.0")),
        "{history:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_becomes_a_new_version_and_in_flight_state_carries_over() {
    let _beside = support::HEAVY.read().await;
    let h = Harness::start().await;
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("svc", "versioned v1").await;
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-b", "", 0),
    );
    h.wait_output("svc", "versioned v2").await;
    let snap = h.vitals().snapshot();
    let check = snap.check("svc").unwrap();
    assert!(
        check
            .history
            .iter()
            .any(|t| t.output.starts_with("reloaded: versioned 1.0.0 -> 2.0.0")),
        "{:?}",
        check.history
    );
    assert_eq!(h.view("svc").unwrap().version, "2.0.0");
    assert_eq!(h.view("svc").unwrap().loads, 2);
    // Rolling back to the version before is served from the compile cache.
    let compiles = h.runtime.cache().compiles();
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("svc", "versioned v1").await;
    assert_eq!(
        h.runtime.cache().compiles(),
        compiles,
        "rollback recompiled"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_replacement_keeps_the_last_good_version_until_a_good_file_fixes_it() {
    let _beside = support::HEAVY.read().await;
    let h = Harness::start().await;
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("svc", "versioned v1").await;
    guests::install(
        h.dir.path(),
        "svc.wasm",
        b"\0asm\x0d\0\x01\0 this is not a component",
    );
    h.wait_until("the file is rejected", |h| {
        h.view("svc").is_some_and(|v| v.rejected.is_some())
    })
    .await;
    let view = h.view("svc").unwrap();
    assert_eq!(view.state, PluginState::Running, "the good version runs on");
    assert_eq!(view.version, "1.0.0");
    let rejected = view.rejected.unwrap();
    assert!(
        rejected
            .reason
            .contains("not a valid WebAssembly component"),
        "{}",
        rejected.reason
    );
    // Still serving v1: a later run (forced by a rescan-free wait on the evaluator) stays v1.
    assert_eq!(h.output("svc").as_deref(), Some("versioned v1"));
    let status = h.get("/health/status").await;
    assert!(
        status.contains("\"notes\":[\"plugin 'svc': ")
            && status.contains("version 1.0.0 keeps running"),
        "{status}"
    );
    let metrics = h.get("/metrics").await;
    assert!(
        metrics.contains("vitals_plugin_rejected{plugin=\"svc\"} 1"),
        "{metrics}"
    );
    let plugins = h.get("/plugins").await;
    assert!(plugins.contains("\"rejected\":{"), "{plugins}");

    // A good file clears the error.
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-b", "", 0),
    );
    h.wait_output("svc", "versioned v2").await;
    h.wait_until("the rejection is cleared", |h| {
        h.view("svc").is_some_and(|v| v.rejected.is_none())
    })
    .await;
    let metrics = h.get("/metrics").await;
    assert!(
        metrics.contains("vitals_plugin_rejected{plugin=\"svc\"} 0"),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_the_running_version_back_over_a_rejected_file_withdraws_the_rejection_everywhere()
{
    let _beside = support::HEAVY.read().await;
    let h = Harness::start().await;
    let good = guests::variant("versioned-a", "", 0);
    guests::install(h.dir.path(), "svc.wasm", &good);
    h.wait_output("svc", "versioned v1").await;
    let loads = h.view("svc").unwrap().loads;

    // Two kinds of mistake, each undone by hand: the running component copied back over a
    // corrupt one, and a bad manifest deleted again.
    let corrupt: &[u8] = b"\0asm\x0d\0\x01\0 this is not a component";
    for mistake in ["svc.wasm", "svc.toml"] {
        match mistake {
            "svc.wasm" => guests::install(h.dir.path(), "svc.wasm", corrupt),
            _ => guests::install(h.dir.path(), "svc.toml", b"memry = 3\n"),
        }
        h.wait_until("the file is rejected", |h| {
            h.view("svc").is_some_and(|v| v.rejected.is_some())
        })
        .await;
        let metrics = h.get("/metrics").await;
        assert!(
            metrics.contains("vitals_plugin_rejected{plugin=\"svc\"} 1"),
            "{metrics}"
        );
        match mistake {
            "svc.wasm" => guests::install(h.dir.path(), "svc.wasm", &good),
            _ => std::fs::remove_file(h.path("svc.toml")).unwrap(),
        }
        h.wait_until("the rejection is withdrawn", |h| {
            h.view("svc").is_some_and(|v| v.rejected.is_none())
        })
        .await;
        let view = h.view("svc").unwrap();
        assert_eq!(view.loads, loads, "nothing was reloaded: {view:?}");
        assert_eq!(view.state, PluginState::Running);
        let status = h.get("/health/status").await;
        assert!(!status.contains("plugin 'svc': "), "{status}");
        let metrics = h.get("/metrics").await;
        assert!(
            metrics.contains("vitals_plugin_rejected{plugin=\"svc\"} 0"),
            "{metrics}"
        );
        assert!(!h.get("/plugins").await.contains("\"rejected\":{"));
    }
    assert_eq!(h.output("svc").as_deref(), Some("versioned v1"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_file_is_rejected_with_its_reason_and_never_replaces_a_good_one() {
    let _beside = support::HEAVY.read().await;
    let h = Harness::with(
        RuntimeConfig {
            max_file_size: ByteSize::mib(2),
            ..RuntimeConfig::default()
        },
        BTreeMap::new(),
    )
    .await;
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("svc", "versioned v1").await;
    let good = std::fs::read(guests::component("versioned-b")).unwrap();
    let bad: [(&str, Vec<u8>, &str); 6] = [
        (
            "garbage",
            b"garbage".to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "wrong world",
            wat::parse_str("(component)").unwrap(),
            "does not implement vitals:check/plugin@0.2.0",
        ),
        (
            "wrong contract version",
            wat::parse_str("(component (import \"vitals:check/host@0.2.0\" (instance)))").unwrap(),
            "does not implement vitals:check/plugin@0.2.0",
        ),
        (
            "too large",
            guests::variant("versioned-b", "big", 3 << 20),
            "larger than the 2097152 byte limit",
        ),
        (
            "describe traps",
            std::fs::read(guests::component("trap-describe")).unwrap(),
            "describe() failed: trap:",
        ),
    ];
    for (what, bytes, reason) in bad {
        let before = h.view("svc").unwrap().rejections;
        guests::install(h.dir.path(), "svc.wasm", &bytes);
        h.wait_until(what, |h| h.view("svc").unwrap().rejections > before)
            .await;
        let view = h.view("svc").unwrap();
        let rejected = view.rejected.unwrap();
        assert!(
            rejected.reason.contains(reason),
            "{what}: {}",
            rejected.reason
        );
        // A file over the size limit is not read, not even to hash it.
        let hashed = (what != "too large").then(|| sha256(&bytes));
        assert_eq!(rejected.sha256, hashed, "{what}");
        assert_eq!(
            view.version, "1.0.0",
            "{what}: the good version keeps running"
        );
        assert_eq!(h.output("svc").as_deref(), Some("versioned v1"), "{what}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_component_copied_in_several_writes_is_never_half_loaded() {
    let _beside = support::HEAVY.read().await;
    use std::io::Write;
    let h = Harness::start().await;
    guests::install(
        h.dir.path(),
        "svc.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("svc", "versioned v1").await;
    let big = guests::variant("versioned-b", "large", 6 << 20);
    // The slow way: rewrite the file in place, in six writes with pauses longer than the
    // debounce (but shorter than the settle time), as `cp` over a network share might.
    let mut file = std::fs::File::create(h.path("svc.wasm")).unwrap();
    let mut outputs = std::collections::BTreeSet::new();
    for chunk in big.chunks(big.len() / 6 + 1) {
        // Sampled before each write: while the file is incomplete, v1 must be what serves.
        outputs.insert(h.output("svc").unwrap());
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let view = h.view("svc").unwrap();
        assert!(
            view.rejected.is_none(),
            "a partial file was rejected: {view:?}"
        );
    }
    drop(file);
    h.wait_output("svc", "versioned v2").await;
    let view = h.view("svc").unwrap();
    assert_eq!(view.rejections, 0, "{view:?}");
    assert_eq!(
        view.sha256,
        sha256(&big),
        "the whole file is what was loaded"
    );
    assert_eq!(view.loads, 2, "exactly one reload: {view:?}");
    assert_eq!(
        outputs.into_iter().collect::<Vec<_>>(),
        ["versioned v1"],
        "v1 served throughout the copy"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_quick_replacements_ends_on_the_last_version_with_nothing_else_loaded() {
    let _beside = support::HEAVY.read().await;
    let h = Harness::start().await;
    guests::install(
        h.dir.path(),
        "flood.wasm",
        &guests::variant("versioned-a", "0", 0),
    );
    h.wait_output("flood", "versioned v1").await;
    for i in 1..50 {
        let guest = if i % 2 == 0 {
            "versioned-a"
        } else {
            "versioned-b"
        };
        guests::install(
            h.dir.path(),
            "flood.wasm",
            &guests::variant(guest, &i.to_string(), 0),
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = guests::variant("versioned-b", "final", 0);
    guests::install(h.dir.path(), "flood.wasm", &last);
    h.wait_until("the final version is loaded", |h| {
        h.view("flood").is_some_and(|v| v.sha256 == sha256(&last))
    })
    .await;
    h.wait_output("flood", "versioned v2").await;
    h.wait_until("replaced versions are released", |h| {
        h.runtime.loaded_versions() == 1
    })
    .await;
    let loaded = h.supervisor.loaded().await;
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded["flood"].sha256(), sha256(&last));
    assert_eq!(
        cached_artifacts(h.cache.path()),
        2,
        "compile cache entries of replaced files are pruned, but for the one before the last"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_more_often_than_the_debounce_goes_live_within_its_bound() {
    let _beside = support::HEAVY.read().await;
    // The daemon's defaults: 100 ms of quiet, but at most 1 s after the first event.
    let watch = WatchConfig::default();
    let h = Harness::with_watch(RuntimeConfig::default(), BTreeMap::new(), watch).await;
    let a = guests::variant("versioned-a", "busy", 0);
    let b = guests::variant("versioned-b", "busy", 0);
    let dir = h.dir.path().to_owned();
    let (first, last) = (a.clone(), b.clone());
    let started = Instant::now();
    // Every 50 ms for 5 s: never quiet for the 100 ms debounce.
    let writer = std::thread::spawn(move || {
        for i in 0..100 {
            let bytes = if i % 2 == 0 { &first } else { &last };
            guests::install(&dir, "busy.wasm", bytes);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    h.wait_until("busy.wasm runs while it is still being rewritten", |h| {
        h.output("busy").is_some()
    })
    .await;
    let live_after = started.elapsed();
    assert!(
        !writer.is_finished(),
        "busy.wasm went live only after the writes stopped ({live_after:?})"
    );
    assert!(
        live_after < watch.max_delay * 3,
        "live after {live_after:?}, bound {:?}",
        watch.max_delay
    );
    writer.join().unwrap();
    h.wait_until("the newest version is live once the writes stop", |h| {
        h.view("busy").is_some_and(|v| v.sha256 == sha256(&b))
    })
    .await;
    h.wait_output("busy", "versioned v2").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_manifest_applies_new_settings_and_grants() {
    let _beside = support::HEAVY.read().await;
    let h = Harness::start().await;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("a.txt"), "alpha").unwrap();
    std::fs::write(data.path().join("b.txt"), "bravo-bravo").unwrap();
    let manifest = |file: &str, granted: bool| {
        let dirs = if granted {
            format!("[{:?}]", data.path().display().to_string())
        } else {
            "[]".to_owned()
        };
        format!(
            "interval = \"1h\"\nread_dirs = {dirs}\n[config]\npath = {:?}\n",
            data.path().join(file).display().to_string()
        )
    };
    guests::install(
        h.dir.path(),
        "reader.toml",
        manifest("a.txt", true).as_bytes(),
    );
    guests::install(
        h.dir.path(),
        "reader.wasm",
        &guests::variant("file-reader", "", 0),
    );
    h.wait_output("reader", "read 5 bytes").await;
    assert_eq!(
        h.vitals()
            .snapshot()
            .check("reader")
            .unwrap()
            .settings
            .interval,
        Duration::from_secs(3600)
    );
    guests::install(
        h.dir.path(),
        "reader.toml",
        manifest("b.txt", true).as_bytes(),
    );
    h.wait_output("reader", "read 11 bytes").await;
    guests::install(
        h.dir.path(),
        "reader.toml",
        manifest("b.txt", false).as_bytes(),
    );
    h.wait_until("the revoked grant applies", |h| {
        h.output("reader")
            .is_some_and(|o| o.starts_with("reading ") && o.contains("failed"))
    })
    .await;
    // A broken manifest is a rejection like a broken file: the last good settings stay.
    guests::install(h.dir.path(), "reader.toml", b"interval = \"soon\"\n");
    h.wait_until("the manifest is rejected", |h| {
        h.view("reader").is_some_and(|v| v.rejected.is_some())
    })
    .await;
    let reason = h.view("reader").unwrap().rejected.unwrap().reason;
    assert!(reason.contains("reader.toml"), "{reason}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_plugin_fails_until_its_file_arrives_and_a_stray_file_is_only_reported() {
    let _beside = support::HEAVY.read().await;
    let declared = BTreeMap::from([(
        "payments".to_owned(),
        toml::from_str::<PluginCheckConfig>("critical = false\ninterval = \"1h\"").unwrap(),
    )]);
    let h = Harness::with(RuntimeConfig::default(), declared).await;
    h.wait_until("the declared check fails", |h| {
        h.output("payments")
            .is_some_and(|o| o.starts_with("plugin not loaded: ") && o.contains("does not exist"))
    })
    .await;
    let snap = h.vitals().snapshot();
    assert_eq!(snap.check("payments").unwrap().status(), Status::Fail);
    // A file nobody declared that does not load is reported, but is not a failing check.
    guests::install(h.dir.path(), "stray.wasm", b"garbage");
    h.wait_until("the stray file is rejected", |h| {
        h.view("stray").is_some_and(|v| v.rejected.is_some())
    })
    .await;
    assert_eq!(h.view("stray").unwrap().state, PluginState::NotLoaded);
    assert!(h.vitals().snapshot().check("stray").is_none());

    guests::install(
        h.dir.path(),
        "payments.wasm",
        &guests::variant("versioned-a", "", 0),
    );
    h.wait_output("payments", "versioned v1").await;
    let snap = h.vitals().snapshot();
    let check = snap.check("payments").unwrap();
    assert_eq!(
        check.settings.interval,
        Duration::from_secs(3600),
        "declared settings apply"
    );
    assert!(!check.settings.critical);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_never_fail_or_slow_down_while_plugins_are_replaced() {
    let _alone = support::HEAVY.write().await;
    let h = Harness::start().await;
    for name in ["one", "two", "three"] {
        guests::install(
            h.dir.path(),
            &format!("{name}.wasm"),
            &guests::variant("versioned-a", name, 0),
        );
    }
    for name in ["one", "two", "three"] {
        h.wait_output(name, "versioned v1").await;
    }
    let ready = probe::ProbeLoop::start(h.addr(), "/health/ready", 200, Duration::from_millis(2));
    let live = probe::ProbeLoop::start(h.addr(), "/health/live", 200, Duration::from_millis(2));
    // Rounds of three replacements every 150 ms, each a file never seen before: ten rounds, and
    // more until fifteen real compiles have run under the probes. Replacements that land while a
    // pass is compiling are coalesced into the next pass: the slower the machine compiles, the
    // more rounds that takes. Pairs of rounds, so the last version is versioned-a's.
    let started = Instant::now();
    let mut round = 0;
    while round < 10 || h.runtime.cache().compiles() < 15 {
        assert!(
            started.elapsed() < OUTCOME_BOUND,
            "timed out after {OUTCOME_BOUND:?} waiting until fifteen compiles have run; {} did",
            h.runtime.cache().compiles()
        );
        for guest in ["versioned-b", "versioned-a"] {
            for name in ["one", "two", "three"] {
                let nonce = format!("{name}-{round}");
                guests::install(
                    h.dir.path(),
                    &format!("{name}.wasm"),
                    &guests::variant(guest, &nonce, 0),
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            round += 1;
        }
    }
    for name in ["one", "two", "three"] {
        h.wait_output(name, "versioned v1").await;
    }
    let (ready, live) = (ready.stop(), live.stop());
    for stats in [&ready, &live] {
        assert!(stats.sent > 200, "{stats:?}");
        probe::assert_fast(
            stats,
            Duration::from_millis(50),
            "while plugins were replaced",
        );
    }
    // Replacements that land while a pass is compiling are coalesced into the next pass.
    let compiles = h.runtime.cache().compiles();
    assert!(compiles >= 15, "only {compiles} compiles");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_and_python_plugins_reload_like_rust_ones_and_their_compiles_stall_no_probe_or_check()
 {
    let _alone = support::HEAVY.write().await;
    // Uncached compiles (a private cache): QuickJS ~1.6 MB, Python ~18 MB.
    let compile = Duration::from_secs(120);
    let h = Harness::start().await;
    // Another check on a short interval: it must keep running while the big compile runs.
    std::fs::write(h.path("ticker.toml"), "interval = \"50ms\"\n").unwrap();
    guests::install(
        h.dir.path(),
        "ticker.wasm",
        &std::fs::read(guests::component("noop")).unwrap(),
    );
    let quickjs = std::fs::read(guests::component("noop-qjs")).unwrap();
    let python = std::fs::read(guests::component("misbehave-py")).unwrap();
    guests::install(h.dir.path(), "script.wasm", &quickjs);
    h.wait_output_within("script", "ok from quickjs, run 1 of this instance", compile)
        .await;
    assert_eq!(h.view("script").unwrap().state, PluginState::Running);
    let ticker_runs = |h: &Harness| h.vitals().snapshot().check("ticker").map_or(0, |c| c.runs);
    h.wait_until("the ticker runs", |h| ticker_runs(h) > 0)
        .await;

    // JavaScript -> Python under the same name, while probes hammer the server.
    let ready = probe::ProbeLoop::start(h.addr(), "/health/ready", 200, Duration::from_millis(2));
    let live = probe::ProbeLoop::start(h.addr(), "/health/live", 200, Duration::from_millis(2));
    let started = Instant::now();
    let runs_before = ticker_runs(&h);
    guests::install(h.dir.path(), "script.wasm", &python);
    h.wait_output_within("script", "ok from python", compile)
        .await;
    let swapped_after = started.elapsed();
    let ticks = ticker_runs(&h) - runs_before;
    let (ready, live) = (ready.stop(), live.stop());
    // One run per 50 ms would be swapped_after / 50 ms; a quarter of that proves it kept going.
    let expected = (swapped_after.as_millis() / 50 / 4) as u64;
    assert!(
        ticks >= expected.max(5),
        "the ticker ran {ticks} times in {swapped_after:?} while the Python component compiled"
    );
    for stats in [&ready, &live] {
        probe::assert_fast(
            stats,
            Duration::from_millis(100),
            &format!("while a Python component compiled for {swapped_after:?}"),
        );
    }
    let snap = h.vitals().snapshot();
    let history = &snap.check("script").unwrap().history;
    assert!(
        history.iter().any(|t| t.output.starts_with("reloaded: ")),
        "{history:?}"
    );

    // A broken replacement is rejected; the Python version serves on.
    guests::install(h.dir.path(), "script.wasm", b"not a component at all");
    h.wait_until("the file is rejected", |h| {
        h.view("script").is_some_and(|v| v.rejected.is_some())
    })
    .await;
    assert_eq!(h.view("script").unwrap().state, PluginState::Running);
    h.wait_output("script", "ok from python").await;

    // Rolling back to the JavaScript version loads it from the compile cache.
    let compiles = h.runtime.cache().compiles();
    guests::install(h.dir.path(), "script.wasm", &quickjs);
    h.wait_output("script", "ok from quickjs, run 1 of this instance")
        .await;
    assert_eq!(
        h.runtime.cache().compiles(),
        compiles,
        "rollback recompiled"
    );
    h.stop().await;
}
