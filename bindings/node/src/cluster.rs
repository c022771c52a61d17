//! `Cluster`: a client of a cluster of celmatch workers on Redis, over the celmatch-cluster
//! crate (no protocol of its own). Calls are synchronous: each is one or a few round trips to
//! Redis.

use crate::convert::{self, present};
use crate::error::{run, Failure, Outcome, INVALID_ARGUMENT};
use celmatch::{Routes, Subscription};
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::{json, Value as Json};
use std::sync::Mutex;

impl From<celmatch_cluster::Error> for Failure {
    fn from(e: celmatch_cluster::Error) -> Self {
        Failure::new(e.code(), e.message())
    }
}

/// A routing table from `{ "event name": "dotted.path" }`.
pub fn routes(env: &Env, v: Unknown, what: &str) -> Outcome<Routes> {
    let json = convert::json(env, v, INVALID_ARGUMENT, what)?;
    Ok(Routes::from_json(&json)?)
}

/// A client of a cluster of celmatch workers (`celmatch worker --redis URL`) whose state is in
/// Redis: register and remove subscriptions, publish events, read what fired or expired.
#[napi]
pub struct Cluster {
    inner: Mutex<celmatch_cluster::Cluster>,
}

#[napi]
impl Cluster {
    /// Connects: `redis://host:port/` for one server, `redis+cluster://host:port,host:port` for
    /// a Redis Cluster. `ranges` and `routes` are fixed by the first client or worker to
    /// connect, which must give `routes` (`{}` is fine); later ones must give the same or
    /// leave them out.
    /// Errors: `redis_error`, `invalid_argument`.
    #[napi(constructor, ts_args_type = "url: string, options?: ClusterOptions")]
    pub fn new(env: &Env, url: Unknown, options: Option<Unknown>) -> napi::Result<Self> {
        run(env, || {
            let url = convert::string(url, "url")?;
            let o = match present(options) {
                None => json!({}),
                Some(o) => convert::json(env, o, INVALID_ARGUMENT, "options")?,
            };
            let obj = o.as_object().ok_or_else(|| Failure::argument("options must be an object"))?;
            let mut options = celmatch_cluster::Options::default();
            for (k, v) in obj {
                match (k.as_str(), v) {
                    (_, Json::Null) => {}
                    ("prefix", Json::String(p)) => options.prefix = p.clone(),
                    ("ranges", v) => {
                        let n = v.as_u64().filter(|&n| n <= u16::MAX as u64).ok_or_else(|| Failure::argument(format!("ranges must be an integer, got {v}")))?;
                        options.ranges = Some(n as u16);
                    }
                    ("routes", v) => options.routes = Some(Routes::from_json(v)?),
                    (k, v) => return Err(Failure::argument(format!("unknown option {k:?} (or a bad value {v})"))),
                }
            }
            Ok(Cluster { inner: Mutex::new(celmatch_cluster::Cluster::connect(&url, &options)?) })
        })
    }

    /// The number of slot ranges.
    #[napi(getter)]
    pub fn ranges(&self) -> u32 {
        self.lock().ranges() as u32
    }

    /// Registers a subscription (a record as `addMany` takes); `false` if the same one was
    /// registered already. A timeout becomes a deadline by this machine's clock; `lookback`
    /// is not supported. Errors: compile errors, `id_conflict`, `invalid_subscription`,
    /// `redis_error`.
    #[napi(ts_args_type = "record: SubscriptionRecord")]
    pub fn add(&self, env: &Env, record: Unknown) -> napi::Result<bool> {
        run(env, || {
            let json = convert::json(env, record, "invalid_subscription", "record")?;
            let sub = Subscription::from_record(&json)?;
            Ok(self.lock().add(&sub)?)
        })
    }

    /// Removes a subscription; `false` if it is not registered (any more: fired or expired).
    #[napi(ts_args_type = "id: string")]
    pub fn remove(&self, env: &Env, id: Unknown) -> napi::Result<bool> {
        run(env, || {
            let id = convert::string(id, "id")?;
            Ok(self.lock().remove(&id)?)
        })
    }

    /// Publishes an event to its slot's range; returns the stream entry id.
    #[napi(ts_args_type = "event: EventInput")]
    pub fn publish(&self, env: &Env, event: Unknown) -> napi::Result<String> {
        run(env, || {
            let text = convert::json_text(env, event, "invalid_event", "event")?;
            let event: Json = serde_json::from_str(&text).map_err(|e| Failure::new("invalid_event", format!("event is not valid JSON: {e}")))?;
            Ok(self.lock().publish(&event)?)
        })
    }

    /// Everything that fired or expired so far.
    #[napi(ts_return_type = "ClusterOutcome[]")]
    pub fn outcomes(&self, env: &Env) -> napi::Result<Json> {
        run(env, || {
            let all = self.lock().outcomes()?;
            Ok(Json::Array(all.into_iter().map(outcome_json).collect()))
        })
    }

    /// The outcomes after `cursor` (`''` or absent: from the start), at most `count` (default
    /// 1000) per output stream, and the cursor to read on from (text: store it to resume).
    #[napi(ts_args_type = "cursor?: string | null, count?: number", ts_return_type = "{ outcomes: ClusterOutcome[]; cursor: string }")]
    pub fn read_outcomes(&self, env: &Env, cursor: Option<Unknown>, count: Option<Unknown>) -> napi::Result<Json> {
        run(env, || {
            let cursor = convert::opt_string(cursor, "cursor")?.unwrap_or_default();
            let count = convert::opt_count(count, "count")?.unwrap_or(1000);
            let (batch, next) = self.lock().read_outcomes(&cursor, count)?;
            Ok(json!({"outcomes": batch.into_iter().map(outcome_json).collect::<Vec<_>>(), "cursor": next}))
        })
    }

    /// Deletes the outcomes up to `cursor` (from `readOutcomes`) once they are handled;
    /// returns how many.
    #[napi(ts_args_type = "cursor: string")]
    pub fn trim_outcomes(&self, env: &Env, cursor: Unknown) -> napi::Result<u32> {
        run(env, || {
            let cursor = convert::string(cursor, "cursor")?;
            Ok(self.lock().trim_outcomes(&cursor)? as u32)
        })
    }

    /// Subscriptions (and how many are broadcast), events waiting and pending, outcomes, live
    /// workers, and the same per range with its lease holder.
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn stats(&self, env: &Env) -> napi::Result<Json> {
        run(env, || Ok(self.lock().stats()?))
    }

    /// Takes `key` in `scope` for `ttlMs` with `SET NX PX`: `true` for the first caller until
    /// it expires.
    #[napi(ts_args_type = "scope: string, key: string, ttlMs: DurationInput")]
    pub fn claim(&self, env: &Env, scope: Unknown, key: Unknown, ttl_ms: Unknown) -> napi::Result<bool> {
        run(env, || {
            let scope = convert::string(scope, "scope")?;
            let key = convert::string(key, "key")?;
            let ttl = convert::duration(ttl_ms, "ttlMs")?;
            Ok(self.lock().claim(&scope, &key, ttl)?)
        })
    }
}

fn outcome_json(o: celmatch_cluster::Outcome) -> Json {
    json!({"id": o.id, "outcome": o.outcome, "event": o.event, "worker": o.worker, "record": o.record, "entry": o.entry})
}

impl Cluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, celmatch_cluster::Cluster> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
