//! The plugin directory as a mounted Kubernetes ConfigMap: every visible file a symlink through
//! `..data`, updated by the kubelet's atomic swap (support/configmap.rs), under a real
//! `vitals serve`. New versions go live within moments (the periodic rescan is set to an hour:
//! file events do it), a dropped file removes its check, and no mix of two versions is ever
//! loaded: readiness never blips, nothing is rejected, every loaded sha256 is one that was
//! published, and each plugin is loaded exactly once per version.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::{guests, probe, wait};

use crate::support::configmap::ConfigMapVolume;
use crate::support::process::serve_config;

const TOKEN: &str = "configmap-token";

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `GET /plugins`, by check name.
fn plugins(addr: SocketAddr) -> BTreeMap<String, serde_json::Value> {
    let (code, _, body) = request(addr, "GET", "/plugins", Some(TOKEN)).unwrap();
    assert_eq!(code, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    list.into_iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// One plugin version: its `.wasm` and its `.toml`, whose interval tells the versions apart.
struct Version {
    wasm: Vec<u8>,
    toml: String,
}

fn version(guest: &str, nonce: &str, interval_ms: u32) -> Version {
    Version {
        wasm: guests::variant(guest, nonce, 0),
        toml: format!("interval = \"{interval_ms}ms\"\ncritical = true\n"),
    }
}

fn payload(plugins: &[(&str, &Version)]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for (name, v) in plugins {
        files.insert(format!("{name}.wasm"), v.wasm.clone());
        files.insert(format!("{name}.toml"), v.toml.clone().into_bytes());
    }
    files
}

/// Wait until `/plugins` satisfies `cond`: a load, which waits for a compile (the rescan is 1 h:
/// file events must do it).
fn wait_plugins(
    addr: SocketAddr,
    what: &str,
    cond: impl Fn(&BTreeMap<String, serde_json::Value>) -> bool,
) {
    wait::until(what, wait::COMPILE, || {
        let now = plugins(addr);
        if cond(&now) {
            Ok(())
        } else {
            Err(format!("{now:#?}"))
        }
    });
}

#[test]
fn a_configmap_plugin_volume_hot_reloads_through_the_kubelet_swap_without_half_states() {
    let dir = tempfile::tempdir().unwrap();
    let volume_dir = dir.path().join("plugins");
    std::fs::create_dir(&volume_dir).unwrap();
    let mut volume = ConfigMapVolume::new(&volume_dir);

    let alpha1 = version("versioned-a", "alpha-1", 110);
    let beta1 = version("versioned-a", "beta-1", 120);
    let alpha2 = version("versioned-b", "alpha-2", 130);
    let gamma2 = version("versioned-b", "gamma-2", 140);
    let alpha3 = version("versioned-a", "alpha-3", 150);
    // The only versions that may ever be loaded.
    let published: BTreeMap<String, String> = [&alpha1, &beta1, &alpha2, &gamma2, &alpha3]
        .iter()
        .map(|v| (sha256(&v.wasm), v.toml.clone()))
        .collect();

    // The pod starts with version 1 already projected, as the kubelet mounts it before start.
    volume.write(&payload(&[("alpha", &alpha1), ("beta", &beta1)]));
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
data_dir = "{data}"

[http]
token = "${{CONFIGMAP_TOKEN}}"

[evaluator]
startup_grace = "0s"
heartbeat = "200ms"

[plugins]
dir = "{plugins}"
debounce = "50ms"
rescan = "1h"
"#,
            data = dir.path().join("data").display(),
            plugins = volume_dir.display(),
        ),
    )
    .unwrap();
    let addr = free_port();
    let _daemon = serve_config(&config, addr, ("CONFIGMAP_TOKEN", TOKEN));
    // Readiness waits for the plugin checks' first runs, after their compiles.
    wait_for(addr, "/health/ready", 200, wait::COMPILE);
    wait_plugins(addr, "version 1 loaded", |p| {
        p.get("alpha")
            .is_some_and(|a| a["sha256"] == sha256(&alpha1.wasm))
            && p.get("beta")
                .is_some_and(|b| b["sha256"] == sha256(&beta1.wasm))
    });

    // From here on: readiness probed every 5 ms, /plugins sampled continuously.
    let probes = probe::ProbeLoop::start(addr, "/health/ready", 200, Duration::from_millis(5));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                seen.push(plugins(addr));
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        })
    };

    // Version 2: alpha upgraded, beta dropped, gamma added.
    let swapped = Instant::now();
    volume.write(&payload(&[("alpha", &alpha2), ("gamma", &gamma2)]));
    wait_plugins(addr, "version 2 live", |p| {
        p.get("alpha")
            .is_some_and(|a| a["sha256"] == sha256(&alpha2.wasm))
            && p.get("gamma")
                .is_some_and(|g| g["sha256"] == sha256(&gamma2.wasm))
            && !p.contains_key("beta")
    });
    let live_after = swapped.elapsed();
    // The check leaves with the evaluator's next publish, just after /plugins drops it.
    wait::until(
        "the dropped file's check is gone",
        wait::QUICK,
        || match request(addr, "GET", "/health/checks/beta", Some(TOKEN)).map(|r| r.0) {
            Some(404) => Ok(()),
            code => Err(format!("/health/checks/beta answers {code:?}")),
        },
    );

    // Version 3: alpha rolled back to v1 code, with settings of its own.
    volume.write(&payload(&[("alpha", &alpha3), ("gamma", &gamma2)]));
    wait_plugins(addr, "version 3 live", |p| {
        p.get("alpha")
            .is_some_and(|a| a["sha256"] == sha256(&alpha3.wasm))
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let seen = sampler.join().unwrap();
    let probed = probes.stop();

    println!(
        "version 2 live {live_after:?} after the swap; {} /plugins samples; {} readiness probes, {} failed",
        seen.len(),
        probed.sent,
        probed.failed
    );
    assert!(live_after < Duration::from_secs(2), "{live_after:?}");
    assert_eq!(probed.failed, 0, "readiness blipped: {:?}", probed.failures);
    let mut loaded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for sample in &seen {
        for (name, view) in sample {
            if view["state"] == "loading" {
                // A first version being compiled: nothing is loaded yet, so nothing half.
                assert!(view["loaded_at"].is_null(), "{view:#}");
                continue;
            }
            let sha = view["sha256"].as_str().unwrap();
            assert!(
                published.contains_key(sha),
                "{name} loaded {sha}, which was never published: {view:#}"
            );
            assert_eq!(view["rejections"], 0, "{name} rejected a file: {view:#}");
            assert!(view["rejected"].is_null(), "{view:#}");
            assert_eq!(view["state"], "running", "{view:#}");
            loaded
                .entry(name.clone())
                .or_default()
                .insert(sha.to_owned());
        }
    }
    // Exactly one load per published version: a mix of a new .wasm with an old .toml (or the
    // reverse) would have been a load of its own.
    let last = seen.last().unwrap();
    assert_eq!(last["alpha"]["loads"], 3, "{:#}", last["alpha"]);
    assert_eq!(last["gamma"]["loads"], 1, "{:#}", last["gamma"]);
    assert_eq!(
        loaded["alpha"].len(),
        3,
        "every alpha version was seen loaded: {loaded:?}"
    );
}
