//! Deadlines in a min-heap of `(deadline, slot)`: 16 bytes a subscription, against about
//! 40 in an ordered set of `(deadline, seq, slot)`.
//!
//! Removing a subscription by any other way than expiry leaves its entry in the heap,
//! *stale*. A stale entry is recognised when it comes up: its slot is free, or holds a
//! record with another deadline. (A slot reused by a record with the very same deadline
//! makes the old entry valid for the new record, which is right: it expires then too; its
//! own entry is then the stale one.) When stale entries outnumber live ones the store
//! rebuilds the heap from the records, so memory stays proportional to pending deadlines.

use crate::ids::SlotId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    /// Live records with a deadline; the rest of the heap is stale.
    live: usize,
}

/// Stale entries tolerated beyond the live ones before a rebuild.
const STALE_SLACK: usize = 1024;

impl Deadlines {
    pub fn push(&mut self, deadline_ms: i64, slot: SlotId) {
        self.heap.push(Reverse((deadline_ms, slot.as_u32())));
        self.live += 1;
    }

    /// A record with a deadline is gone (its entry, if not popped, is now stale).
    pub fn removed(&mut self) {
        self.live -= 1;
    }

    /// The earliest entry, live or stale, if it is due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> Option<(i64, SlotId)> {
        self.heap.peek().filter(|Reverse((d, _))| *d <= now_ms).map(|Reverse((d, s))| (*d, SlotId::from_u32(*s)))
    }

    pub fn pop(&mut self) {
        self.heap.pop();
    }

    /// Puts back a popped entry whose record stays.
    pub fn repush(&mut self, deadline_ms: i64, slot: SlotId) {
        self.heap.push(Reverse((deadline_ms, slot.as_u32())));
    }

    pub fn needs_rebuild(&self) -> bool {
        self.heap.len() > 2 * self.live + STALE_SLACK
    }

    /// Replaces the heap by the live entries.
    pub fn rebuild(&mut self, live: impl Iterator<Item = (i64, SlotId)>) {
        self.heap = live.map(|(d, s)| Reverse((d, s.as_u32()))).collect();
        self.live = self.heap.len();
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// Every entry, live or stale (for validation).
    pub fn entries(&self) -> impl Iterator<Item = (i64, SlotId)> + '_ {
        self.heap.iter().map(|Reverse((d, s))| (*d, SlotId::from_u32(*s)))
    }

    pub fn bytes(&self) -> usize {
        self.heap.capacity() * 16
    }
}
