//! The record slab: records in chunks of a fixed size that never move, addressed by index.
//! Like the arena, it grows without copying and without leaving the old copy behind as a
//! resident hole in the heap, as doubling one large vector would.

use std::ops::{Index, IndexMut};

/// Records per chunk (64 KiB of 64-byte records).
const CHUNK: usize = 1024;

pub(crate) struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(&mut self, v: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("a chunk with room").push(v);
        self.len += 1;
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK).and_then(|c| c.get(i % CHUNK))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }

    /// Bytes allocated (whole chunks).
    pub fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<T>() + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn indexes_across_chunks() {
        let mut s = super::Slab::default();
        for i in 0..5000u32 {
            s.push(i);
        }
        assert_eq!(s.len(), 5000);
        assert_eq!((s[0], s[1023], s[1024], s[4999]), (0, 1023, 1024, 4999));
        s[2048] = 7;
        assert_eq!(s.get(2048), Some(&7));
        assert_eq!(s.get(5000), None);
        assert_eq!(s.iter().count(), 5000);
    }
}
