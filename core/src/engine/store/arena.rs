//! One byte arena for every string the store keeps per subscription (ids, string
//! parameters, owner names), addressed by 8-byte [`Blob`]s instead of a heap allocation
//! (16–32 bytes of pointer and allocator overhead) per string.
//!
//! The arena grows in chunks of 1 MiB that never move: growing by doubling one buffer would
//! leave the old copies behind as resident holes in the heap (glibc serves blocks below
//! its mmap threshold, up to 32 MiB, from the heap), and copy everything at each step.
//!
//! Removal only counts the bytes as dead; when dead bytes outweigh live ones the store
//! compacts the arena, rewriting every live blob (see [`Arena::compact`]). A blob's offset is
//! a chunk number (12 bits) and an offset in it (20 bits), so one store holds at most 4,095
//! chunks (about 4 GiB) of such bytes (`limit_exceeded` past it).

use crate::Error;

/// A byte range in the arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Blob {
    off: u32,
    len: u32,
}

impl Blob {
    pub fn len(self) -> usize {
        self.len as usize
    }
}

const CHUNK_BITS: u32 = 20;
const CHUNK: usize = 1 << CHUNK_BITS;
const MAX_CHUNKS: usize = (1 << (32 - CHUNK_BITS)) - 1;

#[derive(Default)]
pub(crate) struct Arena {
    /// Chunks of `CHUNK` bytes capacity (a blob larger than that gets a chunk of its own).
    chunks: Vec<Vec<u8>>,
    used: usize,
    dead: usize,
}

/// Compaction waits until at least this many bytes are dead, so that small stores never pay
/// for it.
const COMPACT_MIN_DEAD: usize = 1 << 20;

impl Arena {
    pub fn push(&mut self, data: &[u8]) -> Result<Blob, Error> {
        let fits = self.chunks.last().is_some_and(|c| c.capacity() - c.len() >= data.len() && c.capacity() == CHUNK);
        if !fits {
            if self.chunks.len() >= MAX_CHUNKS {
                return Err(Error::limit_exceeded("the store's string arena is full (4 GiB of ids, owners and string parameters)"));
            }
            self.chunks.push(Vec::with_capacity(CHUNK.max(data.len())));
        }
        let n = self.chunks.len() - 1;
        let chunk = &mut self.chunks[n];
        let off = (n as u32) << CHUNK_BITS | chunk.len() as u32;
        chunk.extend_from_slice(data);
        self.used += data.len();
        Ok(Blob { off, len: data.len() as u32 })
    }

    pub fn get(&self, b: Blob) -> &[u8] {
        let start = (b.off & (CHUNK as u32 - 1)) as usize;
        &self.chunks[(b.off >> CHUNK_BITS) as usize][start..start + b.len as usize]
    }

    /// Marks a blob's bytes dead (its owner no longer refers to it).
    pub fn free(&mut self, b: Blob) {
        self.dead += b.len as usize;
    }

    pub fn should_compact(&self) -> bool {
        self.dead >= COMPACT_MIN_DEAD && self.dead * 2 > self.used
    }

    /// Copies every live blob into fresh chunks and points it there. `live` must yield each
    /// live blob exactly once; the old chunks are dropped.
    pub fn compact<'b>(&mut self, live: impl Iterator<Item = &'b mut Blob>) {
        let mut fresh = Arena::default();
        for b in live {
            let data = self.get(*b);
            *b = fresh.push(data).expect("a compacted arena is smaller");
        }
        *self = fresh;
    }

    /// Bytes written, live or dead (what the process holds for the arena, give or take the
    /// unused tail of the last chunk).
    pub fn bytes(&self) -> usize {
        self.used
    }

    pub fn live_bytes(&self) -> usize {
        self.used - self.dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_survive_compaction() {
        let mut a = Arena::default();
        let mut blobs: Vec<Blob> = (0..10_000).map(|i| a.push(format!("id-{i}").as_bytes()).unwrap()).collect();
        // Kill every other blob, compact, and read the survivors back.
        let mut live = Vec::new();
        for (i, b) in blobs.drain(..).enumerate() {
            if i % 2 == 0 {
                a.free(b);
            } else {
                live.push((i, b));
            }
        }
        let before = a.bytes();
        a.compact(live.iter_mut().map(|(_, b)| b));
        assert!(a.bytes() < before);
        assert_eq!(a.bytes(), a.live_bytes());
        for (i, b) in &live {
            assert_eq!(a.get(*b), format!("id-{i}").as_bytes());
        }
    }

    #[test]
    fn compaction_waits_for_enough_dead_bytes() {
        let mut a = Arena::default();
        let b = a.push(&[7; 1000]).unwrap();
        a.free(b);
        assert!(!a.should_compact(), "a small arena is never worth compacting");
        let big = a.push(&vec![1; COMPACT_MIN_DEAD]).unwrap();
        a.free(big);
        assert!(a.should_compact());
    }

    #[test]
    fn blobs_larger_than_a_chunk_get_their_own() {
        let mut a = Arena::default();
        let small = a.push(b"abc").unwrap();
        let big = a.push(&vec![9; 3 * CHUNK + 5]).unwrap();
        let after = a.push(b"xyz").unwrap();
        assert_eq!(a.get(small), b"abc");
        assert_eq!(a.get(big).len(), 3 * CHUNK + 5);
        assert!(a.get(big).iter().all(|&b| b == 9));
        assert_eq!(a.get(after), b"xyz");
    }
}
