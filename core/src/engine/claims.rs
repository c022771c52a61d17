//! Idempotency claims: an atomic set-if-absent with expiry. Keys are stored as 128-bit hashes
//! (keyed with this engine's random seed, so nobody can pick colliding keys) so memory per
//! claim is fixed whatever the key's length. A min-heap of expiries lets sweeping remove
//! expired claims in bounded batches instead of walking every claim.

use crate::Error;
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

pub(crate) struct Claims {
    inner: Mutex<Inner>,
    max: usize,
    /// The key hash seeds: random per engine, kept in a durable store so that reopening it
    /// hashes keys as before.
    seeds: [u64; 8],
    hashers: [ahash::RandomState; 2],
}

/// Eight random `u64`s for [`Claims::with_seeds`].
pub(crate) fn random_seeds() -> [u64; 8] {
    let r = ahash::RandomState::new();
    std::array::from_fn(|i| r.hash_one(i))
}

#[derive(Default)]
struct Inner {
    /// Key hash → expiry (epoch ms).
    map: HashMap<u128, i64>,
    /// Every expiry set, earliest first; an entry whose claim was renewed is stale and
    /// skipped when it comes up.
    expiries: BinaryHeap<Reverse<(i64, u128)>>,
}

impl Inner {
    /// Drops up to `limit` expired claims.
    fn sweep(&mut self, now_ms: i64, limit: usize) {
        let mut dropped = 0;
        while dropped < limit {
            match self.expiries.peek() {
                Some(&Reverse((exp, h))) if exp <= now_ms => {
                    self.expiries.pop();
                    if self.map.get(&h) == Some(&exp) {
                        self.map.remove(&h);
                        dropped += 1;
                    }
                }
                _ => break,
            }
        }
    }
}

impl Claims {
    pub fn with_seeds(max: usize, seeds: [u64; 8]) -> Self {
        let s = seeds;
        let hashers = [ahash::RandomState::with_seeds(s[0], s[1], s[2], s[3]), ahash::RandomState::with_seeds(s[4], s[5], s[6], s[7])];
        Claims { inner: Mutex::default(), max, seeds, hashers }
    }

    pub fn seeds(&self) -> [u64; 8] {
        self.seeds
    }

    fn hash128(&self, scope: &str, key: &str) -> u128 {
        (self.hashers[0].hash_one((scope, key)) as u128) << 64 | self.hashers[1].hash_one((scope, key)) as u128
    }

    /// Restores a claim read from a durable store.
    pub fn restore(&self, hash: u128, expires_ms: i64) {
        let mut inner = self.inner.lock();
        inner.map.insert(hash, expires_ms);
        inner.expiries.push(Reverse((expires_ms, hash)));
    }

    /// Every live claim (hash, expiry), for `save`.
    pub fn export(&self) -> Vec<(u128, i64)> {
        self.inner.lock().map.iter().map(|(&h, &e)| (h, e)).collect()
    }

    /// `true` for the first claim of `(scope, key)` until it expires, `false` for duplicates.
    /// A new claim is handed to `persist` (under the claims lock) before it counts: if that
    /// fails, nothing is claimed.
    pub fn claim(&self, scope: &str, key: &str, ttl_ms: i64, now_ms: i64, persist: &dyn Fn(u128, i64) -> Result<(), Error>) -> Result<bool, Error> {
        let h = self.hash128(scope, key);
        let mut inner = self.inner.lock();
        if inner.map.get(&h).is_some_and(|&exp| exp > now_ms) {
            return Ok(false);
        }
        if inner.map.len() >= self.max && !inner.map.contains_key(&h) {
            inner.sweep(now_ms, usize::MAX);
            if inner.map.len() >= self.max {
                return Err(Error::limit_exceeded(format!("{} live claims, the configured maximum", self.max)));
            }
        }
        let exp = now_ms.saturating_add(ttl_ms.max(0));
        persist(h, exp)?;
        inner.map.insert(h, exp);
        inner.expiries.push(Reverse((exp, h)));
        Ok(true)
    }

    /// Drops up to `limit` expired claims.
    pub fn sweep(&self, now_ms: i64, limit: usize) {
        self.inner.lock().sweep(now_ms, limit);
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_claim_wins_until_expiry_and_sweeps_are_bounded() {
        let c = Claims::with_seeds(100, random_seeds());
        for i in 0..10 {
            assert!(c.claim("s", &format!("k{i}"), 1000, 0, &|_, _| Ok(())).unwrap());
            assert!(!c.claim("s", &format!("k{i}"), 1000, 999, &|_, _| Ok(())).unwrap());
        }
        assert!(c.claim("s", "k0", 1000, 1000, &|_, _| Ok(())).unwrap(), "expired: claimable again");
        c.sweep(1000, 4);
        assert_eq!(c.len(), 6, "4 of the 9 expired claims swept, k0 renewed");
        c.sweep(1000, usize::MAX);
        assert_eq!(c.len(), 1);
        assert!(!c.claim("s", "k0", 1000, 1500, &|_, _| Ok(())).unwrap(), "the renewed claim holds");
    }

    #[test]
    fn the_limit_reclaims_expired_claims_first() {
        let c = Claims::with_seeds(2, random_seeds());
        assert!(c.claim("s", "a", 10, 0, &|_, _| Ok(())).unwrap());
        assert!(c.claim("s", "b", 100, 0, &|_, _| Ok(())).unwrap());
        assert!(c.claim("s", "c", 10, 50, &|_, _| Ok(())).unwrap(), "a expired and made room");
        assert_eq!(c.claim("s", "d", 10, 50, &|_, _| Ok(())).unwrap_err().code(), "limit_exceeded");
    }
}
