//! Posting lists: the subscription slots filed under one index key. Most keys hold one slot
//! (an id equality), so the list starts inline and becomes a roaring bitmap once it grows.

use roaring::RoaringBitmap;

/// Past this many slots a posting list becomes a bitmap.
const INLINE_MAX: usize = 16;

/// Boxed variants keep the enum at 16 bytes: most keys (an id each) hold `One`.
#[allow(clippy::box_collection)]
#[derive(Clone, Debug)]
pub(crate) enum Posting {
    One(u32),
    Few(Box<Vec<u32>>),
    Many(Box<RoaringBitmap>),
}

impl Posting {
    pub fn new(slot: u32) -> Posting {
        Posting::One(slot)
    }

    pub fn insert(&mut self, slot: u32) {
        match self {
            Posting::One(s) if *s == slot => {}
            Posting::One(s) => *self = Posting::Few(Box::new(vec![*s, slot])),
            Posting::Few(v) if v.contains(&slot) => {}
            Posting::Few(v) if v.len() < INLINE_MAX => v.push(slot),
            Posting::Few(v) => {
                let mut b: RoaringBitmap = v.iter().copied().collect();
                b.insert(slot);
                *self = Posting::Many(Box::new(b));
            }
            Posting::Many(b) => {
                b.insert(slot);
            }
        }
    }

    /// Removes `slot`; returns true when the list is now empty.
    pub fn remove(&mut self, slot: u32) -> bool {
        match self {
            Posting::One(s) => *s == slot,
            Posting::Few(v) => {
                v.retain(|&s| s != slot);
                if v.len() == 1 {
                    *self = Posting::One(v[0]);
                }
                false
            }
            Posting::Many(b) => {
                b.remove(slot);
                if b.len() as usize <= INLINE_MAX / 2 {
                    *self = Posting::Few(Box::new(b.iter().collect()));
                }
                false
            }
        }
    }

    pub fn extend_into(&self, out: &mut Vec<u32>) {
        match self {
            Posting::One(s) => out.push(*s),
            Posting::Few(v) => out.extend_from_slice(v),
            Posting::Many(b) => out.extend(b.iter()),
        }
    }

    pub fn contains(&self, slot: u32) -> bool {
        match self {
            Posting::One(s) => *s == slot,
            Posting::Few(v) => v.contains(&slot),
            Posting::Many(b) => b.contains(slot),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        match self {
            Posting::One(_) => 1,
            Posting::Few(v) => v.len(),
            Posting::Many(b) => b.len() as usize,
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Posting::One(s) => Box::new(std::iter::once(*s)),
            Posting::Few(v) => Box::new(v.iter().copied()),
            Posting::Many(b) => Box::new(b.iter()),
        }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Posting>()
            + match self {
                Posting::One(_) => 0,
                Posting::Few(v) => 24 + v.capacity() * 4,
                Posting::Many(b) => 24 + b.serialized_size(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_inline_then_to_a_bitmap_and_shrinks_back() {
        let mut p = Posting::new(0);
        for s in 1..100 {
            p.insert(s);
            p.insert(s); // a repeat changes nothing
        }
        assert!(matches!(p, Posting::Many(_)));
        assert_eq!(p.len(), 100);
        for s in 0..95 {
            assert!(!p.remove(s));
        }
        assert!(matches!(p, Posting::Few(_)), "a small bitmap returns to a vector");
        let mut out = Vec::new();
        p.extend_into(&mut out);
        assert_eq!(out, vec![95, 96, 97, 98, 99]);
        for s in 95..99 {
            assert!(!p.remove(s));
        }
        assert!(matches!(p, Posting::One(99)));
        assert!(p.remove(99), "removing the last slot empties the list");
    }
}
