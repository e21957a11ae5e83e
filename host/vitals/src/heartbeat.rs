//! Worker heartbeats: background workers prove they are alive by beating within a TTL.
//!
//! Each registered worker becomes a check that fails once the worker has been silent longer
//! than its TTL; the age of the last beat is the observed value. Beats come from a library call
//! ([`HeartbeatHandle::beat`]) or, for workers in other processes, from
//! `POST /health/heartbeat/{name}` (token-protected).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::check::{Check, CheckKind, Outcome};

#[derive(Debug)]
struct Beat {
    base: Instant,
    /// Milliseconds after `base` of the latest beat.
    last_ms: AtomicU64,
    /// The TTL in milliseconds; replaced in place when the worker is registered again.
    ttl_ms: AtomicU64,
}

impl Beat {
    fn beat(&self) {
        let ms = Instant::now()
            .saturating_duration_since(self.base)
            .as_millis() as u64;
        self.last_ms.store(ms, Ordering::Release);
    }

    fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Acquire))
    }

    fn age(&self) -> Duration {
        let now = Instant::now().saturating_duration_since(self.base);
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Acquire)))
    }
}

/// Lets one worker report that it is alive. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HeartbeatHandle {
    beat: Arc<Beat>,
}

impl HeartbeatHandle {
    /// Record a beat now.
    pub fn beat(&self) {
        self.beat.beat();
    }

    /// Time since the last beat (or since registration, before the first).
    pub fn age(&self) -> Duration {
        self.beat.age()
    }
}

/// All registered workers, by name.
#[derive(Debug, Clone, Default)]
pub struct Heartbeats {
    workers: Arc<RwLock<HashMap<String, Arc<Beat>>>>,
}

impl Heartbeats {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a worker with its TTL, returning its handle and its check. The registration
    /// itself counts as the first beat, so a worker has one TTL to start beating. Registering a
    /// name again replaces the TTL and keeps the last beat; handles already given out keep
    /// working.
    pub fn register(&self, name: &str, ttl: Duration) -> (HeartbeatHandle, HeartbeatCheck) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut workers = self.workers.write().unwrap_or_else(|e| e.into_inner());
        let beat = match workers.get(name) {
            Some(old) => {
                old.ttl_ms.store(ttl_ms, Ordering::Release);
                old.clone()
            }
            None => {
                let b = Arc::new(Beat {
                    base: Instant::now(),
                    last_ms: AtomicU64::new(0),
                    ttl_ms: AtomicU64::new(ttl_ms),
                });
                b.beat();
                workers.insert(name.to_owned(), b.clone());
                b
            }
        };
        (
            HeartbeatHandle { beat: beat.clone() },
            HeartbeatCheck { beat },
        )
    }

    /// Forget a worker (its check was removed); `POST /health/heartbeat/{name}` answers 404 again.
    pub fn unregister(&self, name: &str) {
        let mut workers = self.workers.write().unwrap_or_else(|e| e.into_inner());
        workers.remove(name);
    }

    /// Record a beat for a registered worker; `false` if no worker has that name.
    pub fn beat(&self, name: &str) -> bool {
        let workers = self.workers.read().unwrap_or_else(|e| e.into_inner());
        match workers.get(name) {
            Some(b) => {
                b.beat();
                true
            }
            None => false,
        }
    }
}

/// The check for one worker's heartbeat.
#[derive(Debug)]
pub struct HeartbeatCheck {
    beat: Arc<Beat>,
}

#[async_trait]
impl Check for HeartbeatCheck {
    fn kind(&self) -> CheckKind {
        CheckKind {
            component_type: "component",
            measurement: "heartbeatAge",
        }
    }

    async fn run(&self) -> Outcome {
        let age = self.beat.age();
        let ttl = self.beat.ttl();
        let shown = humantime::format_duration(Duration::from_millis(age.as_millis() as u64));
        let ttl_shown = humantime::format_duration(ttl);
        let outcome = if age > ttl {
            Outcome::fail(format!("silent for {shown}, past its TTL of {ttl_shown}"))
        } else {
            Outcome::pass(format!("last beat {shown} ago (TTL {ttl_shown})"))
        };
        outcome
            .observed(age.as_secs_f64(), "s")
            .detail("ttl_seconds", ttl.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Status;

    #[tokio::test(start_paused = true)]
    async fn worker_silent_past_its_ttl_fails_and_a_beat_revives_it() {
        let hb = Heartbeats::new();
        let (handle, check) = hb.register("mailer", Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(check.run().await.status, Status::Pass);
        tokio::time::advance(Duration::from_secs(11)).await;
        let o = check.run().await;
        assert_eq!(o.status, Status::Fail);
        assert!(o.output.contains("past its TTL of 30s"), "{}", o.output);
        assert!(o.observed.as_ref().is_some_and(|v| v.value >= 31.0));
        assert!(hb.beat("mailer"));
        assert_eq!(check.run().await.status, Status::Pass);
        assert!(handle.age() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn registering_again_changes_the_ttl_and_old_handles_keep_beating() {
        let hb = Heartbeats::new();
        let (old_handle, _) = hb.register("mailer", Duration::from_secs(30));
        let (_, check) = hb.register("mailer", Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(6)).await;
        let o = check.run().await;
        assert_eq!(o.status, Status::Fail, "the new 5s TTL applies");
        old_handle.beat();
        assert_eq!(check.run().await.status, Status::Pass);
        hb.unregister("mailer");
        assert!(!hb.beat("mailer"));
    }

    #[test]
    fn beating_an_unknown_worker_is_reported() {
        assert!(!Heartbeats::new().beat("nobody"));
    }
}
