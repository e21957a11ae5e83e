//! Watching plugin files: filesystem events (the `notify` crate) wake the supervisor after a
//! quiet period, and a periodic rescan catches whatever events were missed (network
//! filesystems, overflowing event queues).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::PluginError;
use crate::supervision::supervisor::PluginSupervisor;

/// When the watcher looks at the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// Quiet time after the last event before a pass: a burst of writes becomes one reload.
    pub debounce: Duration,
    /// Longest wait for a quiet moment: a file rewritten more often than `debounce` still gets
    /// a pass this long after the first event of the burst, so its newest version goes live.
    pub max_delay: Duration,
    /// A full pass this often even without events.
    pub rescan: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            debounce: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            rescan: Duration::from_secs(30),
        }
    }
}

/// A running watcher; dropping it stops watching (the task ends with `shutdown`).
pub struct PluginWatcher {
    watcher: notify::RecommendedWatcher,
    watched: Vec<PathBuf>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PluginWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginWatcher")
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

impl PluginWatcher {
    /// Watch the supervisor's directories and reconcile on every change until `shutdown`.
    /// Does one pass right away.
    pub fn start(
        supervisor: Arc<PluginSupervisor>,
        config: WatchConfig,
        shutdown: CancellationToken,
    ) -> Result<PluginWatcher, PluginError> {
        let (tx, rx) = mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Access events (reads, including our own) change nothing.
            let relevant = match &event {
                Ok(e) => !matches!(e.kind, notify::EventKind::Access(_)),
                Err(_) => true,
            };
            if relevant {
                let _ = tx.send(());
            }
        })
        .map_err(|e| PluginError::Runtime(format!("cannot watch plugin files: {e}")))?;
        let mut this = PluginWatcher {
            watcher,
            watched: Vec::new(),
            task: tokio::spawn(std::future::pending()),
        };
        this.watch(&supervisor.watched_dirs());
        this.task = tokio::spawn(run(supervisor, config, rx, shutdown));
        Ok(this)
    }

    /// Watch these directories (in addition to those already watched).
    pub fn watch(&mut self, dirs: &[PathBuf]) {
        for dir in dirs {
            if self.watched.contains(dir) {
                continue;
            }
            match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched.push(dir.clone()),
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    "cannot watch plugin directory ({e}); changes are picked up by the periodic rescan"
                ),
            }
        }
    }

    /// The directories watched.
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    supervisor: Arc<PluginSupervisor>,
    config: WatchConfig,
    mut events: mpsc::UnboundedReceiver<()>,
    shutdown: CancellationToken,
) {
    let mut retry_at = supervisor.reconcile().await.retry_at;
    loop {
        let next_pass = retry_at.unwrap_or_else(|| Instant::now() + config.rescan);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => {
                if event.is_none() {
                    return;
                }
                // Wait for a quiet moment, at most `max_delay`: one pass per burst of writes.
                let latest = Instant::now() + config.max_delay;
                loop {
                    let quiet = (Instant::now() + config.debounce).min(latest);
                    match tokio::time::timeout_at(quiet, events.recv()).await {
                        Ok(Some(())) if Instant::now() >= latest => break,
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_quiet) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(next_pass) => {}
        }
        retry_at = supervisor.reconcile().await.retry_at;
    }
}
