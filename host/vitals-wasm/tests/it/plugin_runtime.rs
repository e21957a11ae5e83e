//! The runtime around the sandbox: compile cache, quarantine, responsiveness, views, metrics
//! and plugin settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vitals::{Check, Outcome, Status};
use vitals::{MetricsSource, MetricsWriter};
use vitals_test_support::guests;
use vitals_wasm::{
    ByteSize, PluginCheck, PluginCheckConfig, PluginGrants, PluginRuntime, QuarantinePolicy,
    RunLimits, RuntimeConfig,
};

fn cached_runtime(dir: &std::path::Path) -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    })
    .expect("plugin runtime")
}

#[tokio::test]
async fn the_runtime_uses_the_pooling_allocator() {
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    assert!(rt.is_pooling());
}

#[tokio::test]
async fn a_second_load_of_the_same_file_is_served_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let noop = guests::component("noop");
    let first = cached_runtime(dir.path());
    first.load(&noop, PluginGrants::default()).await.unwrap();
    assert_eq!((first.cache().compiles(), first.cache().hits()), (1, 0));
    // A new runtime (as after a restart) with the same engine configuration: no compile.
    let second = cached_runtime(dir.path());
    let loaded = second.load(&noop, PluginGrants::default()).await.unwrap();
    assert_eq!((second.cache().compiles(), second.cache().hits()), (0, 1));
    assert_eq!(loaded.description().name, "noop");
}

#[tokio::test]
async fn an_unchanged_settled_file_is_not_read_again_and_a_rewritten_one_is() {
    let cache = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let file = plugins.path().join("svc.wasm");
    std::fs::write(&file, guests::variant("versioned-a", "", 0)).unwrap();
    // Hashes are remembered only for files left alone a while (same-tick rewrites).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let first = cached_runtime(cache.path());
    first.load(&file, PluginGrants::default()).await.unwrap();
    assert_eq!(first.cache().files_hashed(), 1);

    // A restart: the artifact is found from the file's identity, without reading the file.
    let second = cached_runtime(cache.path());
    let loaded = second.load(&file, PluginGrants::default()).await.unwrap();
    assert_eq!(second.cache().files_hashed(), 0);
    assert_eq!((second.cache().compiles(), second.cache().hits()), (0, 1));
    assert_eq!(loaded.description().version, "1.0.0");

    // Rewritten in place with the same length (same inode): read, hashed and compiled anew.
    let v2 = guests::variant("versioned-b", "", 0);
    assert_eq!(v2.len() as u64, std::fs::metadata(&file).unwrap().len());
    std::fs::write(&file, &v2).unwrap();
    let third = cached_runtime(cache.path());
    let loaded = third.load(&file, PluginGrants::default()).await.unwrap();
    assert_eq!(third.cache().files_hashed(), 1);
    assert_eq!(loaded.description().version, "2.0.0");
}

#[tokio::test]
async fn plugins_with_the_same_bytes_share_one_component_until_the_last_is_dropped() {
    let cache = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let rt = cached_runtime(cache.path());
    let mut loaded = Vec::new();
    for name in ["api-a", "api-b", "api-c"] {
        let file = plugins.path().join(format!("{name}.wasm"));
        std::fs::copy(guests::component("noop"), &file).unwrap();
        loaded.push(rt.load(&file, PluginGrants::default()).await.unwrap());
    }
    assert_eq!(rt.cache().components_in_use(), 1);
    assert_eq!((rt.cache().compiles(), rt.cache().hits()), (1, 0));
    let other = rt
        .load(&guests::component("panicker"), PluginGrants::default())
        .await
        .unwrap();
    assert_eq!(rt.cache().components_in_use(), 2);
    drop(loaded);
    assert_eq!(
        rt.cache().components_in_use(),
        1,
        "released with its last plugin"
    );
    drop(other);
    assert_eq!(rt.cache().components_in_use(), 0);
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let noop = guests::component("noop");
    let first = cached_runtime(dir.path());
    let loaded = first.load(&noop, PluginGrants::default()).await.unwrap();
    let entry = first.cache().path_for(loaded.sha256()).unwrap();
    // The artifact is mmapped while loaded: let go of it before damaging the file in place.
    drop((loaded, first));
    std::fs::write(&entry, b"garbage").unwrap();
    let second = cached_runtime(dir.path());
    second.load(&noop, PluginGrants::default()).await.unwrap();
    assert_eq!((second.cache().compiles(), second.cache().hits()), (1, 0));
}

#[tokio::test]
async fn prune_keeps_only_the_listed_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let rt = cached_runtime(dir.path());
    let noop = rt
        .load(&guests::component("noop"), PluginGrants::default())
        .await
        .unwrap();
    let other = rt
        .load(&guests::component("panicker"), PluginGrants::default())
        .await
        .unwrap();
    assert_eq!(rt.cache().prune(&[noop.sha256().to_owned()]).unwrap(), 1);
    assert!(rt.cache().path_for(noop.sha256()).unwrap().exists());
    assert!(!rt.cache().path_for(other.sha256()).unwrap().exists());
}

#[tokio::test]
async fn a_plugin_is_quarantined_after_three_consecutive_traps() {
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let loaded = rt
        .load(&guests::component("panicker"), PluginGrants::default())
        .await
        .unwrap();
    let check = PluginCheck::new(
        &rt,
        "panicky",
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    for _ in 0..3 {
        let outcome = check.run().await;
        assert!(outcome.output.starts_with("trap: "), "{}", outcome.output);
    }
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Fail);
    assert_eq!(
        outcome.output,
        "quarantined after 3 consecutive traps; next attempt in 30s"
    );
    assert_eq!(outcome.details["quarantine"]["state"], "quarantined");
    assert_eq!(
        check.stats().runs(),
        3,
        "a quarantined plugin is not instantiated"
    );
    let view = rt
        .registry()
        .views()
        .into_iter()
        .find(|v| v.name == "panicky")
        .unwrap();
    assert!(matches!(
        view.quarantine,
        vitals_wasm::QuarantineState::Quarantined { .. }
    ));
}

#[tokio::test]
async fn two_traps_then_a_success_do_not_quarantine() {
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let grants = |mib: &str| PluginGrants {
        config: [("mib".to_owned(), mib.to_owned())].into(),
        ..PluginGrants::default()
    };
    let hog = rt
        .load(&guests::component("memory-hog"), grants("200"))
        .await
        .unwrap();
    let check = PluginCheck::new(
        &rt,
        "hog",
        hog,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    check.run().await;
    check.run().await;
    check
        .replace(
            rt.load(&guests::component("memory-hog"), grants("1"))
                .await
                .unwrap(),
        )
        .unwrap();
    assert_eq!(check.run().await.status, Status::Pass);
    check
        .replace(
            rt.load(&guests::component("memory-hog"), grants("200"))
                .await
                .unwrap(),
        )
        .unwrap();
    let outcome = check.run().await;
    assert_eq!(outcome.output, "memory limit 64 MiB exceeded");
    assert_eq!(outcome.details["quarantine"]["consecutive_traps"], 1);
}

struct Sleeper;

#[async_trait::async_trait]
impl Check for Sleeper {
    async fn run(&self) -> Outcome {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Outcome::pass("slept")
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_does_not_stall_other_checks_on_the_same_thread() {
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let loaded = rt
        .load(&guests::component("spin-loop"), PluginGrants::default())
        .await
        .unwrap();
    let limits = RunLimits {
        deadline: Duration::from_secs(2),
        ..RunLimits::default()
    };
    let spinner = Arc::new(
        PluginCheck::new(&rt, "spinner", loaded, limits, QuarantinePolicy::default()).unwrap(),
    );
    let spinning = tokio::spawn({
        let spinner = spinner.clone();
        async move { spinner.run().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // One runtime thread, a guest spinning on it: the native check still finishes on time.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(Sleeper.run().await.status, Status::Pass);
        worst = worst.max(started.elapsed());
    }
    assert!(
        worst < Duration::from_millis(100),
        "native check took {worst:?} while a plugin spun"
    );
    assert!(!spinning.is_finished(), "the spinner is still running");
    assert_eq!(spinning.await.unwrap().output, "deadline 2s exceeded");
}

#[tokio::test]
async fn views_and_metrics_report_each_plugin() {
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let loaded = rt
        .load(&guests::component("noop"), PluginGrants::default())
        .await
        .unwrap();
    let sha = loaded.sha256().to_owned();
    let check = PluginCheck::new(
        &rt,
        "noop-check",
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    check.run().await;
    check.run().await;
    let json = rt.registry().to_json();
    let view = &json[0];
    assert_eq!(view["name"], "noop-check");
    assert_eq!(view["sha256"], sha);
    assert_eq!(view["runs"], 2);
    assert_eq!(view["quarantine"]["state"], "active");
    let mut w = MetricsWriter::new();
    rt.registry().render(&mut w);
    let text = w.finish();
    assert!(
        text.contains("vitals_plugin_runs_total{plugin=\"noop-check\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("vitals_plugin_run_duration_seconds_count{plugin=\"noop-check\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("vitals_plugin_quarantined{plugin=\"noop-check\"} 0\n"),
        "{text}"
    );
    for family in [
        "traps_total",
        "timeouts_total",
        "oom_total",
        "memory_peak_bytes",
    ] {
        assert!(
            text.contains(&format!("vitals_plugin_{family}{{plugin=\"noop-check\"}}")),
            "{family}"
        );
    }
}

#[tokio::test]
async fn a_config_table_loads_the_plugin_with_its_limits_and_the_manifest_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("hog.wasm");
    std::fs::copy(guests::component("memory-hog"), &wasm).unwrap();
    std::fs::write(
        dir.path().join("hog.toml"),
        "interval = \"7s\"\nmemory_limit = \"256MiB\"\n[config]\nmib = \"40\"\n",
    )
    .unwrap();
    let table = format!(
        "file = {:?}\ntimeout = \"1s\"\nmemory_limit = \"32MiB\"\n",
        wasm.display().to_string()
    );
    let config: PluginCheckConfig = toml::from_str(&table).unwrap();
    let rt = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    let spec = PluginCheck::from_config(&rt, "hog", &config).await.unwrap();
    assert_eq!(
        spec.settings.interval,
        Duration::from_secs(7),
        "from the manifest"
    );
    assert_eq!(
        spec.settings.timeout,
        Duration::from_secs(1) + vitals_wasm::EVALUATOR_GRACE
    );
    // 40 MiB from the manifest's config, against the operator's 32 MiB (the operator wins).
    assert_eq!(
        spec.check.run().await.output,
        "memory limit 32 MiB exceeded"
    );
}

#[test]
fn a_config_table_with_an_unknown_key_is_rejected() {
    let err =
        toml::from_str::<PluginCheckConfig>("file = \"x.wasm\"\nallow_sockets = true").unwrap_err();
    assert!(err.to_string().contains("allow_sockets"), "{err}");
    let ok: PluginCheckConfig =
        toml::from_str("file = \"x.wasm\"\nmemory_limit = \"16MiB\"").unwrap();
    assert_eq!(ok.memory_limit, Some(ByteSize::mib(16)));
}
