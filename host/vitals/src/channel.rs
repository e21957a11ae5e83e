//! In-process channel monitoring: saturation of an application's tokio mpsc channels.
//!
//! An application registers its bounded senders by name. Each becomes a check that reports the
//! channel's fill level (from `capacity()` against `max_capacity()`) as a
//! [`Pressure::ChannelSaturation`] signal, so the backpressure engine can close admission before
//! the channel overflows. Overflow events (a `try_send` that found the channel full) are counted
//! through [`ChannelProbe::try_send`] or [`ChannelProbe::record_overflow`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::check::{Check, CheckKind, Outcome, Pressure};

/// Reads the fill level of one registered channel without keeping it alive.
trait Gauge: Send + Sync {
    /// (free slots, capacity), or `None` once every sender is gone.
    fn levels(&self) -> Option<(usize, usize)>;
}

impl<T: Send + 'static> Gauge for mpsc::WeakSender<T> {
    fn levels(&self) -> Option<(usize, usize)> {
        self.upgrade().map(|s| (s.capacity(), s.max_capacity()))
    }
}

/// A registered channel: hand it to the code that sends, to count overflows.
#[derive(Clone)]
pub struct ChannelProbe {
    name: Arc<str>,
    overflows: Arc<AtomicU64>,
}

impl std::fmt::Debug for ChannelProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelProbe")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ChannelProbe {
    /// The channel's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Count one overflow event (a message that could not be queued because the channel was full).
    pub fn record_overflow(&self) {
        self.overflows.fetch_add(1, Ordering::Relaxed);
    }

    /// Overflow events so far.
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// `sender.try_send(msg)`, counting an overflow when the channel is full.
    pub fn try_send<T>(
        &self,
        sender: &mpsc::Sender<T>,
        msg: T,
    ) -> Result<(), mpsc::error::TrySendError<T>> {
        let r = sender.try_send(msg);
        if matches!(r, Err(mpsc::error::TrySendError::Full(_))) {
            self.record_overflow();
        }
        r
    }
}

/// The check for one registered channel.
pub(crate) struct ChannelCheck {
    gauge: Box<dyn Gauge>,
    probe: ChannelProbe,
}

impl ChannelCheck {
    /// A check watching `sender`'s channel. It holds only a weak reference, so the channel closes
    /// normally when the application drops its senders (the check then fails: "channel closed").
    pub(crate) fn new<T: Send + 'static>(
        name: &str,
        sender: &mpsc::Sender<T>,
    ) -> (Self, ChannelProbe) {
        let probe = ChannelProbe {
            name: name.into(),
            overflows: Arc::new(AtomicU64::new(0)),
        };
        let check = ChannelCheck {
            gauge: Box::new(sender.downgrade()),
            probe: probe.clone(),
        };
        (check, probe)
    }
}

/// Fill level in percent of a channel with `free` of `capacity` slots free.
pub(crate) fn saturation_percent(free: usize, capacity: usize) -> f64 {
    if capacity == 0 {
        return 100.0;
    }
    let used = capacity.saturating_sub(free);
    used as f64 * 100.0 / capacity as f64
}

#[async_trait]
impl Check for ChannelCheck {
    fn kind(&self) -> CheckKind {
        CheckKind {
            component_type: "component",
            measurement: "saturation",
        }
    }

    async fn run(&self) -> Outcome {
        let Some((free, capacity)) = self.gauge.levels() else {
            return Outcome::fail("channel closed: every sender was dropped");
        };
        let percent = saturation_percent(free, capacity);
        Outcome::pass(format!(
            "{} of {capacity} slots in use ({percent:.1}%)",
            capacity - free.min(capacity)
        ))
        .observed(percent, "%")
        .detail("capacity", capacity)
        .detail("in_use", capacity - free.min(capacity))
        .detail("overflow_events", self.probe.overflows())
        .pressure(Pressure::ChannelSaturation { percent })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn saturation_follows_the_fill_level() {
        let (tx, _rx) = mpsc::channel::<u32>(10);
        let (check, _) = ChannelCheck::new("jobs", &tx);
        for i in 0..8 {
            tx.send(i).await.unwrap();
        }
        let o = check.run().await;
        assert_eq!(
            o.pressure,
            Some(Pressure::ChannelSaturation { percent: 80.0 })
        );
        assert_eq!(o.observed.unwrap().value, 80.0);
    }

    #[tokio::test]
    async fn overflow_events_are_counted_by_the_probe() {
        let (tx, _rx) = mpsc::channel::<u32>(1);
        let (check, probe) = ChannelCheck::new("jobs", &tx);
        probe.try_send(&tx, 1).unwrap();
        assert!(probe.try_send(&tx, 2).is_err());
        assert_eq!(probe.overflows(), 1);
        assert_eq!(
            check.run().await.details["overflow_events"],
            serde_json::json!(1)
        );
    }

    #[tokio::test]
    async fn channel_whose_senders_are_gone_fails() {
        let (tx, _rx) = mpsc::channel::<u32>(4);
        let (check, _) = ChannelCheck::new("jobs", &tx);
        drop(tx);
        let o = check.run().await;
        assert_eq!(o.status, crate::Status::Fail);
        assert!(o.output.contains("closed"));
    }

    #[test]
    fn saturation_of_an_empty_and_a_full_channel() {
        assert_eq!(saturation_percent(10, 10), 0.0);
        assert_eq!(saturation_percent(0, 10), 100.0);
    }
}
