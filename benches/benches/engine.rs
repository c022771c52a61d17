//! criterion benchmarks, one group per operation. Workloads come from the scale benchmark's
//! generator (`celmatch_benches::workload`), seeded, so every run measures the same inputs.
//!
//! - `compile/{cold,cached}`: a new shape every time vs. a shape seen before (literal differs);
//! - `add` / `remove`: one wait into / out of an engine holding 100k;
//! - `process/{indexed,naive}/{1k,100k,1M}`: one event (JSON bytes) against N `eq` waits, and
//!   the simple alternative (evaluate every expression) at 1k, asserting the target fires;
//! - `key` and `claim`;
//! - `remove_owner/{1k,100k}`: removing an owner of k waits (throughput per wait: the cost
//!   per wait must not grow with k);
//! - `stats/1M`: `stats()` on an engine holding 1M `eq` waits.

use celmatch::{Config, Engine};
use celmatch_benches::workload::wait_and_event;
use celmatch_benches::Shape;
use celmatch::Subscription;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use serde_json::json;

const SEED: u64 = 42;

fn engine_with(shape: Shape, n: u64) -> Engine {
    let engine = Engine::new(Config::default());
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        for r in engine.add_many(chunk.iter().map(|&i| wait_and_event(shape, SEED, i).0).collect()) {
            r.unwrap();
        }
    }
    engine
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    let engine = Engine::new(Config::default());
    let mut i = 0u64;
    g.bench_function("cold", |b| {
        b.iter(|| {
            // A new field name makes a new shape every time: parse and analyse in full.
            i += 1;
            engine.compile(&format!("async.data.f{i} == \"x\" && async.data.amount > 100")).unwrap()
        })
    });
    g.bench_function("cached", |b| {
        b.iter(|| {
            i += 1;
            engine.compile(&format!("async.data.id == \"{i}\" && async.data.amount > 100")).unwrap()
        })
    });
    g.finish();
}

fn add_remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("add_remove");
    let engine = engine_with(Shape::Eq, 100_000);
    let mut i = 1_000_000u64;
    g.bench_function("add/100k", |b| {
        b.iter_batched(
            || {
                i += 1;
                wait_and_event(Shape::Eq, SEED, i).0
            },
            |s| engine.add(s).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let mut j = 0u64;
    g.bench_function("remove+add/100k", |b| {
        b.iter(|| {
            j = (j + 1) % 100_000;
            assert!(engine.remove(&format!("w{j}")).unwrap());
            engine.add(wait_and_event(Shape::Eq, SEED, j).0).unwrap();
        })
    });
    g.finish();
}

fn process(c: &mut Criterion) {
    let mut g = c.benchmark_group("process");
    g.sample_size(30);
    for (label, n) in [("1k", 1_000u64), ("100k", 100_000), ("1M", 1_000_000)] {
        let engine = engine_with(Shape::Eq, n);
        let mut k = 0u64;
        g.bench_with_input(BenchmarkId::new("indexed", label), &n, |b, &n| {
            b.iter_batched(
                || {
                    k = (k * 7919 + 1) % n;
                    (k, serde_json::to_vec(&wait_and_event(Shape::Eq, SEED, k).1).unwrap())
                },
                |(k, bytes)| {
                    let fired = engine.process_bytes(&bytes).unwrap();
                    assert_eq!(fired.len(), 1);
                    engine.add(wait_and_event(Shape::Eq, SEED, k).0).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    // The simple alternative at 1k: parse, then evaluate every expression.
    let engine = Engine::new(Config::default());
    let compiled: Vec<_> = (0..1000).map(|i| engine.compile(wait_and_event(Shape::Eq, SEED, i).0.condition.as_deref().unwrap()).unwrap()).collect();
    let bytes = serde_json::to_vec(&wait_and_event(Shape::Eq, SEED, 500).1).unwrap();
    g.bench_function(BenchmarkId::new("naive", "1k"), |b| {
        b.iter(|| {
            let ev: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let hits = compiled.iter().filter(|c| matches!(c.matches(&ev), Ok(true))).count();
            assert_eq!(hits, 1);
        })
    });
    g.finish();
}

fn keys_and_claims(c: &mut Criterion) {
    let mut g = c.benchmark_group("keys");
    let engine = Engine::new(Config::default());
    let ev = json!({"name": "app/cart.updated", "data": {"cartId": "c-123", "user": {"id": 7, "plan": "pro"}}});
    g.bench_function("key/string", |b| b.iter(|| engine.key("event.data.cartId", &ev).unwrap()));
    g.bench_function("key/composite", |b| b.iter(|| engine.key("event.data.user.plan + '-' + string(event.data.user.id)", &ev).unwrap()));
    let mut i = 0u64;
    g.bench_function("claim/new", |b| {
        b.iter(|| {
            i += 1;
            assert!(engine.claim("cart", &i.to_string(), 60_000, Some(0)).unwrap());
        })
    });
    g.bench_function("claim/duplicate", |b| b.iter(|| assert!(!engine.claim("cart", "1", 60_000, Some(0)).unwrap())));
    g.finish();
}

fn owners_and_stats(c: &mut Criterion) {
    let mut g = c.benchmark_group("remove_owner");
    g.sample_size(10);
    for k in [1_000u64, 100_000] {
        g.throughput(Throughput::Elements(k));
        g.bench_function(BenchmarkId::from_parameter(if k == 1_000 { "1k" } else { "100k" }), |b| {
            b.iter_batched(
                || {
                    let engine = Engine::new(Config::default());
                    for i in 0..k {
                        engine.add(wait_and_event(Shape::Eq, SEED, i).0.with_owner("run-1")).unwrap();
                    }
                    engine.add(Subscription::wait("other", "app/x").with_owner("run-2")).unwrap();
                    engine
                },
                |engine| assert_eq!(engine.remove_owner("run-1").unwrap(), k as usize),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    let mut g = c.benchmark_group("stats");
    let engine = engine_with(Shape::Eq, 1_000_000);
    g.bench_function("1M", |b| b.iter(|| assert_eq!(engine.stats().subscriptions, 1_000_000)));
    g.finish();
}

criterion_group!(benches, compile, add_remove, process, keys_and_claims, owners_and_stats);
criterion_main!(benches);
