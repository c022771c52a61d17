//! The lookback buffer: recent events per event name, bounded by age, count and bytes, so
//! that a wait registered just after its event arrived still sees it.
//!
//! Events are kept as their JSON text (for `process_bytes`, the input itself): buffering
//! costs a copy of the bytes, not a deep clone of a tree, and the byte bound is exact. The
//! rare wait added with lookback parses the texts of its window.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub(crate) struct Buffered {
    /// The event's JSON text.
    pub text: Arc<str>,
    pub id: Option<String>,
    pub time_ms: i64,
    /// Order of arrival, across names: a durable store's row key for the event.
    pub seq: u64,
    bytes: usize,
}

#[derive(Default)]
pub(crate) struct Lookback {
    by_name: HashMap<Arc<str>, (VecDeque<Buffered>, usize)>,
    next_seq: u64,
}

impl Lookback {
    /// Buffers an event; returns its sequence number and those of the events it pushed out.
    pub fn push(&mut self, name: &str, b: (Arc<str>, Option<String>, i64), max_events: usize, max_bytes: usize) -> (u64, Vec<u64>) {
        let (text, id, time_ms) = b;
        let bytes = text.len();
        let seq = self.next_seq;
        self.next_seq += 1;
        // The name is interned once, not allocated per event.
        if !self.by_name.contains_key(name) {
            self.by_name.insert(Arc::from(name), Default::default());
        }
        let (queue, total) = self.by_name.get_mut(name).expect("just inserted");
        queue.push_back(Buffered { text, id, time_ms, seq, bytes });
        *total += bytes;
        let mut dropped = Vec::new();
        while queue.len() > max_events || (*total > max_bytes && queue.len() > 1) {
            let old = queue.pop_front().expect("non-empty");
            *total -= old.bytes;
            dropped.push(old.seq);
        }
        (seq, dropped)
    }

    /// Buffers an event read back from a durable store under the number it was stored
    /// with (numbering continues after it); returns the numbers of the events pushed out.
    pub fn restore(&mut self, seq: u64, name: &str, b: (Arc<str>, Option<String>, i64), max_events: usize, max_bytes: usize) -> Vec<u64> {
        self.next_seq = seq;
        self.push(name, b, max_events, max_bytes).1
    }

    /// Takes back the event `push` just buffered as `seq` (its commit failed).
    pub fn unpush(&mut self, name: &str, seq: u64) {
        if let Some((queue, total)) = self.by_name.get_mut(name) {
            if queue.back().is_some_and(|b| b.seq == seq) {
                *total -= queue.pop_back().expect("non-empty").bytes;
            }
        }
    }

    /// Drops events of `name` older than `min_time_ms`, and every 1,024 events those of all
    /// names (one name per event keeps this O(1) with many names); returns their sequence
    /// numbers.
    pub fn trim_for(&mut self, name: &str, min_time_ms: i64) -> Vec<u64> {
        if self.next_seq.is_multiple_of(1024) {
            return self.trim(min_time_ms);
        }
        let mut dropped = Vec::new();
        if let Some((queue, total)) = self.by_name.get_mut(name) {
            drop_older(queue, total, min_time_ms, &mut dropped);
        }
        dropped
    }

    /// Drops events older than `min_time_ms`; returns their sequence numbers.
    pub fn trim(&mut self, min_time_ms: i64) -> Vec<u64> {
        let mut dropped = Vec::new();
        self.by_name.retain(|_, (queue, total)| {
            drop_older(queue, total, min_time_ms, &mut dropped);
            !queue.is_empty()
        });
        dropped
    }

    /// Every buffered event with its name, oldest first per name (for `save`).
    pub fn export(&self) -> Vec<(u64, &str, &str, i64)> {
        let mut out: Vec<(u64, &str, &str, i64)> = self.by_name.iter().flat_map(|(n, (q, _))| q.iter().map(move |b| (b.seq, &**n, &*b.text, b.time_ms))).collect();
        out.sort_by_key(|e| e.0);
        out
    }

    /// Buffered events of `name` at or after `since_ms`, oldest first.
    pub fn since<'a>(&'a self, name: &str, since_ms: i64) -> impl Iterator<Item = &'a Buffered> + 'a {
        self.by_name.get(name).into_iter().flat_map(move |(q, _)| q.iter().filter(move |b| b.time_ms >= since_ms))
    }

    pub fn len(&self) -> usize {
        self.by_name.values().map(|(q, _)| q.len()).sum()
    }

    /// The bytes of buffered event JSON (an estimate), in O(event names).
    pub fn bytes(&self) -> usize {
        self.by_name.values().map(|(_, total)| total).sum()
    }
}

/// Pops the events of one name older than `min_time_ms`, noting their sequence numbers.
fn drop_older(queue: &mut VecDeque<Buffered>, total: &mut usize, min_time_ms: i64, dropped: &mut Vec<u64>) {
    while queue.front().is_some_and(|b| b.time_ms < min_time_ms) {
        let old = queue.pop_front().expect("non-empty");
        *total -= old.bytes;
        dropped.push(old.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(time_ms: i64) -> (Arc<str>, Option<String>, i64) {
        (Arc::from("{}"), None, time_ms)
    }

    #[test]
    fn each_event_trims_its_own_name_and_every_1024th_trims_all() {
        let mut lb = Lookback::default();
        let (old, _) = lb.push("app/a", item(1), 100, 1 << 20);
        // Events of another name trim only that name…
        for t in 0..1022 {
            assert!(lb.trim_for("app/b", 10).is_empty());
            lb.push("app/b", item(100 + t), 2, 1 << 20);
        }
        assert_eq!(lb.since("app/a", 0).count(), 1);
        // …until the 1,024th, which trims every name.
        assert_eq!(lb.next_seq % 1024, 1023);
        lb.push("app/b", item(5000), 2, 1 << 20);
        assert_eq!(lb.trim_for("app/b", 10), vec![old]);
        assert_eq!(lb.since("app/a", 0).count(), 0);
        // Its own name, always.
        lb.push("app/c", item(1), 10, 1 << 20);
        assert_eq!(lb.trim_for("app/c", 10).len(), 1);
    }
}
