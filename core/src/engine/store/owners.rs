//! Owners interned to [`OwnerId`]s. Each owner's subscriptions form a doubly linked list
//! threaded through the records (`owner_prev`/`owner_next`), so removing one subscription
//! unlinks it in O(1) and removing an owner costs O(k) for its k subscriptions.

use super::arena::{Arena, Blob};
use super::slab::Slab;
use crate::ids::{OwnerId, SlotId};
use crate::Error;
use hashbrown::HashTable;

pub(crate) struct OwnerRec {
    pub name: Blob,
    /// The most recently added subscription of the owner (the list head).
    pub head: SlotId,
    pub len: u32,
}

#[derive(Default)]
pub(crate) struct Owners {
    pub recs: Slab<OwnerRec>,
    free: Vec<OwnerId>,
    table: HashTable<OwnerId>,
    live: usize,
}

impl Owners {
    pub fn find(&self, name: &str, arena: &Arena, hasher: &ahash::RandomState) -> Option<OwnerId> {
        let recs = &self.recs;
        self.table.find(hasher.hash_one(name.as_bytes()), |&o| arena.get(recs[o.index()].name) == name.as_bytes()).copied()
    }

    /// The owner named `name`, interned if new (with an empty list).
    pub fn intern(&mut self, name: &str, arena: &mut Arena, hasher: &ahash::RandomState) -> Result<OwnerId, Error> {
        if let Some(o) = self.find(name, arena, hasher) {
            return Ok(o);
        }
        let rec = OwnerRec { name: arena.push(name.as_bytes())?, head: SlotId::NONE, len: 0 };
        let id = match self.free.pop() {
            Some(id) => {
                self.recs[id.index()] = rec;
                id
            }
            None => {
                let id = OwnerId::try_new(self.recs.len()).ok_or_else(|| Error::limit_exceeded("more than 2^32 owners"))?;
                self.recs.push(rec);
                id
            }
        };
        let recs = &self.recs;
        self.table.insert_unique(hasher.hash_one(name.as_bytes()), id, |&o| hasher.hash_one(arena.get(recs[o.index()].name)));
        self.live += 1;
        Ok(id)
    }

    /// Forgets an owner whose list became empty.
    pub fn release(&mut self, id: OwnerId, arena: &mut Arena, hasher: &ahash::RandomState) {
        let name = self.recs[id.index()].name;
        let recs = &self.recs;
        if let Ok(e) = self.table.find_entry(hasher.hash_one(arena.get(name)), |&o| recs[o.index()].name == name) {
            e.remove();
        }
        arena.free(name);
        self.recs[id.index()] = OwnerRec { name: Blob::default(), head: SlotId::NONE, len: 0 };
        self.free.push(id);
        self.live -= 1;
    }

    pub fn is_live(&self, id: OwnerId) -> bool {
        self.recs.get(id.index()).is_some_and(|r| r.len > 0)
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn bytes(&self) -> usize {
        self.recs.bytes() + table_bytes(self.table.capacity(), 4) + self.free.capacity() * 4
    }

    /// Every live owner's name blob, for arena compaction.
    pub fn blobs_mut(&mut self) -> impl Iterator<Item = &mut Blob> {
        self.recs.iter_mut().filter(|r| r.len > 0).map(|r| &mut r.name)
    }
}

/// What a hashbrown table of `capacity` items of `size` bytes holds resident: its buckets (a
/// power of two, at most 7/8 full, one control byte each), and half as much again for the
/// previous allocation that growing left to the allocator (blocks below glibc's mmap
/// threshold go back to the heap, which rarely reuses them at once).
pub(crate) fn table_bytes(capacity: usize, size: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    (capacity * 8 / 7).next_power_of_two() * (size + 1) * 3 / 2
}
