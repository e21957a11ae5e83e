//! Run permits: at most `max_concurrency` checks run at once, and every first run goes ahead of
//! every repeat run.
//!
//! With a plain FIFO semaphore, checks already running re-queue after each interval beside
//! checks that were just loaded, so when a thousand plugins load at once the late ones wait
//! behind repeat runs of the early ones. Two queues fix that: a free slot goes to the oldest
//! waiting first run, and to a repeat run only when no first run waits. Within a queue the
//! order is FIFO.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Which queue a run waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// The check has not run yet: served first.
    First,
    /// Every later run.
    Repeat,
}

#[derive(Debug, Default)]
struct Queues {
    free: usize,
    closed: bool,
    first: VecDeque<oneshot::Sender<()>>,
    repeat: VecDeque<oneshot::Sender<()>>,
}

/// The pool of run slots shared by every check's worker.
#[derive(Debug)]
pub(crate) struct RunPermits {
    queues: Mutex<Queues>,
}

/// One run slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct RunPermit {
    pool: Arc<RunPermits>,
}

impl Drop for RunPermit {
    fn drop(&mut self) {
        self.pool.release();
    }
}

/// A waiter whose future was dropped after a slot was handed to it gives the slot back.
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    pool: Arc<RunPermits>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.pool.release();
            }
        }
    }
}

impl RunPermits {
    /// A pool of `slots` (at least one).
    pub(crate) fn new(slots: usize) -> Arc<Self> {
        Arc::new(RunPermits {
            queues: Mutex::new(Queues {
                free: slots.max(1),
                ..Queues::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        // The queues hold no invariant a panic could break half-way.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait for a slot in `turn`'s queue. `None` once the pool is closed.
    pub(crate) async fn acquire(self: &Arc<Self>, turn: Turn) -> Option<RunPermit> {
        let rx = {
            let mut q = self.lock();
            if q.closed {
                return None;
            }
            // Free slots exist only while nobody waits, so taking one jumps no queue.
            if q.free > 0 {
                q.free -= 1;
                return Some(RunPermit { pool: self.clone() });
            }
            let (tx, rx) = oneshot::channel();
            match turn {
                Turn::First => q.first.push_back(tx),
                Turn::Repeat => q.repeat.push_back(tx),
            }
            rx
        };
        let mut waiting = Waiting {
            rx: Some(rx),
            pool: self.clone(),
        };
        let handed = match waiting.rx.as_mut() {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        waiting.rx = None;
        handed.then(|| RunPermit { pool: self.clone() })
    }

    /// Give a slot to the next waiter: first runs before repeat runs.
    fn release(&self) {
        let mut q = self.lock();
        while let Some(tx) = q.first.pop_front().or_else(|| q.repeat.pop_front()) {
            if tx.send(()).is_ok() {
                return;
            }
            // That waiter is gone (its check was removed): try the next one.
        }
        q.free += 1;
    }

    /// Refuse every waiter and every later request.
    pub(crate) fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        q.first.clear();
        q.repeat.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_slot_goes_to_a_first_run_before_earlier_repeat_runs() {
        let pool = RunPermits::new(1);
        let held = pool.acquire(Turn::Repeat).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, turn) in [
            ("repeat-1", Turn::Repeat),
            ("repeat-2", Turn::Repeat),
            ("first-1", Turn::First),
            ("first-2", Turn::First),
        ] {
            let (pool, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = pool.acquire(turn).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }));
            settle().await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["first-1", "first-2", "repeat-1", "repeat-2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_does_not_keep_a_slot() {
        let pool = RunPermits::new(1);
        let held = pool.acquire(Turn::First).await.unwrap();
        let gone = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire(Turn::First).await.map(drop) }
        });
        settle().await;
        gone.abort();
        let _ = gone.await;
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(1), pool.acquire(Turn::Repeat));
        assert!(again.await.unwrap().is_some(), "the slot was lost");
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_the_pool_size_run_at_once_and_closing_refuses_waiters() {
        let pool = RunPermits::new(2);
        let a = pool.acquire(Turn::First).await.unwrap();
        let _b = pool.acquire(Turn::First).await.unwrap();
        let third = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire(Turn::Repeat).await.is_some() }
        });
        settle().await;
        assert!(!third.is_finished(), "a third run started beside two");
        pool.close();
        assert!(!third.await.unwrap(), "a waiter got a slot after close");
        drop(a);
        assert!(pool.acquire(Turn::First).await.is_none());
    }
}
