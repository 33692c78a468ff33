//! Two-stage capture reading: framing (pcap → TCP → HTTP → `CaptureOutput`) on a worker thread,
//! the caller's callback (the engine) on the calling thread, overlapped.
//!
//! Owns only the hand-off: outputs travel in order, in batches, over a bounded channel (and,
//! once consumed, back to the worker to be freed where they were allocated; what the callback
//! returns is freed on the calling thread, which allocated it), so the
//! callback sees exactly the sequence `pcap::read_capture` would give it (reports stay
//! deterministic) and memory stays flat: at most `QUEUED` batches wait, each closed at
//! `BATCH_ITEMS` outputs or `BATCH_BYTES` of bodies and URLs, whichever comes first.
//! Must not reorder, drop or parse anything itself. A panic in the worker is re-raised on the
//! calling thread (as if the reader had run inline). Known limit: with one CPU the two stages
//! just take turns (no gain, a little hand-off cost).

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use crate::capture::keylog::KeyLog;
use crate::capture::CaptureOutput;

use super::pcap::{read_capture, CaptureError, CaptureStats};

/// Outputs per batch.
pub const BATCH_ITEMS: usize = 256;
/// A batch is also closed once its bodies and URLs reach this many bytes (1 MiB).
pub const BATCH_BYTES: usize = 1 << 20;
/// Full batches that may wait for the consumer before the reader blocks.
pub const QUEUED: usize = 4;

/// Hand `full` to the consumer. While the queue is full, free what the consumer hands back
/// (it returns every batch it takes, so a slot frees up as used batches arrive) instead of
/// just blocking: the consumer, the slower stage, then never has to free outputs itself.
/// Returns false when the consumer is gone.
fn send(
    tx: &SyncSender<Vec<CaptureOutput>>,
    back_rx: &Receiver<Vec<CaptureOutput>>,
    mut full: Vec<CaptureOutput>,
) -> bool {
    loop {
        match tx.try_send(full) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => full = back,
        }
        match back_rx.recv_timeout(Duration::from_millis(5)) {
            Ok(used) => drop(used),
            Err(RecvTimeoutError::Timeout) => {}
            // The consumer stopped handing batches back: plain blocking send.
            Err(RecvTimeoutError::Disconnected) => return tx.send(full).is_ok(),
        }
    }
}

/// Approximate heap size of one output (what bounds the queue's memory).
fn weight(out: &CaptureOutput) -> usize {
    match out {
        CaptureOutput::Exchange(ex) => {
            let resp = ex.response.as_ref().map_or(0, |r| r.body.data.len());
            ex.request.url.len() + ex.request.body.data.len() + resp + 256
        }
        CaptureOutput::TlsUndecrypted { .. } => 256,
    }
}

/// Like [`read_capture`], with framing on a worker thread and `on` called on this thread.
/// `on` borrows each output; the outputs are freed on the worker thread afterwards, and
/// whatever `on` returns for them (`T`, e.g. the engine's per-exchange results once used) is
/// dropped on this thread once the batch is done. Each side frees what it allocated: with
/// mimalloc a free from the other thread costs both threads more (the allocating thread has
/// to collect it); freeing the engine's results on the worker cost the engine thread ~10 %
/// more samples on the 300 MB capture (2026-11-28, `perf record`, 3 runs each).
pub fn read_capture_threaded<R: Read + Send, T>(
    reader: R,
    input: usize,
    keys: &mut KeyLog,
    mut on: impl FnMut(&CaptureOutput) -> T,
) -> Result<CaptureStats, CaptureError> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<CaptureOutput>>(QUEUED);
        // Consumed outputs go back to the worker to be freed there: the allocator frees
        // fastest on the thread that allocated, and the worker has CPU to spare.
        let (back_tx, back_rx) = sync_channel::<Vec<CaptureOutput>>(QUEUED + 2);
        let worker = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH_ITEMS);
            let mut bytes = 0usize;
            let mut consumer_gone = false;
            let result = read_capture(reader, input, keys, |out| {
                if consumer_gone {
                    return;
                }
                bytes = bytes.saturating_add(weight(&out));
                batch.push(out);
                if batch.len() >= BATCH_ITEMS || bytes >= BATCH_BYTES {
                    // Free everything the consumer has handed back, keeping one vector to reuse.
                    let mut next = None;
                    while let Ok(mut used) = back_rx.try_recv() {
                        used.clear();
                        next = Some(used);
                    }
                    let next = next.unwrap_or_else(|| Vec::with_capacity(BATCH_ITEMS));
                    let full = std::mem::replace(&mut batch, next);
                    bytes = 0;
                    consumer_gone = !send(&tx, &back_rx, full);
                }
            });
            if !batch.is_empty() && !consumer_gone {
                send(&tx, &back_rx, batch);
            }
            drop(tx);
            // Free what the consumer hands back until it is done.
            while back_rx.recv().is_ok() {}
            result
        });
        let mut leftovers = Vec::with_capacity(BATCH_ITEMS);
        for batch in rx {
            for out in &batch {
                leftovers.push(on(out));
            }
            leftovers.clear();
            // A full return queue (the worker is busy) just means freeing here; the worker
            // drains it whenever it closes a batch or waits to send one, so this is rare.
            let _ = back_tx.try_send(batch);
        }
        drop(back_tx);
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap (µs, Ethernet) holding `calls` HTTP/1.1 exchanges on one connection, with enough
    /// calls to span several batches.
    fn capture(calls: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 262144, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        // Fix the version field (2 u16s).
        out[4..8].copy_from_slice(&[2, 0, 4, 0]);
        let (client, server) = (([10, 0, 0, 1], 40000u16), ([10, 0, 0, 2], 80u16));
        let mut ts = 1_700_000_000u32;
        let mut frame = |out: &mut Vec<u8>,
                         src: ([u8; 4], u16),
                         dst: ([u8; 4], u16),
                         seq: u32,
                         ack: u32,
                         syn: bool,
                         payload: &[u8]| {
            let mut b =
                etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                    .ipv4(src.0, dst.0, 64)
                    .tcp(src.1, dst.1, seq, 64240);
            if syn {
                b = b.syn();
            }
            if ack != 0 {
                b = b.ack(ack);
            }
            let mut f = Vec::new();
            if b.write(&mut f, payload).is_err() {
                return;
            }
            ts += 1;
            out.extend_from_slice(&ts.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&f);
        };
        let (mut cseq, mut sseq) = (1000u32, 9000u32);
        frame(&mut out, client, server, cseq, 0, true, b"");
        frame(&mut out, server, client, sseq, cseq + 1, true, b"");
        cseq += 1;
        sseq += 1;
        for i in 0..calls {
            let req = format!("GET /item/{i} HTTP/1.1\r\nHost: api.example\r\n\r\n");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{i}",
                i.to_string().len()
            );
            frame(&mut out, client, server, cseq, sseq, false, req.as_bytes());
            cseq += req.len() as u32;
            frame(&mut out, server, client, sseq, cseq, false, resp.as_bytes());
            sseq += resp.len() as u32;
        }
        out
    }

    fn urls(outs: &[CaptureOutput]) -> Vec<String> {
        outs.iter()
            .filter_map(|o| match o {
                CaptureOutput::Exchange(ex) => Some(ex.request.url.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn same_outputs_in_the_same_order_as_the_inline_reader() {
        let data = capture(BATCH_ITEMS * 2 + 17);
        let mut inline = Vec::new();
        let a = read_capture(&data[..], 0, &mut KeyLog::default(), |o| inline.push(o));
        let mut threaded = Vec::new();
        let b = read_capture_threaded(&data[..], 0, &mut KeyLog::default(), |o| {
            threaded.push(o.clone())
        });
        let (a, b) = (a.expect("inline"), b.expect("threaded"));
        assert_eq!(urls(&inline).len(), BATCH_ITEMS * 2 + 17);
        assert_eq!(urls(&inline), urls(&threaded));
        assert_eq!(inline, threaded);
        assert_eq!(a.notes(), b.notes());
    }

    #[test]
    fn errors_come_back_from_the_worker() {
        let r = read_capture_threaded(
            &b"not a capture at all"[..],
            0,
            &mut KeyLog::default(),
            |_| {},
        );
        assert!(matches!(r, Err(CaptureError::BadMagic { .. })));
    }
}
