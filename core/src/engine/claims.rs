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
    seeds: [ahash::RandomState; 2],
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
    pub fn new(max: usize) -> Self {
        Claims { inner: Mutex::default(), max, seeds: [ahash::RandomState::new(), ahash::RandomState::new()] }
    }

    fn hash128(&self, scope: &str, key: &str) -> u128 {
        (self.seeds[0].hash_one((scope, key)) as u128) << 64 | self.seeds[1].hash_one((scope, key)) as u128
    }

    /// `true` for the first claim of `(scope, key)` until it expires, `false` for duplicates.
    pub fn claim(&self, scope: &str, key: &str, ttl_ms: i64, now_ms: i64) -> Result<bool, Error> {
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
        let c = Claims::new(100);
        for i in 0..10 {
            assert!(c.claim("s", &format!("k{i}"), 1000, 0).unwrap());
            assert!(!c.claim("s", &format!("k{i}"), 1000, 999).unwrap());
        }
        assert!(c.claim("s", "k0", 1000, 1000).unwrap(), "expired: claimable again");
        c.sweep(1000, 4);
        assert_eq!(c.len(), 6, "4 of the 9 expired claims swept, k0 renewed");
        c.sweep(1000, usize::MAX);
        assert_eq!(c.len(), 1);
        assert!(!c.claim("s", "k0", 1000, 1500).unwrap(), "the renewed claim holds");
    }

    #[test]
    fn the_limit_reclaims_expired_claims_first() {
        let c = Claims::new(2);
        assert!(c.claim("s", "a", 10, 0).unwrap());
        assert!(c.claim("s", "b", 100, 0).unwrap());
        assert!(c.claim("s", "c", 10, 50).unwrap(), "a expired and made room");
        assert_eq!(c.claim("s", "d", 10, 50).unwrap_err().code(), "limit_exceeded");
    }
}
