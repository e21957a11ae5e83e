//! What a plugin file or a plugin result may cost the host, measured on a real daemon process:
//! a huge file is refused by its size without being read, and a result far over the output cap
//! is judged without being copied. Resident memory is read from /proc (VmRSS, and VmHWM after
//! resetting it through clear_refs).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use vitals_test_support::http::{free_port, request};
use vitals_test_support::{guests, http, wait};

use crate::support::process;
use crate::support::process::serve_config;

const MIB: u64 = 1 << 20;

/// A field of /proc/PID/status in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib * 1024
}

/// Reset the peak resident size, so VmHWM reports the peak from now on.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

/// Write `bytes` to `dir/name` as an installer should: a hidden temporary name, then a rename.
fn install(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A sparse file of `len` bytes installed as `dir/name`: no disk, and no memory unless read.
fn install_sparse(dir: &Path, name: &str, len: u64) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::File::create(&tmp).unwrap().set_len(len).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (_, _, body) = request(addr, "GET", path, None).unwrap_or_default();
    serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
}

/// The rejection reason `/plugins` shows for `name`, once there is one.
fn rejection(addr: SocketAddr, name: &str) -> Option<String> {
    let plugins = json(addr, "/plugins");
    let plugin = plugins
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?
        .clone();
    Some(plugin["rejected"]["reason"].as_str()?.to_owned())
}

/// How many times `check` has run, from /metrics.
fn runs(addr: SocketAddr, check: &str) -> u64 {
    let (_, _, body) = request(addr, "GET", "/metrics", None).unwrap_or_default();
    let prefix = format!("vitals_check_runs_total{{check=\"{check}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

struct Setup {
    _dir: tempfile::TempDir,
    plugins: std::path::PathBuf,
    addr: SocketAddr,
    daemon: process::Daemon,
}

/// A daemon watching an empty plugin directory, plus whatever `checks` the config adds.
fn start(checks: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\ndata_dir = {data:?}\n\n[evaluator]\nstartup_grace = \"0s\"\n\n\
             [plugins]\ndir = {plugins:?}\ncache_dir = {cache:?}\n\n{checks}",
            data = dir.path().join("data"),
            cache = guests::shared_cache_dir(),
        ),
    )
    .unwrap();
    let addr = free_port();
    let daemon = serve_config(&config, addr, ("RUST_LOG", "warn"));
    http::wait_for(addr, "/health/live", 200, wait::START);
    Setup {
        _dir: dir,
        plugins,
        addr,
        daemon,
    }
}

#[test]
fn a_huge_plugin_file_is_refused_by_its_size_without_being_read_and_checks_keep_their_pace() {
    let s = start("");
    let pid = s.daemon.0.id();
    let noop = std::fs::read(guests::component("noop")).unwrap();
    // A 200 ms check whose pace shows any stall, and a plugin that is about to be overwritten.
    install(&s.plugins, "pace.toml", b"interval = \"200ms\"\n");
    install(&s.plugins, "pace.wasm", &noop);
    install(&s.plugins, "victim.wasm", &noop);
    wait::until("both plugins run", wait::COMPILE, || {
        runs(s.addr, "pace") > 0 && runs(s.addr, "victim") > 0
    });
    std::thread::sleep(Duration::from_millis(500));
    let baseline = status_bytes(pid, "VmRSS");
    reset_peak(pid);
    let runs_before = runs(s.addr, "pace");
    let t0 = Instant::now();

    install_sparse(&s.plugins, "huge.wasm", 1 << 30);
    install_sparse(&s.plugins, "victim.wasm", 1 << 30);
    // Refused by their size, without being read: no compile to wait for.
    let huge = wait::until("huge.wasm is rejected", wait::QUICK, || {
        rejection(s.addr, "huge")
    });
    let victim = wait::until("the new victim.wasm is rejected", wait::QUICK, || {
        rejection(s.addr, "victim")
    });
    // Long enough that a stall of a second or more would show in the count.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(t0.elapsed()));
    let elapsed = t0.elapsed();
    let paced = runs(s.addr, "pace") - runs_before;
    let grew = status_bytes(pid, "VmHWM").saturating_sub(baseline);

    for reason in [&huge, &victim] {
        assert!(
            reason.contains("1073741824 bytes") && reason.contains("67108864 byte limit"),
            "the rejection names the size and the limit: {reason}"
        );
        assert!(!reason.contains('\n'), "one line: {reason}");
    }
    let (_, _, version) = request(s.addr, "GET", "/health/checks/victim", None).unwrap();
    assert!(
        version.contains("\"pass\""),
        "the loaded victim keeps running: {version}"
    );
    let expected = elapsed.as_secs_f64() / 0.2;
    println!(
        "peak RSS +{:.1} MiB over {:.1} MiB; pace check ran {paced} times in {elapsed:.2?} \
         (interval 200 ms: {expected:.0} expected)",
        grew as f64 / MIB as f64,
        baseline as f64 / MIB as f64
    );
    assert!(grew < 16 * MIB, "peak RSS grew by {} MiB", grew / MIB);
    assert!(
        paced as f64 >= expected * 0.6,
        "the 200 ms check ran {paced} times in {elapsed:?}: it stalled"
    );
}

/// Peak and settled resident memory around one burst of results from `manifest`, with the guest's
/// own peak linear memory (which lives in the daemon's address space) reported apart.
struct Burst {
    baseline: u64,
    host_extra: i64,
    guest_peak: u64,
    settled: u64,
    output: String,
}

fn burst(manifest: &str) -> Burst {
    let s = start("");
    let pid = s.daemon.0.id();
    let big = std::fs::read(guests::component("big-output")).unwrap();
    // First a small result, so that loading and compiling are done before measuring.
    install(
        &s.plugins,
        "big.toml",
        b"interval = \"1h\"\nmemory_limit = \"200MiB\"\n[config]\nbytes = \"10\"\n",
    );
    install(&s.plugins, "big.wasm", &big);
    wait::until("the small result is in", wait::COMPILE, || {
        runs(s.addr, "big") > 0
    });
    std::thread::sleep(Duration::from_millis(1500));
    let baseline = status_bytes(pid, "VmRSS");
    reset_peak(pid);

    // The same component (no compile) with settings that make it return a huge result.
    install(&s.plugins, "big.toml", manifest.as_bytes());
    let check = wait::until("the huge result is judged", wait::QUICK, || {
        let check = json(s.addr, "/health/checks/big");
        let output = check["output"].as_str()?;
        output.contains("output limit").then(|| check.clone())
    });
    let peak = status_bytes(pid, "VmHWM");
    let guest_peak = check["details"]["memory_peak_bytes"]
        .as_u64()
        .unwrap_or_else(|| {
            panic!("no memory_peak_bytes in {check}");
        });
    // Freed memory goes back to the OS: give it the 10 s the operator may wait.
    let t0 = Instant::now();
    let mut settled = status_bytes(pid, "VmRSS");
    while t0.elapsed() < Duration::from_secs(10) && settled as f64 > baseline as f64 * 1.2 {
        std::thread::sleep(Duration::from_millis(250));
        settled = status_bytes(pid, "VmRSS");
    }
    Burst {
        baseline,
        host_extra: peak as i64 - baseline as i64 - guest_peak as i64,
        guest_peak,
        settled,
        output: check["output"].as_str().unwrap_or_default().to_owned(),
    }
}

impl Burst {
    /// Under 16 MiB beyond the guest's own memory, and back within 20 % of baseline in 10 s.
    fn assert_bounded(&self) {
        assert!(
            self.host_extra < (16 * MIB) as i64,
            "the host allocated {} MiB beyond the guest's memory",
            self.host_extra / MIB as i64
        );
        assert!(
            self.settled as f64 <= self.baseline as f64 * 1.2,
            "RSS {} MiB did not return within 20 % of {} MiB in 10 s",
            self.settled / MIB,
            self.baseline / MIB
        );
    }
}

fn report(what: &str, b: &Burst) {
    println!(
        "{what}: baseline {:.1} MiB, guest peak {:.1} MiB, host beyond the guest {:+.1} MiB, \
         settled {:.1} MiB ({:+.0} % of baseline); {}",
        b.baseline as f64 / MIB as f64,
        b.guest_peak as f64 / MIB as f64,
        b.host_extra as f64 / MIB as f64,
        b.settled as f64 / MIB as f64,
        (b.settled as f64 / b.baseline as f64 - 1.0) * 100.0,
        b.output
    );
}

#[test]
fn a_64_mib_output_is_judged_without_being_copied_into_the_host() {
    let b = burst("interval = \"1h\"\nmemory_limit = \"200MiB\"\n[config]\nbytes = \"67108864\"\n");
    report("64 MiB output", &b);
    assert!(
        b.output
            .contains("output limit 4 KiB exceeded: output text is 67108864 bytes"),
        "the reason names the limit and the size: {}",
        b.output
    );
    assert!(b.guest_peak >= 64 * MIB, "the guest really built it");
    b.assert_bounded();
}

#[test]
fn a_million_details_are_judged_without_being_copied_into_the_host() {
    let b = burst(
        "interval = \"1h\"\nmemory_limit = \"200MiB\"\n[config]\nbytes = \"10\"\n\
         details = \"1000000\"\ndetail_bytes = \"1\"\n",
    );
    report("1,000,000 details", &b);
    assert!(
        b.output
            .contains("output limit 4 KiB exceeded: 1000000 details, at most 32 allowed"),
        "the reason names the limit and the count: {}",
        b.output
    );
    b.assert_bounded();
}
