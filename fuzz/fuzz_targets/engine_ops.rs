//! Arbitrary sequences of engine operations against a model.
//!
//! Operations: add (small ids, owners, both kinds, a condition from a fixed pool, optional
//! trigger, deadline, timeout, not_before, exclude_event_id and lookback), remove,
//! remove_owner, process (parsed or as bytes), expire (explicit time or the clock), moving a
//! `ManualClock`, claim and claim_event_id. The model keeps the pending subscriptions and
//! predicts every result:
//!
//! - every added subscription ends at most once — fired, expired or removed (also by a firing
//!   cancellation when `cancel_removes_owner` is on) — and the ones that never end are
//!   exactly those still pending (`engine.len()`, and each is still removable at the end);
//! - `process` fires exactly the pending subscriptions of the event's name that are not past
//!   their deadline, whose `not_before` and `exclude_event_id` allow the event and whose
//!   condition (compiled with `compile_uncached`) is true, in registration order;
//! - `expire` returns exactly the pending ones whose deadline is at or before the time;
//! - re-adding an identical subscription is a no-op, a different one under a pending id is
//!   `id_conflict`;
//! - claims are set-if-absent with expiry, bounded by `max_claims`;
//! - with an unbounded lookback age, a wait with lookback fires at once exactly when a
//!   buffered event (one of the last `lookback_max_events` of its name within the window)
//!   satisfies it.
#![no_main]

use arbitrary::Arbitrary;
use celmatch::{Compiled, Config, Dialect, Engine, Kind, ManualClock, Subscription};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

const BASE: i64 = 1_000_000;
const NAMES: &[&str] = &["app/a", "app/b"];
const STRS: &[&str] = &["a", "ab", "b", ""];
const CONDS: &[Option<&str>] = &[
    None,
    Some("async.data.k == 1"),
    Some("async.data.k > 2"),
    Some("async.data.s.startsWith('a')"),
    Some("async.data.k in [1, 3]"),
    Some("has(async.data.s)"),
    Some("event.data.k == async.data.k"),
    Some("async.data.k == 1 || async.data.s == 'b'"),
    Some("!(async.data.k == 2)"),
    Some("true"),
    Some("false"),
    Some("async.data.k"),
    Some("async.data.s == 'a' && async.data.k >= 1"),
    Some("async.data.s.contains('b')"),
    Some("async.data.k == event.data.missing"),
];

fn pick<T: Copy>(pool: &[T], i: u8) -> T {
    pool[i as usize % pool.len()]
}

#[derive(Arbitrary, Debug)]
struct AddSpec {
    id: u8,
    cancel: bool,
    name: u8,
    cond: u8,
    trigger_k: Option<u8>,
    owner: Option<u8>,
    deadline: Option<u8>,
    timeout: Option<u8>,
    not_before: Option<u8>,
    exclude: Option<u8>,
    lookback: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct EventSpec {
    name: u8,
    id: Option<u8>,
    ts: Option<u8>,
    /// Write `ts` as an RFC 3339 string rather than epoch milliseconds.
    ts_string: bool,
    k: Option<u8>,
    s: Option<u8>,
    as_bytes: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Add(AddSpec),
    Remove(u8),
    RemoveOwner(u8),
    Process(EventSpec),
    Expire(Option<u8>),
    Advance(u8),
    Claim { scope: u8, key: u8, ttl: i8, now: Option<u8> },
    ClaimEventId { id: Option<u8>, ttl: i8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    lenient: bool,
    cancel_removes_owner: bool,
    /// 0: lookback off; otherwise the buffer keeps this many events per name (mod 8).
    lookback_events: u8,
    max_claims: u8,
    ops: Vec<Op>,
}

struct Pending {
    sub: Subscription,
    seq: u64,
    deadline: Option<i64>,
    reference: Option<Compiled>,
}

#[derive(Default)]
struct Model {
    pending: BTreeMap<String, Pending>,
    next_seq: u64,
    /// Per event name: (event, id, time), oldest first.
    lookback: HashMap<String, VecDeque<(Json, Option<String>, i64)>>,
    claims: HashMap<(String, String), i64>,
    added: u64,
    ended: u64,
}

impl Model {
    fn end(&mut self, id: &str, how: &str) -> Pending {
        self.ended += 1;
        self.pending.remove(id).unwrap_or_else(|| panic!("{id} {how} but it was not pending (ended twice, or never added)"))
    }
}

/// Whether an event (at `time`, with `event_id`) satisfies a pending subscription, deadline
/// aside.
fn verify(p: &Pending, event: &Json, event_id: Option<&str>, time: i64) -> bool {
    if p.sub.not_before_ms.is_some_and(|nb| time < nb) {
        return false;
    }
    if p.sub.exclude_event_id.is_some() && p.sub.exclude_event_id.as_deref() == event_id {
        return false;
    }
    p.reference.as_ref().is_none_or(|r| matches!(r.matches(event), Ok(true)))
}

fn ts_string(t: i64) -> String {
    let (s, ms) = (t / 1000, t % 1000);
    format!("1970-01-01T{:02}:{:02}:{:02}.{ms:03}Z", s / 3600, s / 60 % 60, s % 60)
}

fn event_json(e: &EventSpec) -> Json {
    let mut data = Map::new();
    if let Some(k) = e.k {
        data.insert("k".into(), json!(k % 5));
    }
    if let Some(s) = e.s {
        data.insert("s".into(), json!(pick(STRS, s)));
    }
    let mut ev = json!({"name": pick(NAMES, e.name), "data": data});
    if let Some(id) = e.id {
        ev["id"] = json!(format!("e{}", id % 4));
    }
    if let Some(ts) = e.ts {
        let t = BASE + i64::from(ts) * 7;
        ev["ts"] = if e.ts_string { json!(ts_string(t)) } else { json!(t) };
    }
    ev
}

fuzz_target!(|input: Input| {
    let dialect = if input.lenient { Dialect::Lenient } else { Dialect::Strict };
    let clock = Arc::new(ManualClock::new(BASE));
    let lookback_events = usize::from(input.lookback_events % 8);
    let max_claims = usize::from(input.max_claims % 6) + 1;
    let engine = Engine::new(Config {
        dialect,
        cancel_removes_owner: input.cancel_removes_owner,
        lookback_max_events: lookback_events,
        lookback_max_age_ms: i64::MAX / 4,
        max_claims,
        clock: clock.clone(),
        ..Config::default()
    });
    let mut m = Model::default();
    let now = |clock: &ManualClock| celmatch::Clock::now_ms(clock);

    for op in input.ops.iter().take(64) {
        match op {
            Op::Add(a) => {
                let id = format!("s{}", a.id % 8);
                let name = pick(NAMES, a.name);
                let mut sub = if a.cancel { Subscription::cancel(&id, name) } else { Subscription::wait(&id, name) };
                let cond = pick(CONDS, a.cond);
                if let Some(c) = cond {
                    sub = sub.when(c);
                }
                if let Some(k) = a.trigger_k {
                    sub = sub.with_trigger(json!({"name": "app/t", "data": {"k": k % 5}}));
                }
                if let Some(o) = a.owner {
                    sub = sub.with_owner(format!("r{}", o % 3));
                }
                if let Some(d) = a.deadline {
                    sub = sub.with_deadline_ms(BASE + i64::from(d) * 7);
                }
                if let Some(t) = a.timeout {
                    sub = sub.with_timeout_ms(i64::from(t) * 7);
                }
                if let Some(nb) = a.not_before {
                    sub = sub.with_not_before_ms(BASE + i64::from(nb) * 7);
                }
                if let Some(x) = a.exclude {
                    sub = sub.with_exclude_event_id(format!("e{}", x % 4));
                }
                if let Some(l) = a.lookback {
                    sub = sub.with_lookback_ms(i64::from(l) * 7);
                }
                let t = now(&clock);
                let reference = cond.map(|c| engine.compile_uncached(c, sub.trigger.as_ref()));
                // Lookback on a cancel, and a deadline given with a timeout, are rejected.
                let valid = !(a.cancel && a.lookback.is_some())
                    && !(a.deadline.is_some() && a.timeout.is_some())
                    && match &reference {
                        None => true,
                        Some(Ok(r)) => r.constant() != Some(json!(false)),
                        Some(Err(_)) => false,
                    };
                let result = engine.add(sub.clone());
                if !valid {
                    let e = result.expect_err("an invalid subscription is rejected");
                    assert!(
                        matches!(e.code(), "invalid_subscription" | "never_matches" | "unknown_variable" | "missing_trigger_field"),
                        "unexpected error for {sub:?}: {e}"
                    );
                    continue;
                }
                if let Some(p) = m.pending.get(&id) {
                    if p.sub == sub {
                        assert_eq!(result.expect("re-adding the same subscription"), None, "re-adding {id} must be a no-op");
                    } else {
                        let e = result.expect_err("a different subscription under a pending id");
                        assert_eq!(e.code(), "id_conflict", "{sub:?}: {e}");
                    }
                    continue;
                }
                let reference = reference.map(|r| r.expect("valid"));
                let p = Pending { deadline: sub.deadline_ms.or(sub.timeout_ms.map(|d| t.saturating_add(d))), sub: sub.clone(), seq: m.next_seq, reference };
                // Lookback: the oldest buffered event in the window that satisfies it, unless
                // the deadline has passed.
                let hit = match (sub.lookback_ms, sub.kind) {
                    (Some(window), Kind::Wait) if lookback_events > 0 && p.deadline.is_none_or(|d| d > t) => m
                        .lookback
                        .get(name)
                        .into_iter()
                        .flatten()
                        .any(|(ev, ev_id, time)| *time >= t.saturating_sub(window) && verify(&p, ev, ev_id.as_deref(), *time)),
                    _ => false,
                };
                match result {
                    Ok(Some(f)) => {
                        assert!(hit, "{sub:?} fired from the lookback buffer, but no buffered event satisfies it");
                        assert_eq!((f.id.as_str(), f.kind, f.owner.as_ref()), (id.as_str(), Kind::Wait, sub.owner.as_ref()));
                        m.added += 1;
                        m.ended += 1;
                    }
                    Ok(None) => {
                        assert!(!hit, "{sub:?} should have fired from the lookback buffer {:?}", m.lookback.get(name));
                        m.added += 1;
                        m.next_seq += 1;
                        m.pending.insert(id, p);
                    }
                    Err(e) => panic!("{sub:?} rejected: {e}"),
                }
            }
            Op::Remove(i) => {
                let id = format!("s{}", i % 8);
                let removed = engine.remove(&id).unwrap();
                assert_eq!(removed, m.pending.contains_key(&id), "remove({id})");
                if removed {
                    m.end(&id, "removed");
                }
            }
            Op::RemoveOwner(o) => {
                let owner = format!("r{}", o % 3);
                let n = engine.remove_owner(&owner).unwrap();
                let ids: Vec<String> = m.pending.iter().filter(|(_, p)| p.sub.owner.as_deref() == Some(&owner)).map(|(id, _)| id.clone()).collect();
                assert_eq!(n, ids.len(), "remove_owner({owner})");
                for id in ids {
                    m.end(&id, "removed by owner");
                }
            }
            Op::Process(e) => {
                let ev = event_json(e);
                let t = now(&clock);
                let name = ev["name"].as_str().expect("name").to_string();
                let ev_id = ev.get("id").and_then(Json::as_str).map(str::to_owned);
                let time = ev.get("ts").and_then(celmatch::parse_time_ms).unwrap_or(t);
                let fired = if e.as_bytes {
                    engine.process_bytes(&serde_json::to_vec(&ev).expect("serialize")).expect("a well-formed event")
                } else {
                    engine.process(&ev).expect("a well-formed event")
                };
                let mut candidates: Vec<(u64, String)> = m
                    .pending
                    .iter()
                    .filter(|(_, p)| p.sub.event == name && p.deadline.is_none_or(|d| d > t) && verify(p, &ev, ev_id.as_deref(), time))
                    .map(|(id, p)| (p.seq, id.clone()))
                    .collect();
                candidates.sort();
                let mut expected = Vec::new();
                for (_, id) in candidates {
                    let Some(p) = m.pending.get(&id) else { continue }; // removed with its owner
                    let (kind, owner) = (p.sub.kind, p.sub.owner.clone());
                    m.end(&id, "fired");
                    expected.push((id, kind, owner.clone()));
                    if kind == Kind::Cancel && input.cancel_removes_owner {
                        if let Some(o) = owner {
                            let ids: Vec<String> = m.pending.iter().filter(|(_, p)| p.sub.owner.as_ref() == Some(&o)).map(|(id, _)| id.clone()).collect();
                            for id in ids {
                                m.end(&id, "removed by its owner's cancellation");
                            }
                        }
                    }
                }
                let got: Vec<(String, Kind, Option<String>)> = fired.into_iter().map(|f| (f.id, f.kind, f.owner)).collect();
                assert_eq!(got, expected, "process({ev}) at {t}");
                if lookback_events > 0 {
                    let q = m.lookback.entry(name).or_default();
                    q.push_back((ev.clone(), ev_id, time));
                    while q.len() > lookback_events {
                        q.pop_front();
                    }
                }
            }
            Op::Expire(at) => {
                let t = at.map(|a| BASE + i64::from(a) * 7);
                let t_eff = t.unwrap_or_else(|| now(&clock));
                let got = engine.expire(t).unwrap();
                let mut due: Vec<(i64, u64, String)> =
                    m.pending.iter().filter_map(|(id, p)| p.deadline.filter(|&d| d <= t_eff).map(|d| (d, p.seq, id.clone()))).collect();
                due.sort();
                let want: Vec<String> = due.into_iter().map(|d| d.2).collect();
                assert_eq!(got, want, "expire({t:?}) at {t_eff}");
                for id in &want {
                    m.end(id, "expired");
                }
                m.claims.retain(|_, exp| *exp > t_eff);
            }
            Op::Advance(ms) => clock.advance(i64::from(*ms) * 7),
            Op::Claim { scope, key, ttl, now: at } => {
                let (scope, key) = (format!("sc{}", scope % 2), format!("k{}", key % 4));
                let t = at.map(|a| BASE + i64::from(a) * 7);
                let t_eff = t.unwrap_or_else(|| now(&clock));
                let got = engine.claim(&scope, &key, i64::from(*ttl) * 7, t);
                let want = model_claim(&mut m.claims, max_claims, (scope.clone(), key.clone()), i64::from(*ttl) * 7, t_eff);
                assert_eq!(got.map_err(|e| e.code()), want, "claim({scope}, {key}) at {t_eff}");
            }
            Op::ClaimEventId { id, ttl } => {
                let mut ev = json!({"name": "app/a", "data": {}});
                if let Some(i) = id {
                    ev["id"] = json!(format!("e{}", i % 4));
                }
                let got = engine.claim_event_id(&ev, i64::from(*ttl) * 7);
                let want = match id {
                    None => Err("invalid_event"),
                    Some(i) => model_claim(&mut m.claims, max_claims, ("event-id".into(), format!("e{}", i % 4)), i64::from(*ttl) * 7, now(&clock)),
                };
                assert_eq!(got.map_err(|e| e.code()), want, "claim_event_id({ev})");
            }
        }
        assert_eq!(engine.len(), m.pending.len(), "pending count after {op:?}");
    }

    // Whatever never ended is still pending, and each is there exactly once.
    assert_eq!(m.added, m.ended + m.pending.len() as u64, "added = fired + expired + removed + pending");
    for id in m.pending.keys() {
        assert!(engine.remove(id).unwrap(), "{id} should still be pending");
        assert!(!engine.remove(id).unwrap(), "{id} removed twice");
    }
    assert!(engine.is_empty());
});

fn model_claim(claims: &mut HashMap<(String, String), i64>, max: usize, key: (String, String), ttl: i64, now: i64) -> Result<bool, &'static str> {
    if claims.get(&key).is_some_and(|&exp| exp > now) {
        return Ok(false);
    }
    if claims.len() >= max && !claims.contains_key(&key) {
        claims.retain(|_, exp| *exp > now);
        if claims.len() >= max {
            return Err("limit_exceeded");
        }
    }
    claims.insert(key, now.saturating_add(ttl.max(0)));
    Ok(true)
}
