//! Bounded hand-off of work batches from a producer thread that must never block (the live
//! capture thread reading libpcap) to a consumer thread (analysis: engine, metrics, events).
//!
//! Owns: the queue between the two threads, its caps (batches and approximate bytes in flight)
//! and the count of items dropped because a cap was hit.
//! Must not: block the producer in `offer` (a blocked capture thread turns into kernel drops,
//! which break TCP streams and TLS sessions; dropping whole analysed items keeps them intact), or
//! look inside the items.
//! Known limits: drop-newest (a full queue refuses the offered batch whole); byte sizes are the
//! producer's estimate; `finish` blocks, for the final flush at shutdown only.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// One batch and the bytes it is estimated to hold.
type Batch<T> = (Vec<T>, usize);

/// The consumer has gone (it stopped, e.g. on a write error); nothing more can be handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the analysis thread has stopped; no more work can be handed to it")]
pub struct ConsumerGone;

#[derive(Debug)]
struct Shared {
    /// False once the consumer side is dropped.
    consumer_alive: AtomicBool,
    bytes: AtomicUsize,
    dropped_items: AtomicU64,
}

/// Producer side.
#[derive(Debug)]
pub struct HandoffTx<T> {
    tx: SyncSender<Batch<T>>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

/// Consumer side.
#[derive(Debug)]
pub struct HandoffRx<T> {
    rx: Receiver<Batch<T>>,
    shared: Arc<Shared>,
}

/// A queue holding at most `max_batches` batches and about `max_bytes` bytes.
pub fn handoff<T>(max_batches: usize, max_bytes: usize) -> (HandoffTx<T>, HandoffRx<T>) {
    let (tx, rx) = sync_channel(max_batches.max(1));
    let shared = Arc::new(Shared {
        consumer_alive: AtomicBool::new(true),
        bytes: AtomicUsize::new(0),
        dropped_items: AtomicU64::new(0),
    });
    (
        HandoffTx {
            tx,
            shared: shared.clone(),
            max_bytes,
        },
        HandoffRx { rx, shared },
    )
}

impl<T> HandoffTx<T> {
    /// Queues `batch` (estimated at `bytes`) without blocking. `Ok(false)` when a cap was hit: the
    /// batch is dropped and its items are counted in `dropped_items`.
    pub fn offer(&self, batch: Vec<T>, bytes: usize) -> Result<bool, ConsumerGone> {
        if !self.shared.consumer_alive.load(Ordering::Acquire) {
            return Err(ConsumerGone);
        }
        if batch.is_empty() {
            return Ok(true);
        }
        let items = batch.len() as u64;
        let before = self.shared.bytes.fetch_add(bytes, Ordering::AcqRel);
        // An empty queue always takes one batch, however large, so progress never stops.
        if before > 0 && before.saturating_add(bytes) > self.max_bytes {
            self.shared.bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.shared
                .dropped_items
                .fetch_add(items, Ordering::Relaxed);
            return Ok(false);
        }
        match self.tx.try_send((batch, bytes)) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => {
                self.shared.bytes.fetch_sub(bytes, Ordering::AcqRel);
                self.shared
                    .dropped_items
                    .fetch_add(items, Ordering::Relaxed);
                Ok(false)
            }
            Err(TrySendError::Disconnected(_)) => Err(ConsumerGone),
        }
    }

    /// Queues `batch`, waiting for room (shutdown flush: no packets are arriving any more).
    pub fn finish(&self, batch: Vec<T>, bytes: usize) -> Result<(), ConsumerGone> {
        if batch.is_empty() {
            return Ok(());
        }
        self.shared.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.tx.send((batch, bytes)).map_err(|_| ConsumerGone)
    }

    /// Items dropped so far because the queue was full.
    pub fn dropped_items(&self) -> u64 {
        self.shared.dropped_items.load(Ordering::Relaxed)
    }

    /// Bytes currently queued (estimate).
    pub fn queued_bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::Acquire)
    }
}

impl<T> HandoffRx<T> {
    /// The next batch; `None` once the producer is gone and the queue is empty.
    pub fn recv(&self) -> Option<Vec<T>> {
        let (batch, bytes) = self.rx.recv().ok()?;
        self.shared.bytes.fetch_sub(bytes, Ordering::AcqRel);
        Some(batch)
    }
}

impl<T> Drop for HandoffRx<T> {
    fn drop(&mut self) {
        self.shared.consumer_alive.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_the_offered_batch_and_counts_its_items() {
        let (tx, rx) = handoff::<u32>(2, 1 << 20);
        assert_eq!(tx.offer(vec![1, 2], 10), Ok(true));
        assert_eq!(tx.offer(vec![3], 10), Ok(true));
        assert_eq!(tx.offer(vec![4, 5, 6], 10), Ok(false), "two batches max");
        assert_eq!(tx.dropped_items(), 3);
        assert_eq!(tx.queued_bytes(), 20);
        assert_eq!(rx.recv(), Some(vec![1, 2]));
        assert_eq!(tx.queued_bytes(), 10);
        assert_eq!(tx.offer(vec![7], 10), Ok(true), "room again");
        assert_eq!(
            tx.offer(Vec::new(), 0),
            Ok(true),
            "empty batches are not queued"
        );
        drop(tx);
        assert_eq!(rx.recv(), Some(vec![3]));
        assert_eq!(rx.recv(), Some(vec![7]));
        assert_eq!(rx.recv(), None, "producer gone, queue empty");
    }

    #[test]
    fn byte_cap_drops_but_an_empty_queue_takes_any_batch() {
        let (tx, rx) = handoff::<u8>(100, 1000);
        assert_eq!(
            tx.offer(vec![1], 5000),
            Ok(true),
            "oversized, but the queue is empty"
        );
        assert_eq!(tx.offer(vec![2], 1), Ok(false), "over the byte cap");
        assert_eq!(tx.dropped_items(), 1);
        assert_eq!(tx.queued_bytes(), 5000);
        assert_eq!(rx.recv(), Some(vec![1]));
        assert_eq!(tx.queued_bytes(), 0);
        assert_eq!(tx.offer(vec![3], 600), Ok(true));
        assert_eq!(tx.offer(vec![4], 600), Ok(false));
        // `finish` waits for room instead of dropping.
        assert_eq!(tx.finish(vec![5], 600), Ok(()));
        assert_eq!(tx.dropped_items(), 2);
        drop(rx);
        assert_eq!(tx.offer(vec![6], 1), Err(ConsumerGone));
        assert_eq!(tx.finish(vec![6], 1), Err(ConsumerGone));
    }

    #[test]
    fn batches_cross_threads_in_order() {
        let (tx, rx) = handoff::<u64>(4, 1 << 20);
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(b) = rx.recv() {
                got.extend(b);
            }
            got
        });
        for i in 0..1000u64 {
            // `finish` blocks, so nothing is dropped here.
            assert_eq!(tx.finish(vec![i], 8), Ok(()));
        }
        drop(tx);
        let got = consumer.join().unwrap_or_default();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }
}
