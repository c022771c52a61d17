//! The engine: subscriptions, matching, deadlines, lookback, keys and claims.
//!
//! Concurrency: matching (finding candidates and verifying them) runs under a shared read
//! lock, so processing threads don't block each other. Consuming what fired takes the write
//! lock briefly; a subscription is consumed by whichever thread removes it first, and only
//! that thread reports it, so each fires at most once.

mod claims;
mod clock;
mod config;
mod explain;
mod ids;
mod lookback;
mod subscription;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, EventFields};
pub use explain::Stats;
pub use subscription::{parse_duration_ms, parse_time_ms, Fired, Kind, Subscription};

use crate::error::Error;
use crate::eval::Value;
use crate::frontend::ast::Path;
use crate::frontend::{Frontend, Shape, Vars};
use crate::index::access::Pred;
use crate::index::{self, Filing, Partition};
use crate::{CompileError, Compiled};
use claims::Claims;
use lookback::Lookback;
use parking_lot::{Mutex, RwLock};
use serde_json::Value as Json;
use ahash::AHashMap;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// The matching engine. `Send + Sync`: share it behind an `Arc`.
pub struct Engine {
    config: Config,
    frontend: Frontend,
    state: RwLock<State>,
    lookback: Mutex<Lookback>,
    claims: Claims,
    /// Evaluation errors per subscription id: (count, last error). Written only when an
    /// error happens, so the matching path never takes this lock otherwise.
    eval_errors: Mutex<HashMap<Arc<str>, (u64, crate::EvalError)>>,
}

/// A stored subscription. Kept small: a million of them must fit in little memory, so the
/// fields most subscriptions leave empty live in a separate, optional box.
struct Record {
    id: Box<str>,
    seq: u64,
    kind: Kind,
    event: Arc<str>,
    /// `None` when there is no condition (or it folded to `true`): every event of the name.
    shape: Option<Arc<Shape>>,
    params: Box<[Value<'static>]>,
    filings: Box<[Filing]>,
    /// Hash of the subscription as added: re-adding the same one is a no-op.
    fingerprint: u64,
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    owner: Option<Arc<str>>,
    deadline_ms: Option<i64>,
    not_before_ms: Option<i64>,
    exclude_event_id: Option<Box<str>>,
}

impl Record {
    fn owner(&self) -> Option<&Arc<str>> {
        self.extra.as_ref().and_then(|x| x.owner.as_ref())
    }
    fn deadline_ms(&self) -> Option<i64> {
        self.extra.as_ref().and_then(|x| x.deadline_ms)
    }
    fn not_before_ms(&self) -> Option<i64> {
        self.extra.as_ref().and_then(|x| x.not_before_ms)
    }
    fn exclude_event_id(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|x| x.exclude_event_id.as_deref())
    }
}

#[derive(Default)]
struct State {
    slots: Vec<Option<Box<Record>>>,
    free: Vec<u32>,
    ids: ids::IdTable,
    owners: AHashMap<Arc<str>, Vec<u32>>,
    partitions: AHashMap<Arc<str>, Partition>,
    deadlines: BTreeSet<(i64, u64, u32)>,
    next_seq: u64,
}

/// A subscription compiled and planned, ready to be filed.
struct Prepared {
    sub: Subscription,
    shape: Option<Arc<Shape>>,
    params: Box<[Value<'static>]>,
    plan: Option<Vec<(Path, Pred)>>,
    deadline_ms: Option<i64>,
    fingerprint: u64,
}

/// The parts of an event the engine reads itself.
struct EventMeta<'e> {
    name: &'e str,
    id: Option<&'e str>,
    time_ms: Option<i64>,
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        let frontend = Frontend::new(config.dialect, config.limits.clone());
        let claims = Claims::new(config.max_claims);
        Engine { config, frontend, state: RwLock::default(), lookback: Mutex::default(), claims, eval_errors: Mutex::default() }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// Compiles a condition over `async` (the incoming event), without a trigger.
    pub fn compile(&self, expr: &str) -> Result<Compiled, CompileError> {
        self.frontend.compile(expr, Vars::Condition { trigger: false }, None)
    }

    /// Compiles a condition and binds `event.*` from `trigger`.
    pub fn compile_bound(&self, expr: &str, trigger: &Json) -> Result<Compiled, CompileError> {
        self.frontend.compile(expr, Vars::Condition { trigger: true }, Some(trigger))
    }

    /// Compiles a key expression or trigger filter, where `event` is the incoming event.
    pub fn compile_key(&self, expr: &str) -> Result<Compiled, CompileError> {
        self.frontend.compile(expr, Vars::Key, None)
    }

    /// Compiles without either cache: the reference that differential tests compare the
    /// cached, shape-sharing path against.
    #[doc(hidden)]
    pub fn compile_uncached(&self, expr: &str, trigger: Option<&Json>) -> Result<Compiled, CompileError> {
        self.frontend.compile_uncached(expr, Vars::Condition { trigger: trigger.is_some() }, trigger)
    }

    /// Evaluates a condition-mode expression against `event` (binding `event.*` from
    /// `trigger` when given) and returns its value as JSON.
    pub fn eval(&self, expr: &str, event: &Json, trigger: Option<&Json>) -> Result<Json, Error> {
        let c = match trigger {
            Some(t) => self.compile_bound(expr, t)?,
            None => self.compile(expr)?,
        };
        c.eval(event).map_err(Error::from)
    }

    fn prepare(&self, sub: Subscription, now: i64) -> Result<Prepared, Error> {
        if sub.id.is_empty() {
            return Err(Error::invalid_subscription("the id is empty"));
        }
        if sub.event.is_empty() {
            return Err(Error::invalid_subscription("the event name is empty"));
        }
        if sub.lookback_ms.is_some() && sub.kind == Kind::Cancel {
            return Err(Error::invalid_subscription("lookback applies to waits only"));
        }
        let compiled = match (&sub.condition, &sub.trigger) {
            (None, _) => None,
            (Some(c), Some(t)) => Some(self.compile_bound(c, t)?),
            (Some(c), None) => Some(self.compile(c)?),
        };
        let (shape, params) = match compiled {
            None => (None, Box::default()),
            Some(c) => match c.constant() {
                Some(Json::Bool(true)) => (None, Box::default()),
                Some(Json::Bool(false)) => {
                    let src = sub.condition.as_deref().unwrap_or_default();
                    let span = crate::Span { start: 0, end: src.len() };
                    let e = CompileError::new(crate::CompileErrorKind::NeverMatches, "the condition is always false", src, span);
                    return Err(e.into());
                }
                Some(v) => {
                    let src = sub.condition.as_deref().unwrap_or_default();
                    let span = crate::Span { start: 0, end: src.len() };
                    let e = CompileError::new(crate::CompileErrorKind::NotBoolean, format!("the condition is the constant {v}, not a boolean"), src, span);
                    return Err(e.into());
                }
                None => {
                    if let Some(what) = c.non_boolean() {
                        let src = sub.condition.as_deref().unwrap_or_default();
                        let span = crate::Span { start: 0, end: src.len() };
                        let msg = format!("the condition gives {what}, never a boolean");
                        return Err(CompileError::new(crate::CompileErrorKind::NotBoolean, msg, src, span).into());
                    }
                    (Some(c.shape), c.params)
                }
            },
        };
        let plan = match &shape {
            None => None,
            Some(s) => index::plan(s, &params),
        };
        let deadline_ms = sub.deadline_ms.or(sub.timeout_ms.map(|t| now.saturating_add(t)));
        let fingerprint = fingerprint(&sub);
        Ok(Prepared { sub, shape, params, plan, deadline_ms, fingerprint })
    }

    /// Adds a subscription. A wait with lookback that matches a buffered event fires at
    /// once: it is returned and not stored. Re-adding an identical subscription under the
    /// same id is a no-op; a different one is the error `id_conflict`.
    pub fn add(&self, sub: Subscription) -> Result<Option<Fired>, Error> {
        let now = self.now();
        let p = self.prepare(sub, now)?;
        let mut st = self.state.write();
        self.insert(&mut st, p, now)
    }

    /// Adds many subscriptions under one lock; shapes are compiled once per distinct shape.
    /// One bad subscription fails alone.
    pub fn add_many(&self, subs: Vec<Subscription>) -> Vec<Result<Option<Fired>, Error>> {
        let now = self.now();
        let prepared: Vec<Result<Prepared, Error>> = subs.into_iter().map(|s| self.prepare(s, now)).collect();
        let mut st = self.state.write();
        prepared.into_iter().map(|p| p.and_then(|p| self.insert(&mut st, p, now))).collect()
    }

    fn insert(&self, st: &mut State, p: Prepared, now: i64) -> Result<Option<Fired>, Error> {
        if let Some(slot) = st.ids.get(&p.sub.id, &st.slots) {
            let existing = st.slots[slot as usize].as_ref().expect("live slot");
            if existing.fingerprint == p.fingerprint {
                return Ok(None);
            }
            return Err(Error::new(
                "id_conflict",
                format!(
                    "id {:?} is taken by a different subscription ({} on {:?}); this one is a {} on {:?}",
                    p.sub.id,
                    existing.kind.as_str(),
                    &*existing.event,
                    p.sub.kind.as_str(),
                    p.sub.event
                ),
            ));
        }
        // A new subscription under a reused id starts with no evaluation errors.
        {
            let mut errs = self.eval_errors.lock();
            if !errs.is_empty() {
                errs.remove(p.sub.id.as_str());
            }
        }
        // Lookback, under the write lock: an event processed concurrently is either in the
        // buffer now or will see this wait once it is filed.
        if let Some(window) = p.sub.lookback_ms.filter(|_| p.sub.kind == Kind::Wait) {
            let lb = self.lookback.lock();
            let probe = Probe { shape: p.shape.as_deref(), params: &p.params, not_before_ms: p.sub.not_before_ms, exclude: p.sub.exclude_event_id.as_deref() };
            // The buffer is trimmed lazily (when events arrive); never look further back
            // than it promises to keep.
            let window = window.min(self.config.lookback_max_age_ms);
            for b in lb.since(&p.sub.event, now.saturating_sub(window)) {
                if p.deadline_ms.is_some_and(|d| d <= now) {
                    break;
                }
                if self.verify(&probe, &b.event, b.id.as_deref(), Some(b.time_ms), &p.sub.id) {
                    return Ok(Some(Fired { id: p.sub.id, kind: Kind::Wait, owner: p.sub.owner }));
                }
            }
        }
        let slot = match st.free.pop() {
            Some(s) => s,
            None => {
                let s = u32::try_from(st.slots.len()).map_err(|_| Error::new("limit_exceeded", "more than 2^32 subscriptions"))?;
                st.slots.push(None);
                s
            }
        };
        let event: Arc<str> = Arc::from(p.sub.event.as_str());
        let partition = st.partitions.entry(event.clone()).or_default();
        let filings = partition.insert(slot, p.plan).into_boxed_slice();
        let seq = st.next_seq;
        st.next_seq += 1;
        let id: Box<str> = p.sub.id.as_str().into();
        let owner: Option<Arc<str>> = p.sub.owner.as_deref().map(Arc::from);
        if let Some(o) = &owner {
            st.owners.entry(o.clone()).or_default().push(slot);
        }
        if let Some(d) = p.deadline_ms {
            st.deadlines.insert((d, seq, slot));
        }
        let extra = Extra { owner, deadline_ms: p.deadline_ms, not_before_ms: p.sub.not_before_ms, exclude_event_id: p.sub.exclude_event_id.map(String::into_boxed_str) };
        let has_extra = extra.owner.is_some() || extra.deadline_ms.is_some() || extra.not_before_ms.is_some() || extra.exclude_event_id.is_some();
        st.slots[slot as usize] = Some(Box::new(Record {
            id,
            seq,
            kind: p.sub.kind,
            event,
            shape: p.shape,
            params: p.params,
            filings,
            fingerprint: p.fingerprint,
            extra: has_extra.then(|| Box::new(extra)),
        }));
        st.ids.insert(slot, &st.slots);
        Ok(None)
    }

    /// Removes a subscription; false if there was none with this id.
    pub fn remove(&self, id: &str) -> bool {
        let mut st = self.state.write();
        match st.ids.get(id, &st.slots) {
            Some(slot) => {
                st.take(slot);
                true
            }
            None => false,
        }
    }

    /// Removes every subscription of `owner`; returns how many.
    pub fn remove_owner(&self, owner: &str) -> usize {
        let mut st = self.state.write();
        st.remove_owner(owner)
    }

    /// Number of pending subscriptions.
    pub fn len(&self) -> usize {
        self.state.read().ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn event_meta<'e>(&self, event: &'e Json) -> Result<EventMeta<'e>, Error> {
        let obj = event.as_object().ok_or_else(|| Error::invalid_event("an event must be a JSON object"))?;
        let f = &self.config.fields;
        let name = match obj.get(&f.name) {
            Some(Json::String(s)) => s.as_str(),
            _ => return Err(Error::invalid_event(format!("the event has no string field {:?} naming it", f.name))),
        };
        let id = obj.get(&f.id).and_then(Json::as_str);
        let time_ms = obj.get(&f.time).and_then(parse_time_ms);
        Ok(EventMeta { name, id, time_ms })
    }

    /// Parses JSON text (checking the size and depth limits first) and processes it.
    pub fn process_bytes(&self, json: &[u8]) -> Result<Vec<Fired>, Error> {
        let event = self.parse_event(json)?;
        self.process(&event)
    }

    /// Parses event JSON within the configured limits.
    pub fn parse_event(&self, json: &[u8]) -> Result<Json, Error> {
        let limits = &self.config.limits;
        if json.len() > limits.max_event_bytes {
            return Err(Error::new("limit_exceeded", format!("event is {} bytes, over the limit of {}", json.len(), limits.max_event_bytes)));
        }
        // serde_json stops at 128 levels of nesting by itself, so parsing first is safe; the
        // configured (lower) limit is checked on the tree, which is cheaper than on the text.
        let event: Json = serde_json::from_slice(json).map_err(|e| {
            if e.to_string().starts_with("recursion limit exceeded") {
                Error::new("limit_exceeded", format!("event nests deeper than the limit of {}", limits.max_event_depth))
            } else {
                Error::invalid_event(format!("invalid JSON: {e}"))
            }
        })?;
        let depth = json_depth(&event);
        if depth > limits.max_event_depth {
            return Err(Error::new("limit_exceeded", format!("event nests {depth} deep, over the limit of {}", limits.max_event_depth)));
        }
        Ok(event)
    }

    /// Fires every subscription the event satisfies, each at most once, in registration
    /// order. Errors only for a malformed event; evaluation errors mean "no match" and are
    /// counted per subscription (see [`Engine::eval_errors`]).
    pub fn process(&self, event: &Json) -> Result<Vec<Fired>, Error> {
        let meta = self.event_meta(event)?;
        let now = self.now();
        let lookback_on = self.config.lookback_max_events > 0;
        if lookback_on {
            let mut lb = self.lookback.lock();
            lb.trim(now.saturating_sub(self.config.lookback_max_age_ms));
            let item = (Arc::new(event.clone()), meta.id.map(str::to_owned), meta.time_ms.unwrap_or(now), lookback::json_bytes(event));
            lb.push(meta.name, item, self.config.lookback_max_events, self.config.lookback_max_bytes);
        }
        let mut hits: Vec<(u64, u32)> = Vec::new();
        {
            let st = self.state.read();
            let Some(partition) = st.partitions.get(meta.name) else { return Ok(Vec::new()) };
            let mut candidates = Vec::new();
            partition.candidates(event, self.config.dialect, &mut candidates);
            candidates.sort_unstable();
            candidates.dedup();
            for slot in candidates {
                let Some(r) = st.slots[slot as usize].as_ref() else { continue };
                if r.deadline_ms().is_some_and(|d| d <= now) {
                    continue;
                }
                let probe = Probe { shape: r.shape.as_deref(), params: &r.params, not_before_ms: r.not_before_ms(), exclude: r.exclude_event_id() };
                if self.verify(&probe, event, meta.id, Some(meta.time_ms.unwrap_or(now)), &r.id) {
                    hits.push((r.seq, slot));
                }
            }
        }
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        hits.sort_unstable();
        let mut st = self.state.write();
        let mut fired = Vec::with_capacity(hits.len());
        for (seq, slot) in hits {
            if st.slots[slot as usize].as_ref().is_none_or(|r| r.seq != seq) {
                continue; // consumed or removed by another thread meanwhile
            }
            let r = st.take(slot);
            if r.kind == Kind::Cancel && self.config.cancel_removes_owner {
                if let Some(o) = r.owner() {
                    st.remove_owner(o);
                }
            }
            fired.push(Fired { id: r.id.to_string(), kind: r.kind, owner: r.owner().map(|o| o.to_string()) });
        }
        Ok(fired)
    }

    pub fn process_many(&self, events: &[Json]) -> Vec<Result<Vec<Fired>, Error>> {
        events.iter().map(|e| self.process(e)).collect()
    }

    /// Whether `event` fires the probed subscription: time, exclusion and the condition.
    fn verify(&self, p: &Probe<'_>, event: &Json, event_id: Option<&str>, time_ms: Option<i64>, sub_id: &str) -> bool {
        if let (Some(nb), Some(t)) = (p.not_before_ms, time_ms) {
            if t < nb {
                return false;
            }
        }
        if p.exclude.is_some() && p.exclude == event_id {
            return false;
        }
        let Some(shape) = p.shape else { return true };
        match crate::frontend::matches(shape, p.params, event, self.config.dialect) {
            Ok(b) => b,
            Err(e) => {
                let mut errs = self.eval_errors.lock();
                let entry = errs.entry(Arc::from(sub_id)).or_insert((0, e.clone()));
                entry.0 += 1;
                entry.1 = e;
                false
            }
        }
    }

    /// Evaluation errors of a pending subscription: how many, and the last one. Errors are
    /// counted when the subscription is verified, that is when the index made it a candidate
    /// for an event; counts of subscriptions that are gone are dropped by [`Engine::expire`]
    /// (and when the id is reused).
    pub fn eval_errors(&self, id: &str) -> Option<(u64, crate::EvalError)> {
        self.eval_errors.lock().get(id).cloned()
    }

    /// Removes every subscription whose deadline is at or before `now_ms` (the clock's time
    /// by default) and returns their ids, earliest deadline first. Also drops expired claims.
    pub fn expire(&self, now_ms: Option<i64>) -> Vec<String> {
        let now = now_ms.unwrap_or_else(|| self.now());
        let mut st = self.state.write();
        let mut out = Vec::new();
        while let Some(&(d, seq, slot)) = st.deadlines.first() {
            if d > now {
                break;
            }
            st.deadlines.pop_first();
            if st.slots[slot as usize].as_ref().is_some_and(|r| r.seq == seq) {
                out.push(st.take(slot).id.to_string());
            }
        }
        // Forget error counts of subscriptions that are gone.
        self.eval_errors.lock().retain(|id, _| st.ids.get(id, &st.slots).is_some());
        drop(st);
        self.claims.sweep(now);
        out
    }

    /// Evaluates a key expression (`event` is the incoming event) to a canonical string:
    /// strings as they are, other values as canonical JSON (object keys sorted). `false` and
    /// `null` mean "no key".
    pub fn key(&self, expr: &str, event: &Json) -> Result<Option<String>, Error> {
        let c = self.compile_key(expr)?;
        let v = c.eval(event).map_err(Error::from)?;
        Ok(match v {
            Json::Null | Json::Bool(false) => None,
            Json::String(s) => Some(s),
            other => Some(canonical_json(&other)),
        })
    }

    /// Atomic set-if-absent with expiry: `true` for the first claim of `(scope, key)` within
    /// `ttl_ms`, `false` for duplicates.
    pub fn claim(&self, scope: &str, key: &str, ttl_ms: i64, now_ms: Option<i64>) -> Result<bool, Error> {
        self.claims.claim(scope, key, ttl_ms, now_ms.unwrap_or_else(|| self.now()))
    }

    /// Event-id dedupe: `true` the first time an event id is seen within `ttl_ms`.
    pub fn claim_event_id(&self, event: &Json, ttl_ms: i64) -> Result<bool, Error> {
        let meta = self.event_meta(event)?;
        let id = meta.id.ok_or_else(|| Error::invalid_event(format!("the event has no string field {:?}", self.config.fields.id)))?;
        self.claim("event-id", id, ttl_ms, None)
    }
}

/// What verification needs of a subscription, stored or about to be.
struct Probe<'a> {
    shape: Option<&'a Shape>,
    params: &'a [Value<'static>],
    not_before_ms: Option<i64>,
    exclude: Option<&'a str>,
}

impl State {
    /// Removes the record in `slot` from every structure and returns it.
    fn take(&mut self, slot: u32) -> Box<Record> {
        let id = &self.slots[slot as usize].as_ref().expect("live slot").id;
        self.ids.remove(id, &self.slots);
        let r = self.slots[slot as usize].take().expect("live slot");
        if let Some(part) = self.partitions.get_mut(&r.event) {
            part.remove(slot, &r.filings);
            if part.is_empty() {
                self.partitions.remove(&r.event);
            }
        }
        if let Some(o) = r.owner() {
            if let Some(list) = self.owners.get_mut(o) {
                list.retain(|&s| s != slot);
                if list.is_empty() {
                    self.owners.remove(o);
                }
            }
        }
        if let Some(d) = r.deadline_ms() {
            self.deadlines.remove(&(d, r.seq, slot));
        }
        self.free.push(slot);
        r
    }

    fn remove_owner(&mut self, owner: &str) -> usize {
        let slots = self.owners.get(owner).cloned().unwrap_or_default();
        for &s in &slots {
            self.take(s);
        }
        slots.len()
    }
}

fn fingerprint(s: &Subscription) -> u64 {
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    (s.kind, &s.event, &s.condition, &s.owner, s.deadline_ms, s.timeout_ms, s.not_before_ms, &s.exclude_event_id, s.lookback_ms).hash(&mut h);
    // Canonical JSON: the same trigger with its keys in another order is the same
    // subscription (serde_json's `preserve_order`, on in the bindings, keeps input order).
    s.trigger.as_ref().map(canonical_json).hash(&mut h);
    h.finish()
}

/// JSON with object keys sorted at every level, no whitespace.
pub(crate) fn canonical_json(v: &Json) -> String {
    fn sorted(v: &Json) -> Json {
        match v {
            Json::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Json::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Json::Array(a) => Json::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// The deepest nesting of arrays and objects in a JSON tree (iterative: no recursion).
fn json_depth(v: &Json) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Json::Array(a) => {
                max = max.max(d + 1);
                stack.extend(a.iter().map(|x| (x, d + 1)));
            }
            Json::Object(m) => {
                max = max.max(d + 1);
                stack.extend(m.values().map(|x| (x, d + 1)));
            }
            _ => {}
        }
    }
    max
}

impl Default for Engine {
    /// An engine with [`Config::default`]: strict dialect, Inngest-style events.
    fn default() -> Self {
        Engine::new(Config::default())
    }
}
