//! Bounded reorder window for HAR entries (HAR 1.2 only *prefers* sorted `entries`).
//!
//! Owns: holding up to `max_entries` exchanges (and at most `max_bytes` of their bodies, headers
//! and URLs) in a min-heap keyed by `started`, releasing the earliest when full. Exchanges without
//! a start time take the key of the previous entry, so they stay next to their file neighbours.
//! Must not: drop anything. An exchange that arrives earlier than one already released is "late":
//! it is released at once, counted, and given a note.
//! Known limit: order is only fixed within the window; a file shuffled over a wider span comes
//! out partly unsorted (and every such entry is counted in `late`).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::model::Exchange;

struct Held {
    key: i64,
    seq: u64,
    bytes: usize,
    ex: Exchange,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.key, self.seq) == (other.key, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.key, self.seq).cmp(&(other.key, other.seq))
    }
}

/// Approximate memory an exchange holds (bodies, headers, URL).
fn weight(ex: &Exchange) -> usize {
    let headers =
        |h: &crate::model::Headers| h.iter().map(|(n, v)| n.len() + v.len() + 48).sum::<usize>();
    let mut w =
        512 + ex.request.url.len() + ex.request.body.data.len() + headers(&ex.request.headers);
    if let Some(r) = &ex.response {
        w += r.body.data.len() + headers(&r.headers);
    }
    w
}

pub struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    max_entries: usize,
    max_bytes: usize,
    held_bytes: usize,
    seq: u64,
    last_key: i64,
    last_released: Option<i64>,
    /// Exchanges that arrived after a later one had already been released.
    pub late: usize,
}

impl Reorder {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            max_entries,
            max_bytes,
            held_bytes: 0,
            seq: 0,
            last_key: i64::MIN,
            last_released: None,
            late: 0,
        }
    }

    /// Add one exchange; release whatever no longer fits through `out`.
    pub fn push(&mut self, mut ex: Exchange, out: &mut impl FnMut(Exchange)) {
        let key = ex.started.unwrap_or(self.last_key);
        self.last_key = key;
        if self.last_released.is_some_and(|released| key < released) {
            self.late += 1;
            ex.notes.push(format!(
                "entry is older than one already released; it arrived more than {} entries out of order and is emitted out of time order",
                self.max_entries
            ));
            out(ex);
            return;
        }
        let bytes = weight(&ex);
        self.held_bytes += bytes;
        self.seq += 1;
        self.heap.push(Reverse(Held {
            key,
            seq: self.seq,
            bytes,
            ex,
        }));
        while self.heap.len() > self.max_entries
            || (self.held_bytes > self.max_bytes && !self.heap.is_empty())
        {
            self.release_one(out);
        }
    }

    fn release_one(&mut self, out: &mut impl FnMut(Exchange)) {
        if let Some(Reverse(held)) = self.heap.pop() {
            self.held_bytes -= held.bytes;
            self.last_released = Some(held.key);
            out(held.ex);
        }
    }

    /// Release everything still held, earliest first.
    pub fn drain(&mut self, out: &mut impl FnMut(Exchange)) {
        while !self.heap.is_empty() {
            self.release_one(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(index: usize, started: Option<i64>) -> Exchange {
        Exchange {
            index,
            started,
            ..Exchange::default()
        }
    }

    fn run(window: usize, items: &[(usize, Option<i64>)]) -> (Vec<usize>, usize) {
        let mut r = Reorder::new(window, usize::MAX);
        let mut got = Vec::new();
        let mut out = |e: Exchange| got.push(e.index);
        for &(i, s) in items {
            r.push(ex(i, s), &mut out);
        }
        r.drain(&mut out);
        let late = r.late;
        (got, late)
    }

    #[test]
    fn sorts_within_the_window() {
        let (order, late) = run(
            4,
            &[(0, Some(30)), (1, Some(10)), (2, Some(20)), (3, Some(5))],
        );
        assert_eq!(order, vec![3, 1, 2, 0]);
        assert_eq!(late, 0);
    }

    #[test]
    fn too_late_entries_are_counted_and_still_emitted() {
        let (order, late) = run(
            2,
            &[(0, Some(10)), (1, Some(20)), (2, Some(30)), (3, Some(1))],
        );
        assert_eq!(order.len(), 4);
        assert_eq!(late, 1);
        assert_eq!(order, vec![0, 3, 1, 2]);
    }

    #[test]
    fn entries_without_time_stay_with_their_neighbours_and_ties_keep_file_order() {
        let (order, _) = run(8, &[(0, Some(10)), (1, None), (2, Some(10)), (3, Some(5))]);
        assert_eq!(order, vec![3, 0, 1, 2]);
    }

    #[test]
    fn byte_cap_releases_early() {
        let mut r = Reorder::new(1000, 1);
        let mut n = 0;
        r.push(ex(0, Some(1)), &mut |_| n += 1);
        assert_eq!(n, 1);
    }
}
