//! Hash-keyed access predicates: equality, `in`, list membership, prefix and suffix. One hash
//! map from a 64-bit hash of (path, kind, value) to a posting list serves them all.
//!
//! Each is a **necessary, not sufficient** condition: two values can share a hash, so a hit
//! is only a candidate and verification decides. A miss is certain: equal values (including
//! `1 == 1.0`, which CEL calls equal) always hash alike.

use super::posting::Posting;
use crate::eval::Value;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

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

/// The hashes are keys already; hashing them again would waste time.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type KeyMap = HashMap<u64, Posting, BuildHasherDefault<IdentityHasher>>;

/// A hasher with fixed seeds: the same key hashes alike in every run (explain output and
/// stats stay reproducible).
fn hasher() -> impl Hasher {
    let seeds = ahash::RandomState::with_seeds(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89);
    std::hash::BuildHasher::build_hasher(&seeds)
}

/// The hash of a scalar under a path and kind, or `None` for values no key can stand for
/// (lists, maps, timestamps …).
pub(crate) fn key_hash(path: u32, kind: KeyKind, v: &Value<'_>) -> Option<u64> {
    let mut h = hasher();
    (path, kind).hash(&mut h);
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
    Some(h.finish())
}

/// The hash of a prefix or suffix needle (hashed as the string it is).
pub(crate) fn str_hash(path: u32, kind: KeyKind, s: &str) -> u64 {
    let mut h = hasher();
    (path, kind).hash(&mut h);
    (2u8, s).hash(&mut h);
    h.finish()
}

fn integral(d: f64) -> Option<i128> {
    (d.fract() == 0.0 && d.abs() < 18446744073709551616.0).then_some(d as i128)
}
