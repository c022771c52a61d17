//! Engine behaviour that the shared JSON sequences (`tests/cases/engine/*.json`) cannot
//! express: thread-safety of the types, concurrent use, evaluation-error counts, `explain`,
//! statistics, memory over many add/remove cycles, `process_many` and `claim_event_id`.
//!
//! The stress test runs for `CELMATCH_STRESS_MS` milliseconds (default 2000); the memory test
//! adds and removes `CELMATCH_MEMORY_SUBS` subscriptions (default 200,000).

use celmatch::{Config, Dialect, Engine, EventFields, Fired, Kind, ManualClock, Subscription};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An engine on a manual clock at `T0`, and the clock.
fn engine_with(config: Config) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    (Engine::new(Config { clock: clock.clone(), ..config }), clock)
}

fn engine() -> (Engine, Arc<ManualClock>) {
    engine_with(Config::default())
}

fn ids(fired: &[Fired]) -> Vec<&str> {
    fired.iter().map(|f| f.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Thread-safety of the public types

/// `Engine` is meant to be shared behind an `Arc` across threads: a compile-time check.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Engine>();
    send_sync::<Arc<Engine>>();
    send_sync::<Config>();
    send_sync::<Subscription>();
    send_sync::<Fired>();
    send_sync::<celmatch::Stats>();
    send_sync::<celmatch::Error>();
    send_sync::<celmatch::CompileError>();
    send_sync::<celmatch::Compiled>();
    send_sync::<ManualClock>();
};

/// Whether a type is `UnwindSafe`, answered at compile time but reported at run time
/// (autoref specialization), so that one missing impl fails one test instead of the build.
mod unwind_probe {
    use std::marker::PhantomData;
    use std::panic::UnwindSafe;

    pub struct Probe<T>(pub PhantomData<T>);
    pub trait Yes {
        fn unwind_safe(&self) -> bool {
            true
        }
    }
    impl<T: UnwindSafe> Yes for Probe<T> {}
    pub trait No {
        fn unwind_safe(&self) -> bool {
            false
        }
    }
    impl<T> No for &Probe<T> {}
}

macro_rules! is_unwind_safe {
    ($t:ty) => {{
        #[allow(unused_imports)]
        use unwind_probe::{No, Yes};
        (&unwind_probe::Probe::<$t>(std::marker::PhantomData)).unwind_safe()
    }};
}

#[test]
fn unwind_probe_tells_safe_from_unsafe() {
    assert!(is_unwind_safe!(i32));
    assert!(!is_unwind_safe!(&std::cell::Cell<i32>));
}

/// STYLE.md asks for `Send + Sync + UnwindSafe` on `Engine`, like aho-corasick's `testoibits`.
/// `Engine` holds `Config`, which holds an `Arc<dyn Clock>`; `Clock` does not require
/// `RefUnwindSafe`, so the `Arc` (and with it `Config` and `Engine`) is not `UnwindSafe`.
#[test]
fn engine_is_unwind_safe() {
    let types = [
        ("Engine", is_unwind_safe!(Engine)),
        ("Config", is_unwind_safe!(Config)),
        ("Subscription", is_unwind_safe!(Subscription)),
        ("Fired", is_unwind_safe!(Fired)),
        ("Stats", is_unwind_safe!(celmatch::Stats)),
        ("Error", is_unwind_safe!(celmatch::Error)),
        ("CompileError", is_unwind_safe!(celmatch::CompileError)),
        ("Compiled", is_unwind_safe!(celmatch::Compiled)),
        ("ManualClock", is_unwind_safe!(ManualClock)),
    ];
    let not: Vec<&str> = types.iter().filter(|(_, ok)| !ok).map(|(name, _)| *name).collect();
    assert!(not.is_empty(), "not UnwindSafe: {not:?}");
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Every subscription ends exactly once: fired (by an event, or from lookback when added),
/// expired or removed, whichever thread gets there first. Four threads share one engine:
/// an adder, a remover (by id and by owner), a processor and an expirer that moves the clock.
/// Afterwards each id's endings are counted across threads; what is still pending is removed
/// at the end, and what `remove_owner` removed is matched per owner.
#[test]
fn concurrent_add_remove_process_expire_ends_each_subscription_once() {
    const KEYS: u64 = 64;
    const GROUP: u64 = 4; // subscriptions per owner
    let run_for = Duration::from_millis(env("CELMATCH_STRESS_MS", 2000));
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Arc::new(Engine::new(Config { clock: clock.clone(), lookback_max_events: 8, lookback_max_age_ms: 50, ..Config::default() }));
    let next_id = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let key_of = |n: u64| n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58; // 0..64
    let owner_of = |n: u64| format!("run-{}", n / GROUP);

    // What a thread saw end, by id; and what remove_owner reported, by owner.
    #[derive(Default)]
    struct Seen {
        ended: Vec<(u64, &'static str)>,
        by_owner: HashMap<String, usize>,
        ops: u64,
    }
    let parse = |id: &str| id.strip_prefix("s").and_then(|n| n.parse::<u64>().ok()).expect("an id the test made");

    let adder = {
        let (engine, next_id, stop) = (engine.clone(), next_id.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(1);
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Subscription> = (0..rng.gen_range(1..8))
                    .map(|_| {
                        let n = next_id.fetch_add(1, Ordering::SeqCst);
                        let k = key_of(n);
                        let mut s = if n % 5 == 0 { Subscription::cancel(format!("s{n}"), "app/e") } else { Subscription::wait(format!("s{n}"), "app/e") };
                        s = s.when(match n % 3 {
                            0 => format!("async.data.k == {k}"),
                            1 => format!("async.data.k == {k} && async.data.tag.startsWith(\"t\")"),
                            _ => format!("async.data.k in [{k}, {}]", k + KEYS),
                        });
                        s = s.with_owner(owner_of(n));
                        if n % 4 != 0 {
                            s = s.with_timeout_ms(rng.gen_range(1..100));
                        }
                        if s.kind == Kind::Wait && n % 7 == 0 {
                            s = s.with_lookback_ms(30);
                        }
                        s
                    })
                    .collect();
                let names: Vec<String> = batch.iter().map(|s| s.id.clone()).collect();
                for (id, r) in names.iter().zip(engine.add_many(batch)) {
                    if let Some(f) = r.expect("valid subscription") {
                        assert_eq!(&f.id, id);
                        seen.ended.push((parse(&f.id), "fired-at-add"));
                    }
                    seen.ops += 1;
                }
            }
            seen
        })
    };
    let remover = {
        let (engine, next_id, stop) = (engine.clone(), next_id.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(2);
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                let top = next_id.load(Ordering::SeqCst);
                if top == 0 {
                    continue;
                }
                let n = rng.gen_range(top.saturating_sub(200)..top);
                if rng.gen_bool(0.9) {
                    if engine.remove(&format!("s{n}")).unwrap() {
                        seen.ended.push((n, "removed"));
                    }
                } else {
                    let owner = owner_of(n);
                    let removed = engine.remove_owner(&owner).unwrap();
                    *seen.by_owner.entry(owner).or_default() += removed;
                }
                seen.ops += 1;
                std::thread::yield_now();
            }
            seen
        })
    };
    let processor = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(3);
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                let k = rng.gen_range(0..2 * KEYS);
                let tag = if rng.gen_bool(0.5) { "tx" } else { "ux" };
                let event = json!({"name": "app/e", "data": {"k": k, "tag": tag}});
                let fired = if rng.gen_bool(0.5) { engine.process(&event) } else { engine.process_bytes(event.to_string().as_bytes()) };
                for f in fired.expect("a valid event") {
                    let n = parse(&f.id);
                    // A fired subscription's condition held for this event.
                    assert!(key_of(n) == k || key_of(n) + KEYS == k, "s{n} (key {}) fired for k = {k}", key_of(n));
                    assert_eq!(f.owner.as_deref(), Some(owner_of(n).as_str()));
                    assert_eq!(f.kind, if n % 5 == 0 { Kind::Cancel } else { Kind::Wait });
                    seen.ended.push((n, "fired"));
                }
                seen.ops += 1;
            }
            seen
        })
    };
    let expirer = {
        let (engine, clock, stop) = (engine.clone(), clock.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                clock.advance(2);
                for id in engine.expire(None).unwrap() {
                    seen.ended.push((parse(&id), "expired"));
                }
                seen.ops += 1;
                // Every invariant holds between any two operations of the other threads.
                if seen.ops % 64 == 0 {
                    engine.validate().unwrap();
                }
                std::thread::yield_now();
            }
            seen
        })
    };

    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = [adder, remover, processor, expirer].into_iter().map(|t| t.join().expect("no thread panicked")).collect();
    let added = next_id.load(Ordering::SeqCst);
    engine.validate().unwrap();

    let mut endings: HashMap<u64, Vec<&'static str>> = HashMap::new();
    for s in &seen {
        for &(n, how) in &s.ended {
            assert!(n < added, "s{n} ended but was never added");
            endings.entry(n).or_default().push(how);
        }
    }
    for (n, how) in &endings {
        assert_eq!(how.len(), 1, "s{n} ended {} times: {how:?}", how.len());
    }
    // Still pending: remove now. What is neither ended nor pending went with its owner.
    let mut gone_with_owner: HashMap<String, usize> = HashMap::new();
    for n in 0..added {
        if endings.contains_key(&n) {
            continue;
        }
        if engine.remove(&format!("s{n}")).unwrap() {
            endings.insert(n, vec!["removed-at-end"]);
        } else {
            *gone_with_owner.entry(owner_of(n)).or_default() += 1;
        }
    }
    let mut reported: HashMap<String, usize> = HashMap::new();
    for s in &seen {
        for (o, &c) in &s.by_owner {
            *reported.entry(o.clone()).or_default() += c;
        }
    }
    reported.retain(|_, c| *c > 0);
    assert_eq!(gone_with_owner, reported, "remove_owner counts must match the subscriptions that vanished");
    assert_eq!(engine.len(), 0);
    assert_eq!(engine.stats().subscriptions, 0);
    assert_eq!(engine.stats().pending_deadlines, 0);
    engine.validate().unwrap();

    let mut tally: HashMap<&str, usize> = HashMap::new();
    for how in endings.values() {
        *tally.entry(how[0]).or_default() += 1;
    }
    tally.insert("by-owner", gone_with_owner.values().sum());
    let ops: Vec<u64> = seen.iter().map(|s| s.ops).collect();
    eprintln!("stress: {added} subscriptions in {run_for:?}; endings {tally:?}; ops per thread (add, remove, process, expire) {ops:?}");
    assert!(added > 100, "the adder made too little progress: {added}");
    for how in ["fired", "expired", "removed"] {
        assert!(tally.get(how).copied().unwrap_or(0) > 0, "no subscription was {how}: the test exercised too little ({tally:?})");
    }
}

/// Many threads process the same event at once: every matching subscription fires exactly
/// once across them all.
#[test]
fn concurrent_processing_of_one_event_fires_each_subscription_once() {
    let (engine, _clock) = engine();
    let engine = Arc::new(engine);
    for round in 0..20 {
        let subs: Vec<Subscription> = (0..500)
            .map(|i| {
                let s = Subscription::wait(format!("r{round}-{i}"), "app/e").with_owner(format!("run-{i}"));
                match i % 3 {
                    0 => s,
                    1 => s.when("async.data.k == 1"),
                    _ => s.when(format!("async.data.n > {}", i % 50)),
                }
            })
            .collect();
        assert!(engine.add_many(subs).iter().all(|r| matches!(r, Ok(None))));
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (engine, barrier) = (engine.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    engine.process(&json!({"name": "app/e", "data": {"k": 1, "n": 100}})).unwrap()
                })
            })
            .collect();
        let mut all: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).map(|f| f.id).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(n, all.len(), "round {round}: a subscription fired twice");
        assert_eq!(n, 500, "round {round}: every subscription matches the event");
        assert!(engine.is_empty());
    }
}

/// Threads race with different events that all satisfy one wait: it fires exactly once, to
/// one of them, and is gone for every later call (the claim is atomic; settling is later).
#[test]
fn racing_events_fire_one_wait_exactly_once() {
    let config = Config { cancel_removes_owner: true, ..Config::default() };
    let (engine, _clock) = engine_with(config);
    let engine = Arc::new(engine);
    for round in 0..300 {
        let id = format!("w{round}");
        engine.add(Subscription::wait(&id, "app/paid").when("async.data.order == 'o-1'").with_owner(format!("run{round}"))).unwrap();
        // A cancellation of the same owner that only event 3 satisfies: it fires once and
        // finds the wait claimed already (by event 3 itself, in registration order, or by
        // another event), so removing the owner's other subscriptions removes nothing twice.
        engine.add(Subscription::cancel(format!("c{round}"), "app/paid").when("async.data.n > 2").with_owner(format!("run{round}"))).unwrap();
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (engine, barrier) = (engine.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let text = format!(r#"{{"name": "app/paid", "id": "e{t}", "data": {{"order": "o-1", "n": {t}}}}}"#);
                    engine.process_bytes(text.as_bytes()).unwrap()
                })
            })
            .collect();
        let fired: Vec<Fired> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        let waits = fired.iter().filter(|f| f.id == id).count();
        let cancels = fired.iter().filter(|f| f.kind == Kind::Cancel).count();
        assert_eq!((waits, cancels, fired.len()), (1, 1, 2), "round {round}: {fired:?}");
        assert!(!engine.contains(&id) && engine.get(&id).is_none(), "round {round}: a fired wait is still listed");
        assert!(engine.is_empty(), "round {round}");
        assert!(!engine.remove(&id).unwrap(), "round {round}: removing a fired wait");
        assert_eq!(engine.remove_owner(&format!("run{round}")).unwrap(), 0);
        engine.validate().unwrap();
    }
    assert!(engine.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Evaluation errors

#[test]
fn eval_errors_are_counted_per_subscription() {
    let (engine, _clock) = engine();
    // Errors are counted when a subscription is evaluated, that is, when the index makes it a
    // candidate: here `k == 2` (w1) and the presence of `s` (w2) do.
    engine.add(Subscription::wait("w1", "app/x").when("async.data.k == 2 && async.data.n > 5")).unwrap();
    engine.add(Subscription::wait("w2", "app/x").when("async.data.s.matches(async.data.re)")).unwrap();
    engine.add(Subscription::wait("w3", "app/x").when("async.data.k == 1")).unwrap();
    assert_eq!(engine.eval_errors("w1"), None);
    assert_eq!(engine.eval_errors("nobody"), None);

    for _ in 0..3 {
        assert_eq!(engine.process(&json!({"name": "app/x", "data": {"k": 2, "s": "a"}})).unwrap(), vec![], "errors are no match, not an error");
    }
    let (n, last) = engine.eval_errors("w1").expect("w1 errs on a missing field");
    assert_eq!((n, last.code()), (3, "no_such_key"));
    // The count and kind live in the record; the full message comes from explaining the event.
    let ex = engine.explain("w1", Some(&json!({"name": "app/x", "data": {"k": 2, "s": "a"}}))).unwrap();
    assert!(ex["verdict"]["reason"].as_str().unwrap().contains("data.n"), "{}", ex["verdict"]);
    assert_eq!(engine.eval_errors("w2").map(|(n, e)| (n, e.code())), Some((3, "no_such_key")));
    assert_eq!(engine.eval_errors("w3"), None, "w3 is false, not an error (and it is not a candidate)");

    engine.process(&json!({"name": "app/x", "data": {"k": 2, "n": "six", "s": "a", "re": "("}})).unwrap();
    assert_eq!(engine.eval_errors("w1").map(|(n, e)| (n, e.code())), Some((4, "no_such_overload")), "the count grows; the last error is kept");
    assert_eq!(engine.eval_errors("w2").map(|(n, e)| (n, e.code())), Some((4, "invalid_argument")));
    assert_eq!(engine.stats().eval_errors, 8);

    // explain shows them too.
    let ex = engine.explain("w1", None).unwrap();
    assert_eq!(ex["eval_errors"]["count"], 4);
    assert_eq!(ex["eval_errors"]["last"]["code"], "no_such_overload");

    // A subscription that errs on some events still fires on a good one.
    assert_eq!(ids(&engine.process(&json!({"name": "app/x", "data": {"k": 2, "n": 6, "s": "a", "re": "a"}})).unwrap()), ["w1", "w2"]);
    assert_eq!(engine.eval_errors("w1"), None, "the count dies with the subscription");
    assert_eq!(engine.stats().eval_errors, 0);
}

#[test]
fn eval_errors_in_lenient_dialect() {
    let (engine, _clock) = engine_with(Config { dialect: Dialect::Lenient, ..Config::default() });
    engine.add(Subscription::wait("missing", "app/x").when("async.data.n > 5")).unwrap();
    engine.add(Subscription::wait("div", "app/x").when("async.data.a / async.data.b > 1")).unwrap();
    engine.process(&json!({"name": "app/x", "data": {"a": 1, "b": 0}})).unwrap();
    assert_eq!(engine.eval_errors("missing"), None, "lenient: a missing field is null, not an error");
    assert_eq!(engine.eval_errors("div").map(|(n, e)| (n, e.code())), Some((1, "division_by_zero")));
}

/// A new subscription under a reused id must not inherit the error count of the one that
/// had the id before.
#[test]
fn eval_errors_do_not_carry_over_to_a_reused_id() {
    let (engine, _clock) = engine();
    engine.add(Subscription::wait("w1", "app/x").when("async.data.n / async.data.d > 5")).unwrap();
    engine.process(&json!({"name": "app/x", "data": {"n": 1, "d": 0}})).unwrap();
    assert_eq!(engine.eval_errors("w1").map(|(n, _)| n), Some(1));
    assert!(engine.remove("w1").unwrap());
    engine.add(Subscription::wait("w1", "app/y")).unwrap();
    assert_eq!(engine.eval_errors("w1").map(|(n, e)| (n, e.code().to_string())), None, "the new w1 has never been evaluated");
    assert!(engine.explain("w1", None).unwrap().get("eval_errors").is_none());
}

// ---------------------------------------------------------------------------------------------
// explain

#[test]
fn explain_says_why_an_event_did_not_fire() {
    let (engine, clock) = engine();
    engine
        .add(
            Subscription::wait("w1", "app/invoice.approved")
                .when("async.data.invoiceId == \"inv-1\" && async.data.amount > 100")
                .with_owner("r1")
                .with_not_before_ms(T0 - 1000)
                .with_exclude_event_id("evt-trigger")
                .with_deadline_ms(T0 + 60_000),
        )
        .unwrap();
    let verdict = |event: Json| {
        let ex = engine.explain("w1", Some(&event)).expect("w1 is pending");
        let v = ex["verdict"].clone();
        (v["fires"].as_bool().expect("fires is a bool"), v["reason"].as_str().expect("a reason").to_string(), v)
    };
    let base = json!({"name": "app/invoice.approved", "id": "evt-2", "ts": T0, "data": {"invoiceId": "inv-1", "amount": 150}});
    let with = |patch: &dyn Fn(&mut Json)| {
        let mut e = base.clone();
        patch(&mut e);
        e
    };

    let (fires, reason, _) = verdict(with(&|e| e["name"] = json!("app/invoice.paid")));
    assert!(!fires && reason.contains("app/invoice.paid") && reason.contains("app/invoice.approved"), "{reason}");

    let (fires, reason, _) = verdict(with(&|e| e["id"] = json!("evt-trigger")));
    assert!(!fires && reason.contains("excluded"), "{reason}");

    let (fires, reason, _) = verdict(with(&|e| e["ts"] = json!(T0 - 5000)));
    assert!(!fires && reason.contains("not_before"), "{reason}");

    let (fires, reason, v) = verdict(with(&|e| e["data"]["amount"] = json!(99)));
    assert!(!fires && reason.contains("false"), "{reason}");
    let atoms = v["conjunctions"].to_string();
    assert!(atoms.contains("amount") && atoms.contains("false") && atoms.contains("invoiceId"), "each atom's value is shown: {atoms}");

    let (fires, reason, v) = verdict(with(&|e| e["data"] = json!({"invoiceId": "inv-1"})));
    assert!(!fires && reason.contains("evaluation error") && reason.contains("no_such_key"), "{reason}");
    assert!(v["conjunctions"].to_string().contains("no_such_key"), "{v}");

    let (fires, reason, _) = verdict(json!("not an object"));
    assert!(!fires && reason.contains("invalid event"), "{reason}");

    let (fires, reason, _) = verdict(base.clone());
    assert!(fires, "{reason}");

    clock.advance(60_000);
    let (fires, reason, _) = verdict(base.clone());
    assert!(!fires && reason.contains("deadline"), "{reason}");
    clock.set(T0);

    // explain reads; it never consumes.
    assert_eq!(engine.len(), 1);
    assert_eq!(ids(&engine.process(&base).unwrap()), ["w1"]);
    assert_eq!(engine.explain("w1", Some(&base)), None, "fired: no longer pending");
}

#[test]
fn explain_without_an_event_shows_the_indexing() {
    let (engine, _clock) = engine();
    engine.add(Subscription::wait("w1", "app/x").when("async.data.k == 1 && async.data.n > 5").with_owner("r1").with_deadline_ms(T0 + 5)).unwrap();
    engine.add(Subscription::cancel("c1", "app/x").when("event.data.u == async.data.u").with_trigger(json!({"data": {"u": "u1"}}))).unwrap();
    engine.add(Subscription::wait("w2", "app/x")).unwrap();

    let ex = engine.explain("w1", None).unwrap();
    assert_eq!(ex["id"], "w1");
    assert_eq!(ex["kind"], "wait");
    assert_eq!(ex["event"], "app/x");
    assert_eq!(ex["owner"], "r1");
    assert_eq!(ex["deadline_ms"], T0 + 5);
    assert_eq!(ex["classes"], json!(["eq"]), "the equality is the access predicate: {ex}");
    assert!(ex.get("verdict").is_none());

    let ex = engine.explain("c1", None).unwrap();
    assert_eq!(ex["kind"], "cancel");
    assert!(ex["params"].to_string().contains("u1"), "the trigger's value is bound as a parameter: {ex}");

    let ex = engine.explain("w2", None).unwrap();
    assert!(ex["condition"].as_str().unwrap().contains("every event"), "{ex}");
    assert_eq!(ex["classes"], json!(["scan"]));

    assert_eq!(engine.explain("nobody", None), None);
}

// ---------------------------------------------------------------------------------------------
// Statistics

#[test]
fn stats_count_by_class() {
    let (engine, _clock) = engine_with(Config { lookback_max_events: 10, ..Config::default() });
    let subs = [
        ("eq", "async.data.k == 1"),
        ("eq2", "async.data.k == 2"),
        ("in", "async.data.k in [1, 2, 3]"),
        ("prefix", "async.data.s.startsWith(\"ab\")"),
        ("suffix", "async.data.s.endsWith(\"yz\")"),
        ("contains", "async.data.s.contains(\"mm\")"),
        ("range", "async.data.n > 5"),
        ("interval", "async.data.n > 5 && async.data.n < 10"),
        ("presence", "has(async.data.p)"),
        ("elem", "\"vip\" in async.data.tags"),
        ("scan", "!has(async.data.p)"),
        ("or", "async.data.k == 9 || async.data.s.startsWith(\"q\")"),
    ];
    for (id, cond) in subs {
        engine.add(Subscription::wait(id, "app/x").when(cond).with_owner("r1")).unwrap();
    }
    engine.add(Subscription::wait("none", "app/y").with_owner("r2").with_timeout_ms(1000)).unwrap();
    engine.add(Subscription::cancel("c1", "app/z").when("async.data.k == 7")).unwrap();
    engine.claim("s", "k", 1000, None).unwrap();
    engine.process(&json!({"name": "app/unwatched", "data": {}})).unwrap();

    let s = engine.stats();
    eprintln!("{}", s.to_json());
    assert_eq!((s.subscriptions, s.waits, s.cancels), (14, 13, 1));
    assert_eq!(s.owners, 2);
    assert_eq!(s.event_names, 3);
    let by: HashMap<&str, u64> = s.by_class.iter().map(|(k, &v)| (k.as_str(), v)).collect();
    let want: HashMap<&str, u64> = [
        ("eq", 1 + 1 + 3 + 1 + 1), // eq, eq2, one per `in` element, or's first branch, c1
        ("prefix", 1 + 1),         // prefix, or's second branch
        ("suffix", 1),
        ("contains", 1),
        ("range", 1),
        ("interval", 1),
        ("presence", 1),
        ("elem", 1),
        ("scan", 2), // `!has(…)` and the subscription without a condition
    ]
    .into_iter()
    .collect();
    assert_eq!(by, want);
    assert_eq!(s.scan, 2);
    assert_eq!(s.pending_deadlines, 1);
    assert_eq!(s.claims, 1);
    assert_eq!(s.lookback_events, 1);
    assert!(s.shapes >= 10 && s.shapes <= 12, "eq and eq2 share a shape: {}", s.shapes);
    assert!(s.memory_bytes > 0);
    assert_eq!(s.to_json()["by_class"]["eq"], 7);

    // Everything removed: nothing left in any class.
    assert_eq!(engine.remove_owner("r1").unwrap(), 12);
    assert!(engine.remove("none").unwrap());
    assert!(engine.remove("c1").unwrap());
    let s = engine.stats();
    assert_eq!((s.subscriptions, s.owners, s.event_names, s.shapes, s.scan, s.pending_deadlines), (0, 0, 0, 0, 0, 0));
    assert!(s.by_class.is_empty(), "{:?}", s.by_class);
}

// ---------------------------------------------------------------------------------------------
// Memory

/// Adding and removing many subscriptions (every way one can end) leaves the engine no
/// bigger at the end than halfway through.
#[test]
fn memory_does_not_grow_over_add_remove_cycles() {
    let total = env("CELMATCH_MEMORY_SUBS", 200_000);
    const BATCH: u64 = 2_000;
    let (engine, clock) = engine_with(Config { lookback_max_events: 0, ..Config::default() });
    let cycles = (total / BATCH).max(10);
    let mut after_warmup = None;
    let started = Instant::now();
    for cycle in 0..cycles {
        let subs: Vec<Subscription> = (0..BATCH)
            .map(|i| {
                let n = cycle * BATCH + i;
                let s = Subscription::wait(format!("c{cycle}-{i}"), format!("app/e{}", i % 7)).with_owner(format!("run-{cycle}-{}", i % 100));
                let s = match i % 6 {
                    0 => s.when(format!("async.data.id == \"id-{n}\"")),
                    1 => s.when(format!("async.data.n > {n} && async.data.n < {}", n + 10)),
                    2 => s.when(format!("async.data.s.startsWith(\"p{n}\")")),
                    3 => s.when(format!("\"t{n}\" in async.data.tags")),
                    4 => s.when("event.data.u == async.data.u").with_trigger(json!({"data": {"u": format!("u{n}")}})),
                    _ => s,
                };
                if i % 4 == 0 {
                    s.with_timeout_ms(10)
                } else {
                    s
                }
            })
            .collect();
        assert!(engine.add_many(subs).into_iter().all(|r| matches!(r, Ok(None))));
        engine.claim("cycle", &format!("k{cycle}"), 5, None).unwrap();
        // End them: a quarter by expiry, some by events, the rest by id and by owner.
        clock.advance(10);
        let expired = engine.expire(None).unwrap().len() as u64;
        assert_eq!(expired, BATCH / 4);
        for i in (0..BATCH).filter(|i| i % 4 != 0 && i % 6 == 5) {
            engine.process(&json!({"name": format!("app/e{}", i % 7), "data": {}})).unwrap();
        }
        for i in (0..BATCH).filter(|i| i % 2 == 1) {
            engine.remove(&format!("c{cycle}-{i}")).unwrap();
        }
        for o in 0..100 {
            engine.remove_owner(&format!("run-{cycle}-{o}")).unwrap();
        }
        let s = engine.stats();
        assert_eq!((s.subscriptions, s.event_names, s.shapes, s.pending_deadlines, s.owners), (0, 0, 0, 0, 0), "cycle {cycle}");
        assert!(s.by_class.is_empty(), "cycle {cycle}: {:?}", s.by_class);
        assert!(s.claims <= 2, "claims are swept by expire: {}", s.claims);
        if cycle == cycles / 2 {
            // Hash tables grow once or twice early on (deleted entries pile up until a
            // rehash), so "warm" is halfway; a leak would keep growing with the cycles.
            after_warmup = Some(peak(&engine, cycle));
        }
    }
    let warm = after_warmup.expect("measured halfway");
    let last = peak(&engine, cycles);
    eprintln!("memory: {cycles} cycles of {BATCH} in {:?}; stats().memory_bytes with a batch in: {warm} after warm-up, {last} at the end", started.elapsed());
    assert!(last <= warm + warm / 10, "memory grew from {warm} to {last} bytes over {cycles} cycles");
}

/// `stats().memory_bytes` with one batch of subscriptions in, then removed again.
fn peak(engine: &Engine, cycle: u64) -> usize {
    let subs: Vec<Subscription> = (0..2_000u64)
        .map(|i| Subscription::wait(format!("peak{cycle}-{i}"), format!("app/e{}", i % 7)).when(format!("async.data.id == \"p{i}\"")).with_owner("peak"))
        .collect();
    engine.add_many(subs);
    let bytes = engine.stats().memory_bytes;
    assert_eq!(engine.remove_owner("peak").unwrap(), 2_000);
    bytes
}

// ---------------------------------------------------------------------------------------------
// process_many and claim_event_id

#[test]
fn process_many_processes_in_order_each_on_its_own() {
    let (engine, _clock) = engine();
    engine.add(Subscription::wait("w1", "app/x").when("async.data.k == 1")).unwrap();
    engine.add(Subscription::wait("w2", "app/x").when("async.data.k == 1")).unwrap();
    engine.add(Subscription::wait("w3", "app/x").when("async.data.k == 2")).unwrap();
    engine.add(Subscription::cancel("c1", "app/y").with_owner("r1")).unwrap();
    let events = [
        json!({"name": "app/x", "data": {"k": 1}}),
        json!({"name": "app/x", "data": {"k": 1}}),
        json!("not an event"),
        json!({"data": {"k": 2}}),
        json!({"name": "app/x", "data": {"k": 2}}),
        json!({"name": "app/y"}),
    ];
    let results = engine.process_many(&events);
    assert_eq!(results.len(), events.len());
    assert_eq!(ids(results[0].as_ref().unwrap()), ["w1", "w2"]);
    assert_eq!(ids(results[1].as_ref().unwrap()), Vec::<&str>::new(), "consumed by the first event of the batch");
    assert_eq!(results[2].as_ref().unwrap_err().code(), "invalid_event");
    assert_eq!(results[3].as_ref().unwrap_err().code(), "invalid_event");
    assert_eq!(ids(results[4].as_ref().unwrap()), ["w3"], "a bad event does not stop the batch");
    assert_eq!(results[5].as_ref().unwrap(), &vec![Fired { id: "c1".into(), kind: Kind::Cancel, owner: Some("r1".into()) }]);
    assert!(engine.process_many(&[]).is_empty());
    assert!(engine.is_empty());
}

#[test]
fn claim_event_id_dedupes_by_event_id() {
    let (engine, clock) = engine();
    let e1 = json!({"name": "app/x", "id": "evt-1", "data": {}});
    let e1_again = json!({"name": "app/other", "id": "evt-1", "data": {"different": true}});
    let e2 = json!({"name": "app/x", "id": "evt-2"});
    assert!(engine.claim_event_id(&e1, 1000).unwrap());
    assert!(!engine.claim_event_id(&e1, 1000).unwrap());
    assert!(!engine.claim_event_id(&e1_again, 1000).unwrap(), "only the id counts");
    assert!(engine.claim_event_id(&e2, 1000).unwrap());
    clock.advance(999);
    assert!(!engine.claim_event_id(&e1, 1000).unwrap());
    clock.advance(1);
    assert!(engine.claim_event_id(&e1, 1000).unwrap(), "the claim ends after its ttl");

    assert_eq!(engine.claim_event_id(&json!({"name": "app/x"}), 1000).unwrap_err().code(), "invalid_event", "no id");
    assert_eq!(engine.claim_event_id(&json!({"name": "app/x", "id": 7}), 1000).unwrap_err().code(), "invalid_event", "a non-string id");
    assert_eq!(engine.claim_event_id(&json!(["evt-1"]), 1000).unwrap_err().code(), "invalid_event");
    assert_eq!(engine.claim_event_id(&json!({"id": "evt-9"}), 1000).unwrap_err().code(), "invalid_event", "no name");
}

#[test]
fn claim_event_id_with_cloudevents_fields() {
    let (engine, _clock) = engine_with(Config { fields: EventFields::cloudevents(), ..Config::default() });
    let e = json!({"specversion": "1.0", "type": "com.example.x", "source": "/s", "id": "A-1"});
    assert!(engine.claim_event_id(&e, 60_000).unwrap());
    assert!(!engine.claim_event_id(&e, 60_000).unwrap());
    assert_eq!(engine.claim_event_id(&json!({"name": "com.example.x", "id": "A-2"}), 60_000).unwrap_err().code(), "invalid_event", "CloudEvents events are named by type");
}

#[test]
fn claims_are_atomic_across_threads() {
    let (engine, _clock) = engine();
    let engine = Arc::new(engine);
    let barrier = Arc::new(Barrier::new(4));
    let wins: Vec<usize> = (0..4)
        .map(|_| {
            let (engine, barrier) = (engine.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..2_000).filter(|i| engine.claim_event_id(&json!({"name": "app/x", "id": format!("evt-{i}")}), 60_000).unwrap()).count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(wins.iter().sum::<usize>(), 2_000, "each id is won exactly once: {wins:?}");
}

#[test]
fn id_conflict_names_what_differs() {
    let (engine, _clock) = engine();
    let base = || Subscription::wait("w1", "app/x").when("async.data.k == event.data.k").with_trigger(json!({"data": {"k": 1}})).with_owner("r1");
    engine.add(base()).unwrap();
    assert_eq!(engine.add(base()).unwrap(), None, "the same subscription again is a no-op");
    let conflict = |s: Subscription| {
        let e = engine.add(s).unwrap_err();
        assert_eq!(e.kind(), celmatch::ErrorKind::IdConflict);
        e.message().to_string()
    };
    let m = conflict(base().with_owner("r2"));
    assert!(m.ends_with("they differ in: owner"), "{m}");
    let m = conflict(base().with_trigger(json!({"data": {"k": 2}})));
    assert!(m.ends_with("they differ in: condition (with its trigger values)"), "{m}");
    let m = conflict(Subscription::cancel("w1", "app/y"));
    assert!(m.contains("kind, event, owner, condition"), "{m}");
    let m = conflict(base().with_trigger(json!({"data": {"k": 1}, "other": true})));
    assert!(m.contains("how it was given"), "{m}");
}
