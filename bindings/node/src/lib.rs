//! Node.js bindings for celmatch: the `Engine` class.
//!
//! Every method takes its arguments as raw JS values and checks them itself, so bad input
//! is always a JS `Error` with a `code` (see `error.rs`), never a crash. The TypeScript
//! types of the arguments live in `types/header.d.ts`, which napi prepends to the
//! generated `index.d.ts`.

mod cluster;
mod convert;
mod error;

use celmatch::{Config, ManualClock, Subscription};
use convert::present;
use error::{run, Failure, Outcome, INVALID_ARGUMENT, INVALID_CONFIG};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task, Unknown};
use napi_derive::napi;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// A subscription that an event (or, for a wait added with `lookback`, a buffered event)
/// satisfied. It has been consumed: it will not fire again.
#[napi(object)]
pub struct Fired {
    pub id: String,
    #[napi(ts_type = "'wait' | 'cancel'")]
    pub kind: String,
    pub owner: Option<String>,
}

impl From<celmatch::Fired> for Fired {
    fn from(f: celmatch::Fired) -> Self {
        Fired { id: f.id, kind: f.kind.as_str().to_owned(), owner: f.owner }
    }
}

fn fired_json(f: &Option<celmatch::Fired>) -> Json {
    serde_json::to_value(f).unwrap_or(Json::Null)
}

/// The matching engine: pending waits and cancellations, indexed by their CEL conditions.
#[napi]
pub struct Engine {
    inner: Arc<celmatch::Engine>,
    clock: Option<Arc<ManualClock>>,
}

#[napi]
impl Engine {
    #[napi(constructor, ts_args_type = "options?: EngineOptions")]
    pub fn new(env: &Env, options: Option<Unknown>) -> napi::Result<Self> {
        run(env, || {
            let record = read_options(env, options)?;
            if record.durability_given {
                return Err(Failure::new(INVALID_CONFIG, "durability is an option of Engine.open (an engine made with new Engine keeps nothing)"));
            }
            Ok(Engine { inner: Arc::new(celmatch::Engine::new(record.config)), clock: record.clock })
        })
    }

    /// A durable engine whose state lives in the SQLite store at `path` (created if absent):
    /// every call that changes something returns only after it is committed, and reopening
    /// the store gives back every acknowledged subscription and claim. `options` as for the
    /// constructor, plus `durability`: `'process'` (default; survives a killed process) or
    /// `'power'` (survives power loss too). Call `close()` to release the store.
    /// Errors: `corrupt_store`, `incompatible_store`, `store_locked`, `io_error`.
    #[napi(factory, ts_args_type = "path: string, options?: EngineOptions & { durability?: 'process' | 'power' }")]
    pub fn open(env: &Env, path: Unknown, options: Option<Unknown>) -> napi::Result<Self> {
        run(env, || {
            let path = convert::string(path, "path")?;
            let record = read_options(env, options)?;
            Ok(Engine { inner: Arc::new(celmatch::Engine::open(&path, record.config)?), clock: record.clock })
        })
    }

    /// Writes the engine's state to a new store at `path` (the format `Engine.open` reads),
    /// atomically: a temporary file beside it, synced, then renamed over `path`.
    #[napi(ts_args_type = "path: string")]
    pub fn save(&self, env: &Env, path: Unknown) -> napi::Result<()> {
        run(env, || Ok(self.inner.save(convert::string(path, "path")?)?))
    }

    /// Closes the engine: a durable engine releases its store. Later calls that change or
    /// match anything throw an error with code `engine_closed`.
    #[napi]
    pub fn close(&self, env: &Env) -> napi::Result<()> {
        run(env, || Ok(self.inner.close()?))
    }

    /// Whether this engine keeps its state in a store (`Engine.open`).
    #[napi(getter)]
    pub fn durable(&self) -> bool {
        self.inner.is_durable()
    }

    /// How a condition compiles: its shape, lifted parameters, constant value (if it reads
    /// nothing from the event) and conjunctions with the index access chosen for each.
    #[napi(ts_args_type = "expr: string", ts_return_type = "CompileInfo")]
    pub fn compile(&self, env: &Env, expr: Unknown) -> napi::Result<Json> {
        run(env, || {
            let expr = convert::string(expr, "expr")?;
            Ok(self.inner.explain_expr(&expr)?)
        })
    }

    /// Adds a wait-for-event. Returns the `Fired` at once if `lookback` found a buffered
    /// event that satisfies it (it is then not stored), else `null`.
    #[napi(ts_args_type = "wait: WaitInput", ts_return_type = "Fired | null")]
    pub fn add_wait(&self, env: &Env, wait: Unknown) -> napi::Result<Option<Fired>> {
        run(env, || self.add(env, wait, "wait"))
    }

    /// Adds a cancellation rule. Always returns `null` (cancellations have no lookback).
    #[napi(ts_args_type = "cancel: CancelInput", ts_return_type = "Fired | null")]
    pub fn add_cancel(&self, env: &Env, cancel: Unknown) -> napi::Result<Option<Fired>> {
        run(env, || self.add(env, cancel, "cancel"))
    }

    /// Adds many subscriptions under one lock (`kind` defaults to `"wait"`). Returns, per
    /// record, a `Fired` (lookback hit) or `null`. Bad records fail alone: the others are
    /// added, and then an error is thrown whose `errors` lists the failures
    /// (`{index, code, message}`) and whose `results` holds every record's result.
    #[napi(ts_args_type = "records: SubscriptionRecord[]", ts_return_type = "Array<Fired | null>")]
    pub fn add_many(&self, env: &Env, records: Unknown) -> napi::Result<Vec<Option<Fired>>> {
        run(env, || {
            let records = match convert::json(env, records, INVALID_ARGUMENT, "records")? {
                Json::Array(a) => a,
                _ => return Err(Failure::argument("records must be an array")),
            };
            let n = records.len();
            let mut slots: Vec<Option<Outcome<Option<celmatch::Fired>>>> = Vec::with_capacity(n);
            let mut subs = Vec::with_capacity(n);
            for r in &records {
                match Subscription::from_record(r) {
                    Ok(s) => {
                        subs.push(s);
                        slots.push(None);
                    }
                    Err(e) => slots.push(Some(Err(e.into()))),
                }
            }
            let mut added = self.inner.add_many(subs).into_iter();
            let results: Vec<Outcome<Option<celmatch::Fired>>> =
                slots.into_iter().map(|s| s.unwrap_or_else(|| added.next().expect("one result per subscription").map_err(Failure::from))).collect();
            let failed: Vec<(usize, &Failure)> = results.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|f| (i, f))).collect();
            if let Some(&(first, f)) = failed.first() {
                let errors = failed
                    .iter()
                    .map(|(i, f)| {
                        let mut e = serde_json::json!({"index": i, "code": f.code, "message": f.message});
                        if let Some((line, column)) = f.position {
                            e["line"] = line.into();
                            e["column"] = column.into();
                        }
                        e
                    })
                    .collect();
                let all = results.iter().map(|r| r.as_ref().map_or(Json::Null, fired_json)).collect();
                let message = format!("{} of {n} records failed; first, record {first}: {}", failed.len(), f.message);
                let mut out = Failure::new(f.code.clone(), message).at(first).with("errors", Json::Array(errors)).with("results", Json::Array(all));
                out.position = f.position;
                return Err(out);
            }
            Ok(results.into_iter().map(|r| r.ok().flatten().map(Fired::from)).collect())
        })
    }

    /// Removes a subscription; `false` if there was none with this id.
    #[napi(ts_args_type = "id: string")]
    pub fn remove(&self, env: &Env, id: Unknown) -> napi::Result<bool> {
        run(env, || Ok(self.inner.remove(&convert::string(id, "id")?)?))
    }

    /// Removes every subscription of `owner`; returns how many.
    #[napi(ts_args_type = "owner: string")]
    pub fn remove_owner(&self, env: &Env, owner: Unknown) -> napi::Result<u32> {
        run(env, || Ok(self.inner.remove_owner(&convert::string(owner, "owner")?)? as u32))
    }

    /// Fires (and consumes) every subscription the event satisfies, in registration order.
    /// The event is an object or its JSON text.
    #[napi(ts_args_type = "event: EventInput", ts_return_type = "Fired[]")]
    pub fn process(&self, env: &Env, event: Unknown) -> napi::Result<Vec<Fired>> {
        run(env, || {
            let text = convert::json_text(env, event, "invalid_event", "event")?;
            Ok(self.inner.process_bytes(text.as_bytes())?.into_iter().map(Fired::from).collect())
        })
    }

    /// `process` for each event, in order. An invalid event fails alone: the others are
    /// processed, and then an error is thrown whose `index` is the first failure's, whose
    /// `errors` lists the failures (`{index, code, message}`) and whose `results` holds, per
    /// event, what it fired (`null` for a failed one). Python's `process_many` does the same.
    #[napi(ts_args_type = "events: EventInput[]", ts_return_type = "Fired[][]")]
    pub fn process_many(&self, env: &Env, events: Unknown) -> napi::Result<Vec<Vec<Fired>>> {
        run(env, || {
            let texts = event_texts(env, events)?;
            let fired = many_outcome(texts.into_iter().map(|t| self.process_text(t)).collect())?;
            Ok(fired.into_iter().map(|v| v.into_iter().map(Fired::from).collect()).collect())
        })
    }

    /// `process` on the libuv thread pool: the JavaScript thread stays free while the event is
    /// matched (and, for a durable engine, committed). The event is read (serialized) now.
    #[napi(ts_args_type = "event: EventInput", ts_return_type = "Promise<Fired[]>")]
    pub fn process_async(&self, env: &Env, event: Unknown) -> napi::Result<AsyncTask<ProcessTask>> {
        run(env, || {
            let text = convert::json_text(env, event, "invalid_event", "event")?;
            Ok(AsyncTask::new(ProcessTask(Batch::new(&self.inner, vec![Ok(text)]))))
        })
    }

    /// `processMany` on the libuv thread pool (one task for the batch, in order).
    #[napi(ts_args_type = "events: EventInput[]", ts_return_type = "Promise<Fired[][]>")]
    pub fn process_many_async(&self, env: &Env, events: Unknown) -> napi::Result<AsyncTask<ProcessManyTask>> {
        run(env, || Ok(AsyncTask::new(ProcessManyTask(Batch::new(&self.inner, event_texts(env, events)?)))))
    }

    /// Removes the subscriptions whose deadline is at or before `now` (default: the engine's
    /// clock) and returns their ids, earliest deadline first. Also drops expired claims. With
    /// `limit`, removes at most that many, so that a timer loop never holds the engine for
    /// long: call again while it returns `limit` ids.
    #[napi(ts_args_type = "now?: TimeInput | null, limit?: number")]
    pub fn expire(&self, env: &Env, now: Option<Unknown>, limit: Option<Unknown>) -> napi::Result<Vec<String>> {
        run(env, || {
            let now = convert::time(now, "now")?;
            let limit = match convert::opt_count(limit, "limit")? {
                Some(0) => return Err(Failure::argument("limit must be at least 1")),
                l => l.unwrap_or(usize::MAX),
            };
            Ok(self.inner.expire_at_most(now, limit)?)
        })
    }

    /// The pending subscription with this id as an `addMany` record, or `null`. The trigger
    /// was bound into the condition when it was added: `trigger` holds just the fields the
    /// condition reads, and a timeout comes back as its `deadline` (epoch milliseconds).
    #[napi(ts_args_type = "id: string", ts_return_type = "SubscriptionRecord | null")]
    pub fn get(&self, env: &Env, id: Unknown) -> napi::Result<Option<Json>> {
        run(env, || Ok(self.inner.get(&convert::string(id, "id")?).map(|s| s.to_record())))
    }

    /// Whether a subscription with this id is pending.
    #[napi(ts_args_type = "id: string")]
    pub fn has(&self, env: &Env, id: Unknown) -> napi::Result<bool> {
        run(env, || Ok(self.inner.contains(&convert::string(id, "id")?)))
    }

    /// Every pending subscription (as `get` returns them). To walk a large engine without
    /// building one array, iterate it (`for (const s of engine)`), which reads a page at a
    /// time.
    #[napi(ts_return_type = "SubscriptionRecord[]")]
    pub fn list(&self, env: &Env) -> napi::Result<Vec<Json>> {
        run(env, || Ok(self.inner.subscriptions().map(|s| s.to_record()).collect()))
    }

    /// One page of the listing: up to `limit` subscriptions from `cursor` on (start at 0) and
    /// the cursor of the next page (`null` at the end). Iterating the engine uses this.
    #[napi(ts_args_type = "cursor: number, limit: number", ts_return_type = "{ subscriptions: SubscriptionRecord[]; next: number | null }")]
    pub fn list_page(&self, env: &Env, cursor: Unknown, limit: Unknown) -> napi::Result<Json> {
        run(env, || {
            let cursor = convert::opt_count(Some(cursor), "cursor")?.unwrap_or(0);
            let limit = convert::opt_count(Some(limit), "limit")?.unwrap_or(1024);
            let (subs, next) = self.inner.subscriptions_page(cursor, limit);
            Ok(serde_json::json!({"subscriptions": subs.iter().map(|s| s.to_record()).collect::<Vec<_>>(), "next": next}))
        })
    }

    /// The pending subscriptions of an owner (as `get` returns them), newest first.
    #[napi(ts_args_type = "owner: string", ts_return_type = "SubscriptionRecord[]")]
    pub fn subscriptions_of(&self, env: &Env, owner: Unknown) -> napi::Result<Vec<Json>> {
        run(env, || Ok(self.inner.subscriptions_of(&convert::string(owner, "owner")?).iter().map(|s| s.to_record()).collect()))
    }

    /// Evaluates a key expression (`event` is the event here) to a canonical string, or
    /// `null` when it is `null` or `false`.
    #[napi(ts_args_type = "expr: string, event: EventInput", ts_return_type = "string | null")]
    pub fn key(&self, env: &Env, expr: Unknown, event: Unknown) -> napi::Result<Option<String>> {
        run(env, || {
            let expr = convert::string(expr, "expr")?;
            let event = convert::event(&self.inner, env, event, "event")?;
            Ok(self.inner.key(&expr, &event)?)
        })
    }

    /// The slots (ascending) a subscription routes to under `routes` (`{ "event name":
    /// "dotted.path" }`), or `null` for the broadcast set: its condition does not pin the
    /// routing path of its event name with `==` or `in`. Slot = CRC16-XMODEM of the value's
    /// canonical bytes mod 16384, as Redis Cluster computes it.
    #[napi(ts_args_type = "routes: Record<string, string>, record: SubscriptionRecord", ts_return_type = "number[] | null")]
    pub fn route(&self, env: &Env, routes: Unknown, record: Unknown) -> napi::Result<Option<Vec<u32>>> {
        run(env, || {
            let routes = cluster::routes(env, routes, "routes")?;
            let record = convert::json(env, record, "invalid_subscription", "record")?;
            let sub = Subscription::from_record(&record)?;
            Ok(slots(self.inner.route(&routes, &sub)?))
        })
    }

    /// The slot of an event (a one-element array), or `null` when only broadcast
    /// subscriptions can match it (no route for its name, or an array or object there).
    #[napi(ts_args_type = "routes: Record<string, string>, event: EventInput", ts_return_type = "number[] | null")]
    pub fn route_event(&self, env: &Env, routes: Unknown, event: Unknown) -> napi::Result<Option<Vec<u32>>> {
        run(env, || {
            let routes = cluster::routes(env, routes, "routes")?;
            let event = convert::event(&self.inner, env, event, "event")?;
            Ok(slots(self.inner.route_event(&routes, &event)?))
        })
    }

    /// Atomic set-if-absent with expiry: `true` for the first claim of `(scope, key)` within
    /// `ttl`, `false` for a duplicate.
    #[napi(ts_args_type = "scope: string, key: string, ttlMs: DurationInput, nowMs?: TimeInput")]
    pub fn claim(&self, env: &Env, scope: Unknown, key: Unknown, ttl_ms: Unknown, now_ms: Option<Unknown>) -> napi::Result<bool> {
        run(env, || {
            let scope = convert::string(scope, "scope")?;
            let key = convert::string(key, "key")?;
            let ttl = convert::duration(ttl_ms, "ttlMs")?;
            let now = convert::time(now_ms, "nowMs")?;
            Ok(self.inner.claim(&scope, &key, ttl, now)?)
        })
    }

    /// How a pending subscription is indexed and, given an event, whether and why it would
    /// or would not fire. `null` if there is no subscription with this id.
    #[napi(ts_args_type = "id: string, event?: EventInput", ts_return_type = "Explanation | null")]
    pub fn explain(&self, env: &Env, id: Unknown, event: Option<Unknown>) -> napi::Result<Option<Json>> {
        run(env, || {
            let id = convert::string(id, "id")?;
            let event = present(event).map(|e| convert::event(&self.inner, env, e, "event")).transpose()?;
            Ok(self.inner.explain(&id, event.as_ref()))
        })
    }

    #[napi(ts_return_type = "Stats")]
    pub fn stats(&self, env: &Env) -> napi::Result<Json> {
        run(env, || Ok(self.inner.stats().to_json()))
    }

    /// Number of pending subscriptions.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// The value of an expression for an event, as a JS value (integers beyond 2^53 as
    /// `BigInt`). Mode `"condition"` (default): `async` is the event and `event` the trigger;
    /// mode `"key"`: `event` is the event.
    #[napi(ts_args_type = "expr: string, event: EventInput, trigger?: EventInput | null, mode?: EvalMode", ts_return_type = "unknown")]
    pub fn eval(&self, env: &Env, expr: Unknown, event: Unknown, trigger: Option<Unknown>, mode: Option<Unknown>) -> napi::Result<Json> {
        run(env, || self.evaluate(env, expr, event, trigger, mode))
    }

    /// `eval`, returning the value as JSON text in the shared corpus's rendering: a `double`
    /// always has a fraction or exponent (`1.0`), so it can be told from an `int`.
    #[napi(ts_args_type = "expr: string, event: EventInput, trigger?: EventInput | null, mode?: EvalMode")]
    pub fn eval_json(&self, env: &Env, expr: Unknown, event: Unknown, trigger: Option<Unknown>, mode: Option<Unknown>) -> napi::Result<String> {
        run(env, || Ok(self.evaluate(env, expr, event, trigger, mode)?.to_string()))
    }

    /// The engine's current time, epoch milliseconds.
    #[napi(getter)]
    pub fn now(&self) -> f64 {
        self.inner.config().clock.now_ms() as f64
    }

    /// Sets the manual clock (engines created with the `now` option only).
    #[napi(ts_args_type = "now: TimeInput")]
    pub fn set_now(&self, env: &Env, now: Unknown) -> napi::Result<()> {
        run(env, || {
            let t = convert::time(Some(now), "now")?.ok_or_else(|| Failure::argument("now is required"))?;
            self.manual_clock()?.set(t);
            Ok(())
        })
    }

    /// Moves the manual clock forward (engines created with the `now` option only).
    #[napi(ts_args_type = "ms: DurationInput")]
    pub fn advance(&self, env: &Env, ms: Unknown) -> napi::Result<()> {
        run(env, || {
            let d = convert::duration(ms, "ms")?;
            self.manual_clock()?.advance(d);
            Ok(())
        })
    }
}

impl Engine {
    fn manual_clock(&self) -> Outcome<&ManualClock> {
        self.clock.as_deref().ok_or_else(|| Failure::argument("this engine runs on the system clock; create it with the `now` option to control time"))
    }

    fn process_text(&self, text: Outcome<String>) -> Outcome<Vec<celmatch::Fired>> {
        text.and_then(|t| Ok(self.inner.process_bytes(t.as_bytes())?))
    }

    fn add(&self, env: &Env, record: Unknown, kind: &'static str) -> Outcome<Option<Fired>> {
        let mut record = convert::json(env, record, "invalid_subscription", kind)?;
        let obj = record.as_object_mut().ok_or_else(|| Failure::new("invalid_subscription", format!("a {kind} must be an object")))?;
        match obj.get("kind") {
            None | Some(Json::Null) => {}
            Some(Json::String(k)) if k == kind => {}
            Some(other) => {
                return Err(Failure::new("invalid_subscription", format!("kind {other} given to add{}", if kind == "wait" { "Wait" } else { "Cancel" })))
            }
        }
        obj.insert("kind".into(), Json::String(kind.into()));
        let sub = Subscription::from_record(&record)?;
        Ok(self.inner.add(sub)?.map(Fired::from))
    }

    fn evaluate(&self, env: &Env, expr: Unknown, event: Unknown, trigger: Option<Unknown>, mode: Option<Unknown>) -> Outcome<Json> {
        let expr = convert::string(expr, "expr")?;
        let event = convert::event(&self.inner, env, event, "event")?;
        let trigger = present(trigger).map(|t| convert::json(env, t, INVALID_ARGUMENT, "trigger")).transpose()?;
        match convert::opt_string(mode, "mode")?.as_deref() {
            None | Some("condition") => Ok(self.inner.eval(&expr, &event, trigger.as_ref())?),
            Some("key") if trigger.is_some() => Err(Failure::argument("a trigger is bound in condition mode only")),
            Some("key") => Ok(self.inner.compile_key(&expr)?.eval(&event)?),
            Some(m) => Err(Failure::argument(format!("mode must be \"condition\" or \"key\", got {m:?}"))),
        }
    }
}

fn slots(r: celmatch::Route) -> Option<Vec<u32>> {
    match r {
        celmatch::Route::Slots(s) => Some(s.into_iter().map(u32::from).collect()),
        celmatch::Route::Broadcast => None,
    }
}

/// The engine options (`EngineOptions`, see `types/header.d.ts`) as the core's configuration
/// record: the core reads, validates and defaults them (`Config::read_record`), so unknown
/// keys and bad values are `invalid_config` with the same messages as in every binding.
fn read_options(env: &Env, options: Option<Unknown>) -> Outcome<celmatch::ConfigRecord> {
    let options = match present(options) {
        None => Json::Object(Map::new()),
        Some(o) => convert::json(env, o, INVALID_CONFIG, "options")?,
    };
    Ok(Config::read_record(&options)?)
}

/// The JSON text of each event of an array (a bad one fails alone, in its place).
fn event_texts(env: &Env, events: Unknown) -> Outcome<Vec<Outcome<String>>> {
    Ok(convert::elements(events, "events")?.into_iter().map(|e| convert::json_text(env, e, "invalid_event", "event")).collect())
}

/// A batch's outcome: every event's fired list, or the error that lists the failures.
fn many_outcome(out: Vec<Outcome<Vec<celmatch::Fired>>>) -> Outcome<Vec<Vec<celmatch::Fired>>> {
    let failed: Vec<(usize, &Failure)> = out.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|f| (i, f))).collect();
    if let Some(&(first, f)) = failed.first() {
        let errors = failed.iter().map(|(i, f)| serde_json::json!({"index": i, "code": f.code, "message": f.message})).collect();
        let results = out.iter().map(|r| r.as_ref().map_or(Json::Null, |fired| serde_json::to_value(fired).unwrap_or(Json::Null))).collect();
        let message = format!("{} of {} events failed; first, event {first}: {}", failed.len(), out.len(), f.message);
        return Err(Failure::new(f.code.clone(), message).at(first).with("errors", Json::Array(errors)).with("results", Json::Array(results)));
    }
    Ok(out.into_iter().map(|r| r.expect("no failure")).collect())
}

/// Events matched on the libuv pool (`processAsync`, `processManyAsync`); results are
/// turned into JS values back on the JS thread.
pub struct Batch {
    engine: Arc<celmatch::Engine>,
    events: Vec<Outcome<String>>,
    out: Vec<Outcome<Vec<celmatch::Fired>>>,
}

impl Batch {
    fn new(engine: &Arc<celmatch::Engine>, events: Vec<Outcome<String>>) -> Batch {
        Batch { engine: engine.clone(), events, out: Vec::new() }
    }

    fn compute(&mut self) {
        let engine = &self.engine;
        // A panic here must not cross into libuv: it becomes an `internal` failure.
        self.out = std::mem::take(&mut self.events)
            .into_iter()
            .map(|t| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.and_then(|t| Ok(engine.process_bytes(t.as_bytes())?))))
                    .unwrap_or_else(|payload| Err(Failure::from_panic(payload)))
            })
            .collect();
    }
}

pub struct ProcessTask(Batch);
pub struct ProcessManyTask(Batch);

impl Task for ProcessTask {
    type Output = ();
    type JsValue = Vec<Fired>;

    fn compute(&mut self) -> napi::Result<()> {
        self.0.compute();
        Ok(())
    }

    fn resolve(&mut self, env: Env, _: ()) -> napi::Result<Vec<Fired>> {
        let first = std::mem::take(&mut self.0.out).into_iter().next().expect("one event");
        first.map(|v| v.into_iter().map(Fired::from).collect()).map_err(|f| f.into_napi(&env))
    }
}

impl Task for ProcessManyTask {
    type Output = ();
    type JsValue = Vec<Vec<Fired>>;

    fn compute(&mut self) -> napi::Result<()> {
        self.0.compute();
        Ok(())
    }

    fn resolve(&mut self, env: Env, _: ()) -> napi::Result<Vec<Vec<Fired>>> {
        let fired = many_outcome(std::mem::take(&mut self.0.out)).map_err(|f| f.into_napi(&env))?;
        Ok(fired.into_iter().map(|v| v.into_iter().map(Fired::from).collect()).collect())
    }
}
