//! A probe driver: a thread that sends `GET path` to a live server in a loop (a fresh connection
//! each time, like the kubelet) and records every answer's status and latency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the probes saw.
#[derive(Clone, Default)]
pub struct ProbeStats {
    /// Probes sent.
    pub sent: usize,
    /// Probes that got no answer, or an answer with another status than expected.
    pub failed: usize,
    /// The slowest answer.
    pub max: Duration,
    /// The status codes of the failed probes (or 0 for no answer), first 20.
    pub failures: Vec<u16>,
    /// Every answer's latency, in order.
    latencies: Vec<Duration>,
}

impl ProbeStats {
    /// The latency that `q` (0..=1) of the answers were at or under.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).copied().unwrap_or_default()
    }

    /// The 99th percentile latency. On a busy 2-core machine a scheduler hiccup can delay any
    /// one answer; a probe stuck behind the daemon's own work (a compile of hundreds of
    /// milliseconds or more) shows in the tail, many answers long.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }
}

/// No probe failed, 99 % answered within `p99`, and none waited a second or more (a probe
/// queued behind a compile or a guest's run would).
pub fn assert_fast(stats: &ProbeStats, p99: Duration, during: &str) {
    assert_eq!(stats.failed, 0, "failed probes {during}: {stats:?}");
    assert!(
        stats.p99() < p99,
        "probes slower than {p99:?} at p99 {during}: {stats:?}"
    );
    assert!(
        stats.max < Duration::from_secs(1),
        "a probe waited {:?} {during}: {stats:?}",
        stats.max
    );
}

impl std::fmt::Debug for ProbeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeStats")
            .field("sent", &self.sent)
            .field("failed", &self.failed)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.p99())
            .field("max", &self.max)
            .field("failures", &self.failures)
            .finish()
    }
}

/// Probes running in the background until [`ProbeLoop::stop`].
pub struct ProbeLoop {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ProbeStats>,
}

/// One GET with a fresh connection; the status code, or `None` without an answer within 2 s.
pub fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let head = String::from_utf8_lossy(&raw);
    head.split(' ').nth(1)?.parse().ok()
}

impl ProbeLoop {
    /// Probe `path` on `addr` every `every`, expecting status `expect`.
    pub fn start(addr: SocketAddr, path: &str, expect: u16, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = path.to_owned();
        let thread = std::thread::spawn(move || {
            let mut stats = ProbeStats::default();
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                let code = get(addr, &path);
                let took = started.elapsed();
                stats.sent += 1;
                stats.max = stats.max.max(took);
                stats.latencies.push(took);
                if code != Some(expect) {
                    stats.failed += 1;
                    if stats.failures.len() < 20 {
                        stats.failures.push(code.unwrap_or(0));
                    }
                }
                std::thread::sleep(every);
            }
            stats
        });
        ProbeLoop { stop, thread }
    }

    /// Stop probing and return what was seen.
    pub fn stop(self) -> ProbeStats {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}
