//! The real `vitals serve` as a child process for the fleet benchmark: a generated config and
//! plugin directory, CPU and memory read from /proc, check results from the HTTP API, and wrk.
//! Everything is measured from outside the daemon.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vitals_test_support::http::{free_port, request};

/// `count` plugins `{prefix}-{i}.wasm`, each with `manifest` as its `.toml`; the bytes of
/// plugin `i` are `bytes(i)` (copies of one component, or distinct ones).
pub fn add_plugins(
    dir: &Path,
    prefix: &str,
    count: usize,
    manifest: &str,
    bytes: impl Fn(usize) -> Vec<u8>,
) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let name = format!("{prefix}-{i:04}");
        std::fs::write(dir.join(format!("{name}.toml")), manifest).unwrap();
        std::fs::write(dir.join(format!("{name}.wasm")), bytes(i)).unwrap();
    }
}

/// The daemon binary: `VITALS_BENCH_BIN` if set (a copy that a build in a shared target dir
/// cannot replace mid-run), else the one cargo built with this bench.
pub fn binary() -> PathBuf {
    std::env::var_os("VITALS_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_vitals")),
        PathBuf::from,
    )
}

/// A running `vitals serve`, killed (SIGKILL, no drain) when dropped.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    /// Just before `exec`.
    pub started: Instant,
    pub log: PathBuf,
}

impl Daemon {
    /// Start the daemon on plugin directory `plugins` with data dir `data`; `extra` is appended
    /// to the `[plugins]` table of its config (e.g. `max_instances = 1100`).
    pub fn start(plugins: &Path, data: &Path, extra: &str) -> Daemon {
        let root = plugins.parent().unwrap();
        let tag = plugins.file_name().unwrap().to_string_lossy();
        let config = root.join(format!("{tag}.vitals.toml"));
        std::fs::write(
            &config,
            format!(
                "[service]\nid = \"fleet-bench\"\ndata_dir = {:?}\n\n[plugins]\ndir = {:?}\n{extra}\n",
                data.display().to_string(),
                plugins.display().to_string()
            ),
        )
        .unwrap();
        let log = root.join(format!("{tag}.log"));
        let addr = free_port();
        let started = Instant::now();
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            addr,
            started,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time from `exec` to the first answer of `/health/ready?verbose` that lists `n` checks,
    /// each with a result (polled every 5 ms). Panics after `within`, naming what was missing.
    pub fn wait_all_results(&mut self, n: usize, within: Duration) -> Duration {
        match self.wait_results(n, within) {
            Ok(took) => took,
            Err(last) => panic!(
                "after {within:?}: (checks listed, without a result) = {last:?}, wanted ({n}, 0); \
                 see {}",
                self.log.display()
            ),
        }
    }

    /// Like [`Daemon::wait_all_results`], but after `within` it returns the last (checks listed,
    /// without a result) instead of panicking.
    pub fn wait_results(
        &mut self,
        n: usize,
        within: Duration,
    ) -> Result<Duration, Option<(usize, usize)>> {
        let mut last = None;
        while self.started.elapsed() < within {
            if let Some(counts) = result_counts(self.addr) {
                if counts.0 == n && counts.1 == 0 {
                    return Ok(self.started.elapsed());
                }
                last = Some(counts);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited ({status}); see {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(last)
    }

    /// Memory from `/proc/PID/status`.
    pub fn mem(&self) -> Mem {
        mem(self.pid())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (checks listed, checks without a result yet) from `/health/ready?verbose` (no token is
/// configured, so the details are open); `None` while the daemon does not answer.
pub fn result_counts(addr: SocketAddr) -> Option<(usize, usize)> {
    let (_, _, body) = request(addr, "GET", "/health/ready?verbose", None)?;
    let checks: Vec<&str> = body.lines().filter(|l| l.starts_with('[')).collect();
    let pending = checks
        .iter()
        .filter(|l| l.ends_with(": no result yet"))
        .count();
    Some((checks.len(), pending))
}

/// The checks listed as not serving (`[-]name ...` lines of `/health/ready?verbose`).
pub fn not_serving(addr: SocketAddr) -> Vec<String> {
    let body =
        request(addr, "GET", "/health/ready?verbose", None).map_or_else(String::new, |r| r.2);
    body.lines()
        .filter(|l| l.starts_with("[-]"))
        .map(str::to_owned)
        .collect()
}

/// The `/health/status` document.
pub fn status(addr: SocketAddr) -> serde_json::Value {
    let (_, _, body) = request(addr, "GET", "/health/status", None).expect("/health/status");
    serde_json::from_str(&body).expect("health+json")
}

/// The output of the first transition of check `name` to `fail` (its history in
/// `/health/status`): why it first failed.
pub fn first_failure(addr: SocketAddr, name: &str) -> Option<String> {
    let doc = status(addr);
    let check = doc["checks"]
        .as_object()?
        .values()
        .find(|v| v[0]["componentId"] == name)?;
    check[0]["history"]
        .as_array()?
        .iter()
        .find(|t| t["to"] == "fail")
        .and_then(|t| Some(t["output"].as_str()?.to_owned()))
}

/// Each check's `runs`, from `/health/status`.
pub fn runs(addr: SocketAddr) -> HashMap<String, u64> {
    let doc = status(addr);
    doc["checks"]
        .as_object()
        .expect("checks")
        .values()
        .filter_map(|v| {
            let c = &v[0];
            Some((c["componentId"].as_str()?.to_owned(), c["runs"].as_u64()?))
        })
        .collect()
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
    pub hwm: u64,
}

pub fn mem(pid: u32) -> Mem {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss: kib("VmRSS:"),
        anon: kib("RssAnon:"),
        file: kib("RssFile:"),
        hwm: kib("VmHWM:"),
    }
}

/// Where a process's resident memory is, in KiB, from `/proc/PID/smaps`: mappings grouped by
/// what they are, largest first.
pub fn rss_by_mapping(pid: u32) -> Vec<(String, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut groups: HashMap<String, u64> = HashMap::new();
    let mut current: Option<(String, u64)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        {
            let path = fields.nth(4).unwrap_or("");
            let size = end.saturating_sub(start);
            let group = match path {
                p if p.ends_with(".cwasm") => "compiled plugins (.cwasm, file-backed)".to_owned(),
                "" if size >= 1 << 30 => {
                    "wasmtime pool slots (anonymous, reserved ≥ 1 GiB each)".to_owned()
                }
                "" => "heap, stacks, other anonymous".to_owned(),
                p if p.starts_with('[') => p.to_owned(),
                p if p.contains("vitals") => "the vitals binary".to_owned(),
                _ => "shared libraries and other files".to_owned(),
            };
            current = Some((group, 0));
        } else if first == "Rss:"
            && let Some((group, _)) = &current
        {
            let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *groups.entry(group.clone()).or_default() += kib;
        }
    }
    let mut out: Vec<_> = groups.into_iter().filter(|(_, k)| *k > 0).collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.1));
    out
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces: the first
    // one is field 3 (state), so utime (14) and stime (15) are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum()
}

/// Busy and total ticks of the whole machine (all cores), from `/proc/stat`.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

pub fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What `wrk --latency` reported.
#[derive(Debug, Clone, Default)]
pub struct Wrk {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rps: f64,
    pub requests: u64,
    /// Non-2xx answers and socket errors, as wrk words them (empty: none).
    pub problems: String,
    /// wrk's own latency lines (thread stats and distribution), as printed.
    pub latency: String,
}

/// Exit with a one-line message unless `wrk` can be run.
pub fn require_wrk() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("fleet bench: `wrk` is not installed; install it with `apt-get install wrk`");
        std::process::exit(2);
    }
}

/// `wrk -t1 -c{conns} -d{secs}s --latency http://addr{path}`.
pub fn wrk(addr: SocketAddr, path: &str, conns: usize, secs: u64) -> Wrk {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let ms = |v: Option<&str>| {
        let v = v.unwrap_or_else(|| panic!("wrk printed no latency distribution:\n{text}"));
        let (number, factor) = if let Some(n) = v.strip_suffix("us") {
            (n, 1e-3)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1e3)
        } else {
            (v, 1.0)
        };
        number.parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    let problems: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Non-2xx") || l.starts_with("Socket errors"))
        .collect();
    Wrk {
        p50_ms: ms(value("50%")),
        p99_ms: ms(value("99%")),
        rps: value("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        requests: text
            .lines()
            .find_map(|l| l.trim().split_once(" requests in "))
            .and_then(|(n, _)| n.trim().parse().ok())
            .unwrap_or(0),
        problems: problems.join("; "),
        latency: text
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("Latency") || l.trim().ends_with('s') && l.contains('%')
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// `perf record -g -p PID -- sleep SECS`, then the top of `perf report --stdio --no-children`.
pub fn perf_profile(pid: u32, secs: u64, out: &Path) -> Result<String, String> {
    let record = Command::new("perf")
        .args(["record", "-g", "-o"])
        .arg(out)
        .args(["-p", &pid.to_string(), "--", "sleep", &secs.to_string()])
        .output()
        .map_err(|e| {
            format!("perf not available ({e}); install it with `apt-get install linux-perf`")
        })?;
    if !record.status.success() {
        return Err(format!(
            "perf record failed: {}",
            String::from_utf8_lossy(&record.stderr).trim()
        ));
    }
    let report = |flat: bool| -> Result<String, String> {
        let mut cmd = Command::new("perf");
        cmd.args(["report", "--stdio", "--no-children"]);
        if flat {
            cmd.args(["-g", "none", "--percent-limit", "0.5"]);
        }
        let o = cmd.arg("-i").arg(out).output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&o.stdout);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !flat || !l.starts_with('#'))
            .collect();
        Ok(lines[..lines.len().min(60)].join("\n"))
    };
    Ok(format!(
        "{}\n\n-- flat (-g none), symbols over 0.5 %:\n{}",
        report(false)?,
        report(true)?
    ))
}
