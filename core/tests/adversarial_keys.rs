//! Keys chosen to collide do not slow the engine down. Every table keyed by user data (index
//! keys, ids, owners, claims) hashes with a seed drawn per engine, so keys that an attacker
//! made collide under some known hash function are ordinary keys to us.
//!
//! Each case times adding 2,000 waits and firing each once, for adversarial keys and for
//! ordinary keys of the same lengths, and requires the adversarial run to cost less than
//! three times as much (in practice it costs the same; a table degraded by collisions costs
//! hundreds of times more).

use celmatch::{Engine, Subscription};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

const N: usize = 2000;

fn random_key(rng: &mut SmallRng, len: usize) -> String {
    (0..len).map(|_| char::from(b'a' + rng.gen_range(0..26))).collect()
}

/// `n` keys of length `len` whose hashes under a fixed, public seed share their low 10
/// bits: what an attacker precomputes against a table that hashes with a known function.
fn colliding_keys(rng: &mut SmallRng, n: usize, len: usize) -> Vec<String> {
    let public = ahash::RandomState::with_seeds(1, 2, 3, 4);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = random_key(rng, len);
        if public.hash_one(k.as_str()) & 0x3ff == 0 {
            out.push(k);
        }
    }
    out
}

/// Adds one wait per key (the key is its id, its owner and its literal) and fires each with
/// one event; the best of three runs.
fn cost(keys: &[String], condition: fn(&str) -> String, data: fn(&str) -> serde_json::Value) -> Duration {
    (0..3)
        .map(|_| {
            let engine = Engine::default();
            let t = Instant::now();
            for k in keys {
                engine.add(Subscription::wait(k.as_str(), "app/e").when(condition(k)).with_owner(k.as_str())).unwrap();
            }
            for k in keys {
                let fired = engine.process(&serde_json::json!({"name": "app/e", "data": data(k)})).unwrap();
                assert!(fired.iter().any(|f| f.id == *k), "{k} did not fire");
            }
            let spent = t.elapsed();
            engine.validate().unwrap();
            spent
        })
        .min()
        .unwrap()
}

fn assert_flat(case: &str, adversarial: &[String], ordinary: &[String], condition: fn(&str) -> String, data: fn(&str) -> serde_json::Value) {
    let (bad, good) = (cost(adversarial, condition, data), cost(ordinary, condition, data));
    let ratio = bad.as_secs_f64() / good.as_secs_f64();
    eprintln!("{case}: adversarial {bad:?}, ordinary {good:?}, ratio {ratio:.2}");
    assert!(ratio < 3.0, "{case}: adversarial keys cost {ratio:.1} times as much");
}

fn eq(k: &str) -> String {
    format!("async.data.id == {k:?}")
}
fn eq_data(k: &str) -> serde_json::Value {
    serde_json::json!({"id": k})
}
fn prefix(k: &str) -> String {
    format!("async.data.path.startsWith({k:?})")
}
fn prefix_data(k: &str) -> serde_json::Value {
    serde_json::json!({"path": format!("{k}/rest")})
}

#[test]
fn keys_that_collide_under_a_public_seed_cost_what_ordinary_keys_cost() {
    let mut rng = SmallRng::seed_from_u64(1);
    let adversarial = colliding_keys(&mut rng, N, 12);
    let ordinary: Vec<String> = (0..N).map(|_| random_key(&mut rng, 12)).collect();
    assert_flat("colliding equality keys, ids and owners", &adversarial, &ordinary, eq, eq_data);
    // Affix tables: many needles of one length, colliding too.
    assert_flat("colliding prefixes of equal length", &adversarial, &ordinary, prefix, prefix_data);
}

#[test]
fn keys_with_long_common_prefixes_cost_what_ordinary_keys_cost() {
    let mut rng = SmallRng::seed_from_u64(2);
    let common = "k".repeat(1000);
    let adversarial: Vec<String> = (0..N).map(|i| format!("{common}{i:06}")).collect();
    let ordinary: Vec<String> = (0..N).map(|_| random_key(&mut rng, 1006)).collect();
    assert_flat("equality keys with a 1,000-byte common prefix", &adversarial, &ordinary, eq, eq_data);
    assert_flat("prefixes with a 1,000-byte common prefix", &adversarial, &ordinary, prefix, prefix_data);
}
