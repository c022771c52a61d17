//! Idempotency claims: an atomic set-if-absent with expiry. Keys are stored as 128-bit hashes
//! so memory per claim is fixed whatever the key's length.

use crate::Error;
use parking_lot::Mutex;
use std::collections::HashMap;

pub(crate) struct Claims {
    map: Mutex<HashMap<u128, i64>>,
    max: usize,
}

fn hash128(scope: &str, key: &str) -> u128 {
    let h = |seed: u64| {
        ahash::RandomState::with_seeds(seed, 0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, 0x94d0_49bb_1331_11eb).hash_one((scope, key))
    };
    (h(1) as u128) << 64 | h(2) as u128
}

impl Claims {
    pub fn new(max: usize) -> Self {
        Claims { map: Mutex::new(HashMap::new()), max }
    }

    /// `true` for the first claim of `(scope, key)` until it expires, `false` for duplicates.
    pub fn claim(&self, scope: &str, key: &str, ttl_ms: i64, now_ms: i64) -> Result<bool, Error> {
        let h = hash128(scope, key);
        let mut map = self.map.lock();
        if map.get(&h).is_some_and(|&exp| exp > now_ms) {
            return Ok(false);
        }
        if map.len() >= self.max && !map.contains_key(&h) {
            map.retain(|_, exp| *exp > now_ms);
            if map.len() >= self.max {
                return Err(Error::new("limit_exceeded", format!("{} live claims, the configured maximum", self.max)));
            }
        }
        map.insert(h, now_ms.saturating_add(ttl_ms.max(0)));
        Ok(true)
    }

    /// Drops expired claims; returns how many are left.
    pub fn sweep(&self, now_ms: i64) -> usize {
        let mut map = self.map.lock();
        map.retain(|_, exp| *exp > now_ms);
        map.len()
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }
}
