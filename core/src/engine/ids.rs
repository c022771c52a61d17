//! The id → slot table. It stores only the 4-byte slot: the id itself lives once, in the
//! record, and both hashing and comparison read it from there. With a million subscriptions
//! this saves the 16-byte key (and its share of the power-of-two table) per subscription.

use super::Record;
use hashbrown::HashTable;

pub(crate) struct IdTable {
    table: HashTable<u32>,
    hasher: ahash::RandomState,
}

impl Default for IdTable {
    fn default() -> Self {
        IdTable { table: HashTable::new(), hasher: ahash::RandomState::new() }
    }
}

type Slots = [Option<Box<Record>>];

fn id_of(slots: &Slots, slot: u32) -> &str {
    &slots[slot as usize].as_ref().expect("indexed slots are live").id
}

impl IdTable {
    pub fn get(&self, id: &str, slots: &Slots) -> Option<u32> {
        self.table.find(self.hasher.hash_one(id), |&s| id_of(slots, s) == id).copied()
    }

    /// Files the live record in `slot` under its id (which must not be present yet).
    pub fn insert(&mut self, slot: u32, slots: &Slots) {
        let hasher = &self.hasher;
        self.table.insert_unique(hasher.hash_one(id_of(slots, slot)), slot, |&s| hasher.hash_one(id_of(slots, s)));
    }

    pub fn remove(&mut self, id: &str, slots: &Slots) {
        if let Ok(entry) = self.table.find_entry(self.hasher.hash_one(id), |&s| id_of(slots, s) == id) {
            entry.remove();
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }
}
