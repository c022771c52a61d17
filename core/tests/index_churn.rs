//! Index structures under churn: thousands of distinct needles, prefixes, suffixes and
//! intervals on one path, with removals and re-adds, compared against one-by-one evaluation.
//! (The differential test draws literals from small pools; this one makes the `contains`
//! automata grow, merge and carry removed needles.)

use celmatch::{Engine, Subscription};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeSet;

fn condition(i: usize) -> String {
    match i % 4 {
        0 => format!("async.data.text.contains(\"n{i}x\")"),
        1 => format!("async.data.text.startsWith(\"p{i}-\")"),
        2 => format!("async.data.text.endsWith(\"-s{i}\")"),
        _ => format!("async.data.amount >= {} && async.data.amount < {}", i * 10, i * 10 + (i % 7) * 5 + 1),
    }
}

#[test]
fn many_distinct_literals_with_churn_match_one_by_one_evaluation() {
    let n = 4000;
    let engine = Engine::default();
    let mut live: BTreeSet<usize> = BTreeSet::new();
    let mut rng = SmallRng::seed_from_u64(3);
    for i in 0..n {
        engine.add(Subscription::wait(format!("s{i}"), "e").when(condition(i))).unwrap();
        live.insert(i);
    }
    // Remove half (dead needles stay in the automata until they merge), re-add a quarter.
    for i in (0..n).filter(|i| i % 2 == 0) {
        assert!(engine.remove(&format!("s{i}")).unwrap());
        live.remove(&i);
    }
    for i in (0..n).filter(|i| i % 4 == 0) {
        engine.add(Subscription::wait(format!("s{i}"), "e").when(condition(i))).unwrap();
        live.insert(i);
    }
    engine.validate().unwrap();
    let reference: Vec<_> = (0..n).map(|i| engine.compile(&condition(i)).unwrap()).collect();
    for _ in 0..400 {
        let (a, b) = (rng.gen_range(0..n), rng.gen_range(0..n));
        let text = format!("p{a}-body n{b}x n{}x tail-s{}", rng.gen_range(0..n), rng.gen_range(0..n));
        let ev = json!({"name": "e", "data": {"text": text, "amount": rng.gen_range(0..(n * 10)) as i64}});
        let expected: BTreeSet<String> = live.iter().filter(|&&i| reference[i].matches(&ev) == Ok(true)).map(|i| format!("s{i}")).collect();
        let fired: BTreeSet<String> = engine.process(&ev).unwrap().into_iter().map(|f| f.id).collect();
        assert_eq!(fired, expected, "event {ev}");
        for id in &fired {
            let i: usize = id[1..].parse().unwrap();
            engine.add(Subscription::wait(id.clone(), "e").when(condition(i))).unwrap();
        }
    }
    engine.validate().unwrap();
}
