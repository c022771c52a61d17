//! Hash-keyed access predicates: equality, `in`, list membership, prefix and suffix. One
//! table from a 32-bit keyed hash of (path, kind, value) to a posting list serves them all.
//!
//! Each is a **necessary, not sufficient** condition: two values can share a hash, so a hit
//! is only a candidate and verification decides. A miss is certain: equal values (including
//! `1 == 1.0`, which CEL calls equal) always hash alike.
//!
//! Why 32 bits: an entry is then 8 bytes (key and posting handle), a third of a 64-bit key
//! with an inline posting enum, and the table is the largest per-subscription structure after
//! the record. Two keys that share a hash share a posting list: each makes the other's
//! subscriptions candidates, which verification removes (about one spurious candidate per
//! 4 billion keys and probe; with a per-engine random seed nobody can aim for it).

use super::posting::Posting;
use crate::eval::Value;
use crate::ids::PathId;
use hashbrown::HashTable;
use std::hash::{Hash, Hasher};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum KeyKind {
    /// The event value at the path equals the key.
    Eq,
    /// The event value at the path is a list holding the key, or a map with the key.
    Elem,
    /// The event value at the path is a string starting with the key.
    Prefix,
    /// The event value at the path is a string ending with the key.
    Suffix,
}

/// Posting handles with this bit set index the side list of shared postings; without it
/// they are the one slot posted under the key. Slots therefore stay below 2^31.
const SHARED: u32 = 1 << 31;

/// Key → posting list. Most keys (an id equality each) hold one slot, stored in the entry
/// itself; keys shared by several subscriptions point into `shared`.
#[derive(Default)]
pub(crate) struct KeyTable {
    table: HashTable<(u32, u32)>,
    shared: Vec<Posting>,
    free_shared: Vec<u32>,
}

/// Spreads a 32-bit key over the 64 bits hashbrown reads (its control byte comes from the
/// top bits, the bucket from the bottom ones).
fn spread(key: u32) -> u64 {
    (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl KeyTable {
    pub fn insert(&mut self, key: u32, slot: u32) {
        debug_assert!(slot < SHARED, "slots stay below 2^31");
        match self.table.find_mut(spread(key), |e| e.0 == key) {
            None => {
                self.table.insert_unique(spread(key), (key, slot), |e| spread(e.0));
            }
            Some(e) if e.1 & SHARED != 0 => self.shared[(e.1 & !SHARED) as usize].insert(slot),
            Some(e) if e.1 == slot => {}
            Some(e) => {
                let mut p = Posting::new(e.1);
                p.insert(slot);
                let i = match self.free_shared.pop() {
                    Some(i) => {
                        self.shared[i as usize] = p;
                        i
                    }
                    None => {
                        self.shared.push(p);
                        self.shared.len() as u32 - 1
                    }
                };
                e.1 = i | SHARED;
            }
        }
    }

    pub fn remove(&mut self, key: u32, slot: u32) {
        let Ok(entry) = self.table.find_entry(spread(key), |e| e.0 == key) else { return };
        let handle = entry.get().1;
        if handle & SHARED == 0 {
            if handle == slot {
                entry.remove();
            }
            return;
        }
        let i = handle & !SHARED;
        let p = &mut self.shared[i as usize];
        p.remove(slot);
        if let Posting::One(last) = *p {
            // Back to a single slot: store it in the entry again.
            entry.into_mut().1 = last;
            self.shared[i as usize] = Posting::Few(Box::default());
            self.free_shared.push(i);
        }
    }

    fn handle(&self, key: u32) -> Option<u32> {
        self.table.find(spread(key), |e| e.0 == key).map(|e| e.1)
    }

    /// Appends the slots posted under `key`.
    pub fn extend_into(&self, key: u32, out: &mut Vec<u32>) {
        match self.handle(key) {
            None => {}
            Some(h) if h & SHARED == 0 => out.push(h),
            Some(h) => self.shared[(h & !SHARED) as usize].extend_into(out),
        }
    }

    pub fn contains(&self, key: u32, slot: u32) -> bool {
        match self.handle(key) {
            None => false,
            Some(h) if h & SHARED == 0 => h == slot,
            Some(h) => self.shared[(h & !SHARED) as usize].contains(slot),
        }
    }

    /// Calls `f` for every posted slot.
    pub fn for_each_slot(&self, f: &mut dyn FnMut(u32)) {
        for &(_, h) in &self.table {
            if h & SHARED == 0 {
                f(h);
            } else {
                self.shared[(h & !SHARED) as usize].iter().for_each(&mut *f);
            }
        }
    }

    /// Estimated heap bytes, in O(1), given how many postings the table holds: the table
    /// (8-byte entries) and the shared lists (about 4 bytes a slot beyond the first of each
    /// key).
    pub fn bytes(&self, postings: u64) -> usize {
        crate::engine::table_bytes(self.table.capacity(), 8) + self.shared.len() * 48 + (postings as usize).saturating_sub(self.table.len()) * 4
    }
}

/// The keyed hash behind every index key. Each engine draws its own random seed, so whoever
/// controls trigger values or literals cannot pick keys that collide: the tables keyed by
/// these hashes (with the identity hasher above) stay flat under adversarial input.
#[derive(Clone)]
pub(crate) struct KeyHasher(ahash::RandomState);

impl KeyHasher {
    pub fn random() -> Self {
        KeyHasher(ahash::RandomState::new())
    }

    fn start(&self, path: PathId, kind: KeyKind) -> impl Hasher {
        let mut h = std::hash::BuildHasher::build_hasher(&self.0);
        (path.as_u32(), kind).hash(&mut h);
        h
    }

    /// The key of a scalar under a path and kind, or `None` for values no key can stand for
    /// (lists, maps, timestamps …).
    pub fn key(&self, path: PathId, kind: KeyKind, v: &Value<'_>) -> Option<u32> {
        let mut h = self.start(path, kind);
        match v {
            Value::Null => 0u8.hash(&mut h),
            Value::Bool(b) => (1u8, *b).hash(&mut h),
            Value::Str(s) => (2u8, &**s).hash(&mut h),
            // Numbers that CEL calls equal must hash alike: integral values hash as integers,
            // whatever their type.
            Value::Int(i) => (3u8, *i as i128).hash(&mut h),
            Value::UInt(u) => (3u8, *u as i128).hash(&mut h),
            Value::Double(d) => match integral(*d) {
                Some(i) => (3u8, i).hash(&mut h),
                None if d.is_nan() => return None,
                None => (4u8, d.to_bits()).hash(&mut h),
            },
            _ => return None,
        }
        Some(fold(h.finish()))
    }

    /// The key of a prefix or suffix needle (hashed as the string it is).
    pub fn str(&self, path: PathId, kind: KeyKind, s: &str) -> u32 {
        let mut h = self.start(path, kind);
        (2u8, s).hash(&mut h);
        fold(h.finish())
    }
}

fn fold(h: u64) -> u32 {
    (h ^ h >> 32) as u32
}

/// The integer a double stands for, if it is integral and within ±2^64 (exactly
/// representable then).
pub(crate) fn integral(d: f64) -> Option<i128> {
    (d.fract() == 0.0 && d.abs() < 18446744073709551616.0).then_some(d as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_shared_postings_move_in_and_out_of_place() {
        let mut t = KeyTable::default();
        t.insert(7, 1);
        t.insert(7, 1);
        t.insert(8, 2);
        let mut out = Vec::new();
        t.extend_into(7, &mut out);
        assert_eq!(out, vec![1]);
        for s in 3..40 {
            t.insert(7, s);
        }
        assert!(t.contains(7, 39) && t.contains(7, 1) && !t.contains(7, 2));
        for s in 3..40 {
            t.remove(7, s);
        }
        assert_eq!(t.free_shared.len(), 1, "a list back to one slot returns to its entry");
        assert!(t.contains(7, 1));
        t.insert(9, 5);
        t.insert(9, 6);
        assert_eq!(t.free_shared.len(), 0, "the freed shared list is reused");
        t.remove(7, 1);
        t.remove(8, 99); // not posted: nothing happens
        let mut all = Vec::new();
        t.for_each_slot(&mut |s| all.push(s));
        all.sort_unstable();
        assert_eq!(all, vec![2, 5, 6]);
    }
}
