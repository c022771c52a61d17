//! The engine: subscriptions, matching, deadlines, lookback, keys and claims.
//!
//! Concurrency: matching (finding candidates and verifying them) runs under a shared read
//! lock, so processing threads don't block each other. Consuming what fired takes the write
//! lock briefly; a subscription is consumed by whichever thread removes it first, and only
//! that thread reports it, so each fires at most once.

mod claims;
mod clock;
mod config;
mod durable;
mod explain;
mod lookback;
mod record;
mod store;
mod subscription;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigRecord, EventFields, DEFAULT_LOOKBACK_EVENTS};
pub use durable::{Durability, SCHEMA_VERSION};
pub use explain::Stats;
pub use subscription::{parse_duration_ms, parse_time_ms, Fired, Kind, Subscription};
use subscription::node_time_ms;

use crate::error::Error;
use crate::eval::Value;
use crate::frontend::ast::Path;
use crate::frontend::{Frontend, Shape, Template, Vars};
use crate::ids::SlotId;
use crate::index::access::Pred;
use crate::index;
use crate::{CompileError, Compiled, EvalErrorKind};
use claims::Claims;
use durable::Durable;
use lookback::Lookback;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use smallvec::SmallVec;
use crate::event::{Node, ParseError};
use serde_json::Value as Json;
use std::hash::{BuildHasher, Hash, Hasher};
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
pub(crate) use store::table_bytes;
use store::{NewRecord, Store};

/// The matching engine. `Send + Sync`: share it behind an `Arc`.
///
/// In memory ([`Engine::new`]) or durable ([`Engine::open`]): a durable engine commits every
/// change to its SQLite store before the call that made it returns. Lock order: `state`,
/// then `fired`, `lookback` or `claims`, then `durable`; nothing waits for another lock while
/// holding `durable`.
///
/// Matching takes the state lock shared, also when it fires: a subscription fires by an
/// atomic claim on its record, so "each fires at most once, first event wins" holds without
/// an exclusive lock. Fired records are taken out of the store after the claim ("settling",
/// under the exclusive lock, by whoever gets it first); every other call sees the store
/// settled.
pub struct Engine {
    config: Config,
    frontend: Frontend,
    state: RwLock<Store>,
    /// Claimed (fired) slots not yet taken out of the store. Pushed to under the shared
    /// state lock, emptied under the exclusive one: whoever holds that sees every claim here.
    fired: Mutex<Vec<SlotId>>,
    lookback: Mutex<Lookback>,
    claims: Claims,
    /// The store of a durable engine (`None` in memory, and once closed).
    durable: Mutex<Option<Durable>>,
    is_durable: bool,
    closed: AtomicBool,
}

/// A subscription compiled and planned, ready to be filed.
struct Prepared {
    sub: Subscription,
    compiled: Option<(Arc<Shape>, Option<Arc<Template>>)>,
    params: Box<[Value<'static>]>,
    plan: Option<Vec<(Path, Pred<'static>)>>,
    deadline_ms: Option<i64>,
    fingerprint: u64,
}

/// What filing a prepared subscription did.
enum Inserted {
    /// Stored in this slot (a durable engine then commits it).
    Stored(SlotId),
    /// The same subscription was there already (in this slot): nothing to do.
    Existing(SlotId),
    /// A buffered event fired it at once (lookback): not stored.
    Fired(Fired),
}

impl Inserted {
    fn into_fired(self) -> Option<Fired> {
        match self {
            Inserted::Fired(f) => Some(f),
            _ => None,
        }
    }
}

/// The parts of an event the engine reads itself.
struct EventMeta<'e> {
    name: &'e str,
    id: Option<&'e str>,
    time_ms: Option<i64>,
}

/// Subscriptions are listed in pages of this many, each under a brief shared lock.
const LIST_PAGE: usize = 1024;

/// `add_many` on an in-memory engine yields the exclusive lock (fairly) after this many.
const ADD_CHUNK: usize = 256;

/// Fired subscriptions are settled (taken out of the store) by the event that fired them if
/// the exclusive lock is free at that moment, else by the next call that gets it; past this
/// many waiting, an event waits for the lock to settle them.
const SETTLE_MAX: usize = 1 << 16;

impl Engine {
    pub fn new(config: Config) -> Engine {
        Engine::with_parts(config, claims::random_seeds(), None)
    }

    fn with_parts(config: Config, claim_seeds: [u64; 8], durable: Option<Durable>) -> Engine {
        let frontend = Frontend::new(config.dialect, config.limits.clone());
        let claims = Claims::with_seeds(config.max_claims, claim_seeds);
        let is_durable = durable.is_some();
        Engine {
            config,
            frontend,
            state: RwLock::default(),
            fired: Mutex::default(),
            lookback: Mutex::default(),
            claims,
            durable: Mutex::new(durable),
            is_durable,
            closed: AtomicBool::new(false),
        }
    }

    /// A durable engine whose state lives in the SQLite store at `path` (created if absent):
    /// every subscription, claim and (with lookback on) buffered event. Each mutating call
    /// returns only after its changes are committed (see [`Durability`]); `process` commits
    /// the consumption of what it fires before it returns it. Opening reads the store back
    /// and rebuilds the index.
    ///
    /// Errors: `corrupt_store` (damaged, or not SQLite), `incompatible_store` (another
    /// schema, or not a celmatch store), `store_locked` (open elsewhere), `io_error`.
    pub fn open(path: impl AsRef<FsPath>, config: Config) -> Result<Engine, Error> {
        let path = path.as_ref();
        let (durable, loaded) = Durable::open(path, &config, claims::random_seeds())?;
        let engine = Engine::with_parts(config, loaded.claim_seeds, None);
        // Rebuild: recompile what was accepted, in registration order, with the fingerprints
        // it was accepted with (a re-add after restart is still a no-op).
        let now = engine.now();
        {
            let mut st = engine.state.write();
            for (sub, fingerprint) in loaded.subscriptions {
                let id = sub.id.clone();
                let restored = engine.prepare(sub, now).and_then(|mut p| {
                    p.fingerprint = fingerprint;
                    engine.insert(&mut st, &p, now)
                });
                if let Err(e) = restored {
                    return Err(Error::new(crate::ErrorKind::IncompatibleStore, format!("{}: stored subscription {id:?} no longer compiles: {e}", path.display())));
                }
            }
        }
        for (hash, expires_ms) in loaded.claims.into_iter().filter(|&(_, e)| e > now) {
            engine.claims.restore(hash, expires_ms);
        }
        let mut stale = Vec::new();
        {
            let mut lb = engine.lookback.lock();
            // With lookback off the rows are left alone (a later open with it on finds them).
            for (seq, name, text, time_ms) in loaded.lookback.into_iter().filter(|_| engine.config.lookback_max_events > 0) {
                let event = Node::parse(text.as_bytes(), usize::MAX).map_err(|e| Error::new(crate::ErrorKind::CorruptStore, format!("{}: buffered event {seq} is not JSON: {e:?}", path.display())))?;
                let id = engine.event_meta(&event).ok().and_then(|m| m.id.map(str::to_owned));
                stale.extend(lb.restore(seq, &name, (Arc::from(text.as_str()), id, time_ms), engine.config.lookback_max_events, engine.config.lookback_max_bytes));
            }
            if engine.config.lookback_max_events > 0 {
                stale.extend(lb.trim(now.saturating_sub(engine.config.lookback_max_age_ms)));
            }
        }
        let mut durable = durable;
        if !stale.is_empty() {
            durable.write(|tx| stale.iter().try_for_each(|&s| durable::delete_lookback(tx, s)))?;
        }
        *engine.durable.lock() = Some(durable);
        Ok(Engine { is_durable: true, ..engine })
    }

    /// Writes the engine's state (subscriptions, claims, buffered events) to a new store at
    /// `path` in the format [`Engine::open`] reads, atomically: a temporary file beside it,
    /// synced, renamed over `path`, and the directory synced. Subscriptions are written as
    /// [`Engine::get`] returns them.
    pub fn save(&self, path: impl AsRef<FsPath>) -> Result<(), Error> {
        self.check_open()?;
        let path = path.as_ref();
        let io = |what: &str, e: std::io::Error| Error::new(crate::ErrorKind::IoError, format!("{what} {}: {e}", path.display()));
        // Renaming over the open store would leave this engine writing to an unlinked file.
        if let (Some(own), Ok(target)) = (self.durable.lock().as_ref().map(Durable::path), std::fs::canonicalize(path)) {
            if std::fs::canonicalize(own).is_ok_and(|own| own == target) {
                return Err(io("saving over the engine's own open store", std::io::Error::other("use a different path")));
            }
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| io("saving to", std::io::Error::other("not a file path")))?;
        let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let result = (|| {
            let mut d = Durable::create(&tmp, &self.config, self.claims.seeds())?;
            // One consistent snapshot: the state's read lock is held while the claims and the
            // buffer are read too (calls that change them wait).
            let st = self.read();
            let subs = st.export();
            let claims = self.claims.export();
            let lb = self.lookback.lock();
            let events = lb.export();
            d.write(|tx| {
                for (s, fingerprint) in &subs {
                    durable::insert_subscription(tx, s, s.deadline_ms, *fingerprint)?;
                }
                for &(h, e) in &claims {
                    durable::put_claim(tx, h, e)?;
                }
                for &(seq, name, text, time_ms) in &events {
                    durable::insert_lookback(tx, seq, name, text, time_ms)?;
                }
                Ok(())
            })?;
            drop((lb, st));
            drop(d); // closes the database: the WAL is checkpointed into the file
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io("syncing", e))?;
            std::fs::rename(&tmp, path).map_err(|e| io("renaming into", e))?;
            std::fs::File::open(&dir).and_then(|f| f.sync_all()).map_err(|e| io("syncing the directory of", e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Closes the engine: a durable engine releases its store (another process may open it
    /// now). Every later call that changes or matches anything is the error `engine_closed`.
    pub fn close(&self) -> Result<(), Error> {
        self.closed.store(true, Ordering::SeqCst);
        // Wait for calls in flight, then drop the connection.
        let _st = self.write();
        self.durable.lock().take();
        Ok(())
    }

    /// Whether this engine keeps its state in a store ([`Engine::open`]).
    pub fn is_durable(&self) -> bool {
        self.is_durable
    }

    /// The store, shared, with fired subscriptions taken out (everything but matching reads it
    /// so: a fired subscription is gone for `len`, `get`, listings and `stats`).
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        if self.fired.lock().is_empty() {
            return self.state.read();
        }
        RwLockWriteGuard::downgrade(self.write())
    }

    /// The store, exclusive and settled.
    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        let mut st = self.state.write();
        self.settle(&mut st);
        st
    }

    /// Takes every claimed subscription out of the store (its commit is done: a durable
    /// engine deletes the rows before the claim is published).
    fn settle(&self, st: &mut Store) {
        for slot in std::mem::take(&mut *self.fired.lock()) {
            st.take(slot);
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::new(crate::ErrorKind::Closed, "the engine is closed"));
        }
        Ok(())
    }

    /// Commits `f`'s rows when the engine is durable (and does nothing in memory).
    fn persist(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>) -> Result<(), Error> {
        if !self.is_durable {
            return Ok(());
        }
        match self.durable.lock().as_mut() {
            Some(d) => d.write(f),
            None => Err(Error::new(crate::ErrorKind::Closed, "the engine is closed")),
        }
    }

    /// `PRAGMA integrity_check` of a durable engine's store (`None` in memory).
    #[doc(hidden)]
    pub fn integrity_check(&self) -> Option<Result<String, Error>> {
        self.durable.lock().as_ref().map(Durable::integrity_check)
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
        if sub.deadline_ms.is_some() && sub.timeout_ms.is_some() {
            return Err(Error::invalid_subscription("give a deadline or a timeout, not both"));
        }
        // A negative span is a mistake, never a way to say "already due" (use a deadline).
        for (name, v) in [("timeout", sub.timeout_ms), ("lookback", sub.lookback_ms)] {
            if let Some(ms) = v.filter(|&ms| ms < 0) {
                return Err(Error::invalid_subscription(format!("{name} is negative ({ms} ms)")));
            }
        }
        let compiled = match (&sub.condition, &sub.trigger) {
            (None, _) => None,
            (Some(c), Some(t)) => Some(self.compile_bound(c, t)?),
            (Some(c), None) => Some(self.compile(c)?),
        };
        let (compiled, params) = match compiled {
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
                    (Some((c.shape, c.template)), c.params)
                }
            },
        };
        let plan = match &compiled {
            None => None,
            Some((s, _)) => index::plan(s, &params),
        };
        let deadline_ms = sub.deadline_ms.or(sub.timeout_ms.map(|t| now.saturating_add(t)));
        let fingerprint = fingerprint(&sub);
        Ok(Prepared { sub, compiled, params, plan, deadline_ms, fingerprint })
    }

    /// Adds a subscription. A wait with lookback that matches a buffered event fires at
    /// once: it is returned and not stored. Re-adding an identical subscription under the
    /// same id is a no-op; a different one is the error `id_conflict`.
    pub fn add(&self, sub: Subscription) -> Result<Option<Fired>, Error> {
        self.add_many(vec![sub]).pop().expect("one result")
    }

    /// Adds many subscriptions under one lock (and, durable, in one commit); shapes are
    /// compiled once per distinct shape. One bad subscription fails alone.
    pub fn add_many(&self, subs: Vec<Subscription>) -> Vec<Result<Option<Fired>, Error>> {
        if let Err(e) = self.check_open() {
            return subs.iter().map(|_| Err(e.clone())).collect();
        }
        let now = self.now();
        let prepared: Vec<Result<Prepared, Error>> = subs.into_iter().map(|s| self.prepare(s, now)).collect();
        let mut st = self.write();
        let mut results = Vec::with_capacity(prepared.len());
        let mut stored: Vec<(usize, SlotId, Prepared)> = Vec::new();
        // Items that found a subscription stored earlier in this batch: they stand or fall
        // with its commit.
        let mut same_as: Vec<(usize, SlotId)> = Vec::new();
        for (n, p) in prepared.into_iter().enumerate() {
            // In memory, a long batch lets matching in between chunks: registering holds the
            // exclusive lock for at most a chunk. (A durable batch is one commit: it holds the
            // lock until its subscriptions are stored or taken back.)
            if !self.is_durable && n > 0 && n % ADD_CHUNK == 0 {
                RwLockWriteGuard::bump(&mut st);
            }
            let r = p.and_then(|p| {
                let r = self.insert(&mut st, &p, now);
                match r {
                    Ok(Inserted::Stored(slot)) => stored.push((results.len(), slot, p)),
                    Ok(Inserted::Existing(slot)) => same_as.push((results.len(), slot)),
                    _ => {}
                }
                r
            });
            results.push(r.map(Inserted::into_fired));
        }
        if stored.is_empty() {
            return results;
        }
        let committed = self.persist(|tx| stored.iter().try_for_each(|(_, _, p)| durable::insert_subscription(tx, &p.sub, p.deadline_ms, p.fingerprint)));
        if let Err(e) = committed {
            // Nothing was committed: nothing stays.
            for &(i, slot) in &same_as {
                if stored.iter().any(|&(_, s, _)| s == slot) {
                    results[i] = Err(e.clone());
                }
            }
            for (i, slot, _) in stored {
                st.take(slot);
                results[i] = Err(e.clone());
            }
        }
        results
    }

    /// Files a prepared subscription in memory (a durable engine commits it after).
    fn insert(&self, st: &mut Store, p: &Prepared, now: i64) -> Result<Inserted, Error> {
        if let Some(slot) = st.find(&p.sub.id) {
            let (fingerprint, kind, event) = st.identity(slot);
            if fingerprint == p.fingerprint {
                return Ok(Inserted::Existing(slot));
            }
            let differ = differences(st, slot, p).join(", ");
            return Err(Error::new(
                crate::ErrorKind::IdConflict,
                format!(
                    "id {:?} is taken by a different subscription (a {} on {:?}); they differ in: {differ}",
                    p.sub.id,
                    kind.as_str(),
                    event,
                ),
            ));
        }
        // Lookback, under the write lock: an event processed concurrently is either in the
        // buffer now or will see this wait once it is filed. Evaluation errors met here
        // count against the wait if it is stored.
        let mut errors = (0u32, None);
        if let Some(window) = p.sub.lookback_ms.filter(|_| p.sub.kind == Kind::Wait) {
            let lb = self.lookback.lock();
            let probe = Probe {
                shape: p.compiled.as_ref().map(|(s, _)| &**s),
                params: &p.params,
                not_before_ms: p.sub.not_before_ms,
                exclude: p.sub.exclude_event_id.as_deref(),
            };
            // The buffer is trimmed lazily (when events arrive); never look further back
            // than it promises to keep.
            let window = window.min(self.config.lookback_max_age_ms);
            for b in lb.since(&p.sub.event, now.saturating_sub(window)) {
                if p.deadline_ms.is_some_and(|d| d <= now) {
                    break;
                }
                // Buffered texts were events that parsed within the limits.
                let Ok(event) = Node::parse(b.text.as_bytes(), usize::MAX) else { continue };
                match self.verify(&probe, &event, b.id.as_deref(), Some(b.time_ms)) {
                    Ok(true) => return Ok(Inserted::Fired(Fired { id: p.sub.id.clone(), kind: Kind::Wait, owner: p.sub.owner.clone() })),
                    Ok(false) => {}
                    Err(kind) => errors = (errors.0.saturating_add(1), Some(kind)),
                }
            }
        }
        let slot = st.insert(NewRecord {
            sub: &p.sub,
            compiled: p.compiled.clone(),
            params: &p.params,
            plan: p.plan.as_deref(),
            deadline_ms: p.deadline_ms,
            fingerprint: p.fingerprint,
            eval_errors: errors,
        })?;
        Ok(Inserted::Stored(slot))
    }

    /// Removes a subscription; `false` if there was none with this id. Fails for a closed
    /// engine, or a durable one whose store cannot be written (then nothing is removed).
    pub fn remove(&self, id: &str) -> Result<bool, Error> {
        self.check_open()?;
        let mut st = self.write();
        let Some(slot) = st.find(id) else { return Ok(false) };
        self.persist(|tx| durable::delete_subscription(tx, id))?;
        st.take(slot);
        Ok(true)
    }

    /// Removes every subscription of `owner` (in O(k) for its k subscriptions); returns how
    /// many.
    pub fn remove_owner(&self, owner: &str) -> Result<usize, Error> {
        self.check_open()?;
        let mut st = self.write();
        let slots = st.slots_of(owner);
        self.persist(|tx| slots.iter().try_for_each(|&s| durable::delete_subscription(tx, st.id(s))))?;
        Ok(st.remove_owner(owner))
    }

    /// Number of pending subscriptions.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a subscription with this id is pending.
    pub fn contains(&self, id: &str) -> bool {
        self.read().find(id).is_some()
    }

    /// The pending subscription with this id, as registered. The trigger was bound into the
    /// condition at registration, so the condition comes back as its text with this
    /// subscription's literals and the trigger holds just the fields the condition reads;
    /// re-adding it to an engine gives the same subscription. A timeout comes back as the
    /// deadline it set; lookback (a registration-time test) is not kept.
    pub fn get(&self, id: &str) -> Option<Subscription> {
        let st = self.read();
        st.find(id).map(|s| st.subscription(s))
    }

    /// Every pending subscription (see [`Engine::get`]), in storage order. The engine is
    /// read a page at a time under a brief shared lock, so iterating never blocks other
    /// calls for long; subscriptions added or removed meanwhile may or may not be seen.
    pub fn subscriptions(&self) -> impl Iterator<Item = Subscription> + '_ {
        let mut cursor = Some(0);
        let mut page = Vec::new().into_iter();
        std::iter::from_fn(move || loop {
            if let Some(s) = page.next() {
                return Some(s);
            }
            let (subs, next) = self.subscriptions_page(cursor?, LIST_PAGE);
            cursor = next;
            page = subs.into_iter();
            if page.len() == 0 && cursor.is_none() {
                return None;
            }
        })
    }

    /// One page of [`Engine::subscriptions`]: up to `limit` subscriptions from `cursor` on
    /// (start at 0), and the cursor of the next page (`None` at the end). For bindings that
    /// iterate lazily.
    pub fn subscriptions_page(&self, cursor: usize, limit: usize) -> (Vec<Subscription>, Option<usize>) {
        let st = self.read();
        let (slots, next) = st.slots_from(cursor, limit.max(1));
        (slots.into_iter().map(|s| st.subscription(s)).collect(), next)
    }

    /// The pending subscriptions of `owner`, newest first.
    pub fn subscriptions_of(&self, owner: &str) -> Vec<Subscription> {
        let st = self.read();
        st.slots_of(owner).into_iter().map(|s| st.subscription(s)).collect()
    }

    /// Checks every invariant of the store and the index (tests and fuzz targets call it).
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        self.read().validate()
    }

    /// The event's name: `invalid_event` for a non-object or a missing or non-string name.
    pub(crate) fn event_name<'e>(&self, event: &'e Node<'e>) -> Result<&'e str, Error> {
        let Node::Map(_) = event else { return Err(Error::invalid_event("an event must be a JSON object")) };
        match event.get(&self.config.fields.name) {
            Some(Node::Str(s)) => Ok(&**s),
            _ => Err(Error::invalid_event(format!("the event has no string field {:?} naming it", self.config.fields.name))),
        }
    }

    fn event_meta<'e>(&self, event: &'e Node<'e>) -> Result<EventMeta<'e>, Error> {
        let name = self.event_name(event)?;
        let get = |key: &str| event.get(key);
        let f = &self.config.fields;
        // An id or a time that is there but unreadable is an error, not "no id" or "now": the
        // event would silently escape `exclude_event_id` or `not_before`.
        let id = match get(&f.id) {
            None | Some(Node::Null) => None,
            Some(Node::Str(s)) => Some(&**s),
            Some(other) => return Err(Error::invalid_event(format!("the event's {:?} must be a string, not {}", f.id, other.to_json()))),
        };
        let time_ms = match get(&f.time) {
            None | Some(Node::Null) => None,
            Some(v) => Some(node_time_ms(v).ok_or_else(|| Error::invalid_event(format!("the event's {:?} must be epoch milliseconds or an RFC 3339 time, not {}", f.time, v.to_json())))?),
        };
        Ok(EventMeta { name, id, time_ms })
    }

    /// Reads JSON text into the event view (within the size and depth limits) and processes
    /// it. No JSON tree is built: the index and the conditions read the view, which borrows
    /// the text.
    pub fn process_bytes(&self, json: &[u8]) -> Result<Vec<Fired>, Error> {
        let event = self.view_event(json)?;
        self.process_event(&event, Some(json))
    }

    /// Parses event JSON within the configured limits (what `process_bytes` accepts).
    pub fn parse_event(&self, json: &[u8]) -> Result<Json, Error> {
        Ok(self.view_event(json)?.to_json())
    }

    fn view_event<'j>(&self, json: &'j [u8]) -> Result<Node<'j>, Error> {
        let limits = &self.config.limits;
        if json.len() > limits.max_event_bytes {
            return Err(Error::limit_exceeded(format!("event is {} bytes, over the limit of {}", json.len(), limits.max_event_bytes)));
        }
        Node::parse(json, limits.max_event_depth).map_err(|e| match e {
            ParseError::TooDeep => Error::limit_exceeded(format!("event nests deeper than the limit of {}", limits.max_event_depth)),
            ParseError::Syntax(m) => Error::invalid_event(format!("invalid JSON: {m}")),
        })
    }

    /// Checks an event given as a value against the limits that [`Engine::parse_event`]
    /// applies to text: `max_event_depth`, and `max_event_bytes` on its JSON text (measured
    /// without building it, stopping at the limit). For bindings that receive events as
    /// native objects (Python dicts), so that the limits hold whatever form an event takes.
    pub fn check_event(&self, event: &Json) -> Result<(), Error> {
        let limits = &self.config.limits;
        // Nesting of arrays and objects (the outermost container is depth 1), without recursion.
        let mut depth = 0;
        let mut stack = vec![(event, 0usize)];
        while let Some((v, d)) = stack.pop() {
            match v {
                Json::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
                Json::Object(m) => stack.extend(m.values().map(|x| (x, d + 1))),
                _ => {}
            }
            depth = depth.max(if v.is_array() || v.is_object() { d + 1 } else { d });
        }
        if depth > limits.max_event_depth {
            return Err(Error::limit_exceeded(format!("event nests {depth} deep, over the limit of {}", limits.max_event_depth)));
        }
        /// Counts bytes written, failing past `cap` (which ends the serialization early).
        struct Counter {
            n: usize,
            cap: usize,
        }
        impl std::io::Write for Counter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.n += buf.len();
                if self.n > self.cap {
                    return Err(std::io::Error::other("over the limit"));
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter { n: 0, cap: limits.max_event_bytes };
        if serde_json::to_writer(&mut counter, event).is_err() {
            return Err(Error::limit_exceeded(format!("event is over {} bytes as JSON, the limit", limits.max_event_bytes)));
        }
        Ok(())
    }

    /// Fires every subscription the event satisfies, each at most once, in registration
    /// order. Errors only for a malformed event; evaluation errors mean "no match" and are
    /// counted per subscription (see [`Engine::eval_errors`]).
    pub fn process(&self, event: &Json) -> Result<Vec<Fired>, Error> {
        self.process_event(&Node::from_json(event), None)
    }

    /// `process`, with the event's JSON text when the caller has it (for lookback).
    fn process_event(&self, event: &Node<'_>, text: Option<&[u8]>) -> Result<Vec<Fired>, Error> {
        let meta = self.event_meta(event)?;
        let now = self.now();
        self.check_open()?;
        let lookback_on = self.config.lookback_max_events > 0;
        if lookback_on {
            // Text that parsed as JSON is UTF-8: the buffer keeps it as given (copied before
            // the buffer's lock is taken).
            let text: Arc<str> = match text.and_then(|t| std::str::from_utf8(t).ok()) {
                Some(t) => Arc::from(t),
                None => Arc::from(event.to_json().to_string()),
            };
            let item = (text.clone(), meta.id.map(str::to_owned), meta.time_ms.unwrap_or(now));
            let mut lb = self.lookback.lock();
            let mut dropped = lb.trim_for(meta.name, now.saturating_sub(self.config.lookback_max_age_ms));
            let (seq, evicted) = lb.push(meta.name, item, self.config.lookback_max_events, self.config.lookback_max_bytes);
            dropped.extend(evicted);
            let committed = self.persist(|tx| {
                durable::insert_lookback(tx, seq, meta.name, &text, meta.time_ms.unwrap_or(now))?;
                dropped.iter().try_for_each(|&s| durable::delete_lookback(tx, s))
            });
            if let Err(e) = committed {
                // Nobody may fire from an event that is not stored. (What the push pushed out
                // stays out; its rows stay too, and come back at a reopen if still young.)
                lb.unpush(meta.name, seq);
                return Err(e);
            }
        }
        // Shared lock, not settled: matching skips what other events claimed meanwhile.
        let st = self.state.read();
        let Some(partition) = st.partition(meta.name) else { return Ok(Vec::new()) };
        let mut candidates = Vec::new();
        partition.candidates(event, self.config.dialect, &mut candidates);
        candidates.sort_unstable();
        candidates.dedup();
        let mut hits: SmallVec<[(u64, SlotId); 8]> = SmallVec::new();
        for slot in candidates.into_iter().map(SlotId::from_u32) {
            let Some(v) = st.view(slot) else { continue };
            if v.deadline_ms.is_some_and(|d| d <= now) || st.is_claimed(slot) {
                continue;
            }
            let probe = Probe { shape: v.shape, params: &v.params, not_before_ms: v.not_before_ms, exclude: v.exclude_event_id };
            match self.verify(&probe, event, meta.id, Some(meta.time_ms.unwrap_or(now))) {
                Ok(true) => hits.push((v.seq, slot)),
                Ok(false) => {}
                Err(kind) => st.count_error(slot, kind),
            }
        }
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        // Claim in registration order what this event fires (and, with
        // `cancel_removes_owner`, the other subscriptions of a fired cancellation's owner);
        // what another event claimed first is not ours.
        hits.sort_unstable();
        let (mut fired_slots, mut gone): (SmallVec<[SlotId; 4]>, SmallVec<[SlotId; 4]>) = Default::default();
        for (seq, slot) in hits {
            if !st.claim(slot, seq) {
                continue;
            }
            fired_slots.push(slot);
            gone.push(slot);
            let (_, kind, _) = st.identity(slot);
            if kind == Kind::Cancel && self.config.cancel_removes_owner {
                if let Some(o) = st.owner(slot) {
                    for s in st.slots_of(&o) {
                        if st.view(s).is_some_and(|v| st.claim(s, v.seq)) {
                            gone.push(s);
                        }
                    }
                }
            }
        }
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        // Commit, then publish. A failed commit gives the claims back: nothing fired.
        if let Err(e) = self.persist(|tx| gone.iter().try_for_each(|&s| durable::delete_subscription(tx, st.id(s)))) {
            gone.iter().for_each(|&s| st.unclaim(s));
            return Err(e);
        }
        let fired = fired_slots
            .iter()
            .map(|&s| Fired { id: st.id(s).to_owned(), kind: st.identity(s).1, owner: st.owner(s) })
            .collect();
        let waiting = {
            let mut f = self.fired.lock();
            f.extend(gone);
            f.len()
        };
        drop(st);
        if waiting >= SETTLE_MAX {
            drop(self.write());
        } else if let Some(mut st) = self.state.try_write() {
            self.settle(&mut st);
        }
        Ok(fired)
    }

    pub fn process_many(&self, events: &[Json]) -> Vec<Result<Vec<Fired>, Error>> {
        events.iter().map(|e| self.process(e)).collect()
    }

    /// Whether `event` fires the probed subscription: time, exclusion and the condition. An
    /// evaluation error is its kind (no match; the caller counts it).
    fn verify(&self, p: &Probe<'_>, event: &Node<'_>, event_id: Option<&str>, time_ms: Option<i64>) -> Result<bool, EvalErrorKind> {
        if let (Some(nb), Some(t)) = (p.not_before_ms, time_ms) {
            if t < nb {
                return Ok(false);
            }
        }
        if p.exclude.is_some() && p.exclude == event_id {
            return Ok(false);
        }
        let Some(shape) = p.shape else { return Ok(true) };
        crate::frontend::matches(shape, p.params, event, self.config.dialect).map_err(|e| e.kind())
    }

    /// Evaluation errors of a pending subscription: how many, and the kind of the last one.
    /// Errors are counted when the subscription is verified, that is when the index made it
    /// a candidate for an event; the count lives and dies with the subscription. `explain`
    /// with the event shows the full error.
    pub fn eval_errors(&self, id: &str) -> Option<(u64, crate::EvalError)> {
        let st = self.read();
        let (n, kind) = st.errors(st.find(id)?);
        let kind = kind.filter(|_| n > 0)?;
        Some((n as u64, crate::EvalError::new(kind, format!("{} (explain with the event shows the full error)", kind.code()))))
    }

    /// Removes every subscription whose deadline is at or before `now_ms` (the clock's time
    /// by default) and returns their ids, earliest deadline first. Also drops expired claims.
    pub fn expire(&self, now_ms: Option<i64>) -> Result<Vec<String>, Error> {
        self.expire_at_most(now_ms, usize::MAX)
    }

    /// [`Engine::expire`] in bounded batches: removes at most `limit` subscriptions (the
    /// earliest deadlines), so a timer loop never holds the engine for long. Call again
    /// while it returns `limit` ids.
    pub fn expire_at_most(&self, now_ms: Option<i64>, limit: usize) -> Result<Vec<String>, Error> {
        self.check_open()?;
        let now = now_ms.unwrap_or_else(|| self.now());
        let mut st = self.write();
        let due = st.due(now, limit);
        let committed = self.persist(|tx| {
            due.iter().try_for_each(|&s| durable::delete_subscription(tx, st.id(s)))?;
            durable::delete_claims_expired(tx, now)
        });
        if let Err(e) = committed {
            st.undue(&due);
            return Err(e);
        }
        let out = due
            .into_iter()
            .map(|s| {
                let id = st.id(s).to_owned();
                st.take(s);
                id
            })
            .collect();
        drop(st);
        self.claims.sweep(now, limit);
        Ok(out)
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
        self.check_open()?;
        self.claims.claim(scope, key, ttl_ms, now_ms.unwrap_or_else(|| self.now()), &|hash, expires_ms| {
            self.persist(|tx| durable::put_claim(tx, hash, expires_ms))
        })
    }

    /// Event-id dedupe: `true` the first time an event id is seen within `ttl_ms`.
    pub fn claim_event_id(&self, event: &Json, ttl_ms: i64) -> Result<bool, Error> {
        let event = Node::from_json(event);
        let meta = self.event_meta(&event)?;
        let id = meta.id.ok_or_else(|| Error::invalid_event(format!("the event has no string field {:?}", self.config.fields.id)))?;
        self.claim("event-id", id, ttl_ms, None)
    }
}

/// What tells the subscription in `slot` and a new one with its id apart, for `id_conflict`.
fn differences(st: &Store, slot: SlotId, p: &Prepared) -> Vec<&'static str> {
    let old = st.subscription(slot);
    let new = &p.sub;
    let mut out = Vec::new();
    for (name, differs) in [
        ("kind", old.kind != new.kind),
        ("event", old.event != new.event),
        ("owner", old.owner != new.owner),
        ("deadline", old.deadline_ms != p.deadline_ms),
        ("not_before", old.not_before_ms != new.not_before_ms),
        ("exclude_event_id", old.exclude_event_id != new.exclude_event_id),
    ] {
        if differs {
            out.push(name);
        }
    }
    let same_condition = match (st.view(slot).and_then(|v| v.shape.map(|s| (s, v.params))), &p.compiled) {
        (None, None) => true,
        (Some((shape, params)), Some((new_shape, _))) => {
            shape.key == new_shape.key && params.len() == p.params.len() && params.iter().zip(p.params.iter()).all(|(a, b)| a.to_json() == b.to_json())
        }
        _ => false,
    };
    if !same_condition {
        out.push("condition (with its trigger values)");
    }
    if out.is_empty() {
        // Equal in effect, given differently (a timeout for a deadline, another trigger
        // field order with other unread fields, a lookback window).
        out.push("how it was given (timeout, lookback or trigger fields the condition does not read)");
    }
    out
}

/// What verification needs of a subscription, stored or about to be.
struct Probe<'a> {
    shape: Option<&'a Shape>,
    params: &'a [Value<'a>],
    not_before_ms: Option<i64>,
    exclude: Option<&'a str>,
}

fn fingerprint(s: &Subscription) -> u64 {
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    (s.kind, &s.event, &s.condition, &s.owner, s.deadline_ms, s.timeout_ms, s.not_before_ms, &s.exclude_event_id, s.lookback_ms).hash(&mut h);
    // The same trigger with its keys in another order is the same subscription (serde_json's
    // `preserve_order`, on in the bindings, keeps input order).
    if let Some(t) = &s.trigger {
        hash_canonical(t, &mut h);
    }
    h.finish()
}

/// Hashes JSON as its canonical form would (object keys sorted), without building it.
fn hash_canonical(v: &Json, h: &mut impl Hasher) {
    match v {
        Json::Null => 0u8.hash(h),
        Json::Bool(b) => (1u8, b).hash(h),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => (2u8, i).hash(h),
            (None, Some(u)) => (3u8, u).hash(h),
            _ => (4u8, n.as_f64().map(f64::to_bits)).hash(h),
        },
        Json::String(s) => (5u8, s).hash(h),
        Json::Array(a) => {
            (6u8, a.len()).hash(h);
            a.iter().for_each(|x| hash_canonical(x, h));
        }
        Json::Object(m) => {
            (7u8, m.len()).hash(h);
            let mut entries: Vec<(&String, &Json)> = m.iter().collect();
            entries.sort_unstable_by_key(|(k, _)| *k);
            for (k, x) in entries {
                k.hash(h);
                hash_canonical(x, h);
            }
        }
    }
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

impl Default for Engine {
    /// An engine with [`Config::default`]: strict dialect, Inngest-style events.
    fn default() -> Self {
        Engine::new(Config::default())
    }
}
