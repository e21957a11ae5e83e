//! What every run of one plugin shares: its identity, grants, datasources and the rate-limited
//! log it writes to (lines over the budget are counted and reported once per interval).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::capabilities::grants::PluginGrants;
use crate::capabilities::http::rule::HttpRule;
use crate::runtime::bindings::vitals::check::host::Level;
use crate::runtime::output::truncate_text;
use crate::runtime::registry::PluginStats;
use vitals_sql::Datasources;

/// Longest log message kept, in bytes.
const LOG_MESSAGE_BYTES: usize = 1024;
/// Sustained log lines per second per plugin.
pub(crate) const LOG_RATE: f64 = 20.0;
/// Log lines a plugin may write in a burst.
pub(crate) const LOG_BURST: f64 = 50.0;

/// What every run of one plugin shares: its identity, grants and log budget.
pub(crate) struct PluginContext {
    /// The plugin's name (its check name once registered; its file stem while loading).
    pub(crate) name: String,
    /// The plugin's own version, from `describe()` (empty while describing).
    pub(crate) version: String,
    pub(crate) grants: PluginGrants,
    pub(crate) http_rules: Vec<HttpRule>,
    pub(crate) datasources: Arc<ArcSwap<Datasources>>,
    /// Where log counters go (a throwaway while loading).
    pub(crate) stats: Arc<PluginStats>,
    log: Mutex<LogBudget>,
}

/// The rate limit and the drops it has not reported yet.
#[derive(Debug)]
struct LogBudget {
    bucket: TokenBucket,
    drops: DropReport,
}

impl PluginContext {
    /// `log_report_every`: the least time between two "dropped N log lines" warnings (the
    /// check's interval, so a flooding check adds one line per interval to the log, not one per
    /// run or per second).
    pub(crate) fn new(
        name: String,
        version: String,
        grants: PluginGrants,
        http_rules: Vec<HttpRule>,
        datasources: Arc<ArcSwap<Datasources>>,
        stats: Arc<PluginStats>,
        log_report_every: Duration,
    ) -> Self {
        PluginContext {
            name,
            version,
            grants,
            http_rules,
            datasources,
            stats,
            log: Mutex::new(LogBudget {
                bucket: TokenBucket::new(Instant::now()),
                drops: DropReport::new(log_report_every),
            }),
        }
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, LogBudget> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Change the least time between two drop reports.
    pub(crate) fn set_log_report_every(&self, every: Duration) {
        self.budget().drops.every = every;
    }

    /// Log one line from the guest, or count it as dropped (reported after the run).
    pub(crate) fn log(&self, level: Level, message: &str) {
        let allowed = {
            let mut budget = self.budget();
            let allowed = budget.bucket.take(Instant::now());
            if !allowed {
                budget.drops.pending += 1;
            }
            allowed
        };
        if !allowed {
            self.stats.logs_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.stats.logs_emitted.fetch_add(1, Ordering::Relaxed);
        let message = truncate_text(message, LOG_MESSAGE_BYTES);
        let (plugin, version) = (self.name.as_str(), self.version.as_str());
        match level {
            Level::Trace => tracing::trace!(plugin, version, "{message}"),
            Level::Debug => tracing::debug!(plugin, version, "{message}"),
            Level::Info => tracing::info!(plugin, version, "{message}"),
            Level::Warn => tracing::warn!(plugin, version, "{message}"),
            Level::Error => tracing::error!(plugin, version, "{message}"),
        }
    }

    /// Report the lines dropped since the last report, if one is due (called after every run).
    pub(crate) fn report_dropped_logs(&self) {
        let due = self.budget().drops.due(Instant::now());
        if let Some(dropped) = due {
            self.report_dropped(dropped);
        }
    }

    fn report_dropped(&self, dropped: u64) {
        tracing::warn!(
            plugin = self.name.as_str(),
            version = self.version.as_str(),
            dropped,
            "dropped {dropped} log lines past the rate limit ({LOG_RATE} lines/s, bursts of \
             {LOG_BURST})"
        );
    }
}

impl Drop for PluginContext {
    /// Drops still waiting for their report when this version is retired (replaced, removed,
    /// shut down) are reported now rather than lost.
    fn drop(&mut self) {
        let pending = std::mem::take(&mut self.budget().drops.pending);
        if pending > 0 {
            self.report_dropped(pending);
        }
    }
}

/// Token bucket: `LOG_BURST` lines at once, refilled at `LOG_RATE` lines per second.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(now: Instant) -> Self {
        TokenBucket {
            tokens: LOG_BURST,
            refilled: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * LOG_RATE).min(LOG_BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Dropped lines not reported yet: summed into one report per `every` at most.
#[derive(Debug)]
struct DropReport {
    pending: u64,
    last: Option<Instant>,
    every: Duration,
}

impl DropReport {
    fn new(every: Duration) -> Self {
        DropReport {
            pending: 0,
            last: None,
            every,
        }
    }

    /// The drops to report now: all pending ones, unless there are none or the last report
    /// was less than `every` ago (the first report is due at once).
    fn due(&mut self, now: Instant) -> Option<u64> {
        if self.pending == 0 {
            return None;
        }
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_drops_until_refilled() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0);
        let allowed = (0..80).filter(|_| b.take(t0)).count();
        assert_eq!(allowed, 50);
        // 100 ms refills two tokens at 20 lines/s.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.take(t1));
        assert!(b.take(t1));
        assert!(!b.take(t1));
    }

    #[test]
    fn drops_are_reported_at_once_then_summed_into_one_report_per_interval() {
        let every = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut r = DropReport::new(every);
        assert_eq!(r.due(t0), None, "nothing dropped, nothing to report");
        r.pending = 30;
        assert_eq!(r.due(t0), Some(30), "the first report is due at once");
        // Runs every second, each dropping one line: no report until the interval has passed,
        // then one report with their sum.
        for s in 1..10 {
            r.pending += 1;
            assert_eq!(r.due(t0 + Duration::from_secs(s)), None, "after {s} s");
        }
        r.pending += 1;
        assert_eq!(r.due(t0 + every), Some(10));
        assert_eq!(r.due(t0 + every + every), None, "nothing new");
        r.pending += 1;
        assert_eq!(r.due(t0 + every + every), Some(1));
    }

    #[test]
    fn a_shorter_interval_allows_reports_more_often() {
        let t0 = Instant::now();
        let mut r = DropReport::new(Duration::from_secs(10));
        r.pending = 1;
        assert_eq!(r.due(t0), Some(1));
        r.every = Duration::from_secs(1);
        r.pending = 2;
        assert_eq!(r.due(t0 + Duration::from_secs(1)), Some(2));
    }
}
