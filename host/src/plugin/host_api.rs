//! The `host` interface: rate-limited logging tagged with the plugin, and its config values.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;

use super::bindings::vitals::check::host::{self, Level};
use super::bindings::vitals::check::types;
use super::grants::{HttpRule, PluginGrants};
use super::output::truncate_text;
use super::registry::PluginStats;
use super::sandbox::PluginState;
use crate::datasource::Datasources;

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
    log: Mutex<TokenBucket>,
}

impl PluginContext {
    pub(crate) fn new(
        name: String,
        version: String,
        grants: PluginGrants,
        http_rules: Vec<HttpRule>,
        datasources: Arc<ArcSwap<Datasources>>,
        stats: Arc<PluginStats>,
    ) -> Self {
        PluginContext {
            name,
            version,
            grants,
            http_rules,
            datasources,
            stats,
            log: Mutex::new(TokenBucket::new(Instant::now())),
        }
    }

    /// Log one line from the guest, or count it as dropped.
    pub(crate) fn log(&self, level: Level, message: &str) {
        let now = Instant::now();
        let (allowed, report) = {
            let mut bucket = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            let allowed = bucket.take(now);
            (allowed, bucket.report_due(now))
        };
        if let Some(dropped) = report {
            self.report_dropped(dropped);
        }
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

    /// Report lines dropped since the last report (called at the end of every run).
    pub(crate) fn flush_dropped_logs(&self) {
        let dropped = {
            let mut bucket = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            bucket.take_unreported(Instant::now())
        };
        if dropped > 0 {
            self.report_dropped(dropped);
        }
    }

    fn report_dropped(&self, dropped: u64) {
        tracing::warn!(
            plugin = self.name.as_str(),
            version = self.version.as_str(),
            "dropped {dropped} log lines"
        );
    }
}

/// Token bucket with a count of drops not yet reported.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
    unreported: u64,
    reported: Instant,
}

impl TokenBucket {
    fn new(now: Instant) -> Self {
        TokenBucket {
            tokens: LOG_BURST,
            refilled: now,
            unreported: 0,
            reported: now,
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
            self.unreported += 1;
            false
        }
    }

    /// Drops to report now, at most once per second.
    fn report_due(&mut self, now: Instant) -> Option<u64> {
        if self.unreported > 0 && now.saturating_duration_since(self.reported).as_secs() >= 1 {
            Some(self.take_unreported(now))
        } else {
            None
        }
    }

    fn take_unreported(&mut self, now: Instant) -> u64 {
        self.reported = now;
        std::mem::take(&mut self.unreported)
    }
}

impl types::Host for PluginState {}

impl host::Host for PluginState {
    async fn log(&mut self, level: Level, message: String) {
        self.plugin.log(level, &message);
    }

    async fn config_get(&mut self, key: String) -> Option<String> {
        self.plugin.grants.config.get(&key).cloned()
    }

    async fn config_keys(&mut self) -> Vec<String> {
        self.plugin.grants.config.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_drops_until_refilled() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0);
        let allowed = (0..80).filter(|_| b.take(t0)).count();
        assert_eq!(allowed, 50);
        assert_eq!(b.unreported, 30);
        // 100 ms refills two tokens at 20 lines/s.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.take(t1));
        assert!(b.take(t1));
        assert!(!b.take(t1));
    }

    #[test]
    fn drops_are_reported_at_most_once_per_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0);
        for _ in 0..60 {
            b.take(t0);
        }
        assert_eq!(b.report_due(t0 + Duration::from_millis(500)), None);
        assert_eq!(b.report_due(t0 + Duration::from_secs(1)), Some(10));
        assert_eq!(b.report_due(t0 + Duration::from_secs(3)), None);
    }
}
