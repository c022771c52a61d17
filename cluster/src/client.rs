//! The cluster client: registers and removes subscriptions, publishes events, reads what
//! fired. Workers use it too, for the same keys and scripts.

use crate::error::{Error, ErrorKind};
use crate::keys::{Home, Keys, GROUP};
use crate::reply::{self, Entry};
use crate::scripts;
use celmatch::routing::{slot_of, SLOTS};
use celmatch::{Config, Engine, Route, Routes, Subscription};
use redis::{ConnectionLike, Value};
use serde_json::{json, Value as Json};
use std::time::Duration;

/// How a client or worker joins a cluster.
#[derive(Clone, Debug)]
pub struct Options {
    /// Prefix of every key (and so the cluster's name).
    pub prefix: String,
    /// Ranges of slots (each leased whole to one worker). Fixed by the first to connect
    /// (default [`DEFAULT_RANGES`]); `None` takes what is there.
    pub ranges: Option<u16>,
    /// Routing table. The first to connect must give it (an empty one is fine) and fixes it;
    /// `None` takes what is there, and is an error if nobody has set the cluster up.
    pub routes: Option<Routes>,
}

pub const DEFAULT_RANGES: u16 = 16;

impl Default for Options {
    fn default() -> Self {
        Options { prefix: "celmatch".into(), ranges: None, routes: None }
    }
}

/// One Redis server, or a Redis Cluster (`redis+cluster://host:port,host:port`).
pub(crate) struct Conn {
    kind: ConnKind,
    /// Commands sent (each a round trip; a script's first call may take two).
    round_trips: u64,
}

enum ConnKind {
    // One server: a worker reads all its ranges' streams in one blocking call. A cluster: one
    // call per range (their keys live in different slots).
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    pub fn open(url: &str) -> Result<Conn, Error> {
        let bad = |e: redis::RedisError| Error::new(ErrorKind::InvalidArgument, format!("{url}: {e}"));
        if let Some(nodes) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{n}")).collect();
            let client = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(Duration::from_secs(5))
                .response_timeout(Duration::from_secs(10))
                .build()
                .map_err(bad)?;
            Ok(Conn { kind: ConnKind::Cluster(Box::new(client.get_connection()?)), round_trips: 0 })
        } else {
            let client = redis::Client::open(url).map_err(bad)?;
            let con = client.get_connection_with_timeout(Duration::from_secs(5))?;
            // A server that stops answering must not hang a worker forever.
            con.set_read_timeout(Some(Duration::from_secs(10)))?;
            con.set_write_timeout(Some(Duration::from_secs(10)))?;
            Ok(Conn { kind: ConnKind::Single(con), round_trips: 0 })
        }
    }

    /// The connection, for one command.
    pub fn get(&mut self) -> &mut dyn ConnectionLike {
        self.round_trips += 1;
        match &mut self.kind {
            ConnKind::Single(c) => c,
            ConnKind::Cluster(c) => &mut **c,
        }
    }

    pub fn is_single(&self) -> bool {
        matches!(self.kind, ConnKind::Single(_))
    }
}

/// What became of a subscription, as read from an output stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The subscription id.
    pub id: String,
    /// `fired` or `expired`.
    pub outcome: String,
    /// The id of the event that fired it (empty when it expired or the event had none).
    pub event: String,
    /// The worker that consumed it.
    pub worker: String,
    /// The subscription record as it was registered.
    pub record: Json,
    /// Where it was read: the output stream's entry id.
    pub entry: String,
}

impl Outcome {
    fn from_entry(e: &Entry) -> Result<Outcome, Error> {
        let field = |k: &str| e.get(k).map(str::to_string).ok_or_else(|| Error::protocol(format!("an output entry without {k:?}")));
        let record = serde_json::from_str(&field("rec")?).map_err(|err| Error::protocol(format!("an output record that is not JSON: {err}")))?;
        Ok(Outcome { id: field("id")?, outcome: field("outcome")?, event: field("event")?, worker: field("worker")?, record, entry: e.id.clone() })
    }

    /// The subscription's owner, if it has one.
    pub fn owner(&self) -> Option<&str> {
        self.record.get("owner").and_then(Json::as_str)
    }
}

pub struct Cluster {
    pub(crate) conn: Conn,
    pub(crate) keys: Keys,
    ranges: u16,
    routes: Routes,
    /// Compiles subscriptions for routing and checks events; holds no subscriptions.
    engine: Engine,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Cluster {
    /// Connects, fixes the cluster's ranges and routes if nobody has yet (or checks that the
    /// given ones are those in place), and makes sure every event stream has its group.
    /// Without routes, the cluster must exist (`invalid_argument` otherwise).
    pub fn connect(url: &str, options: &Options) -> Result<Cluster, Error> {
        if options.ranges.is_some_and(|r| r == 0 || r > SLOTS) {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("ranges must be 1 to {SLOTS}")));
        }
        if options.prefix.is_empty() || options.prefix.contains(['{', '}']) {
            return Err(Error::new(ErrorKind::InvalidArgument, "the prefix must be non-empty, without braces"));
        }
        let mut conn = Conn::open(url)?;
        let keys = Keys::new(&options.prefix);
        let meta = keys.meta();
        // Ranges and routes in one field, so two first connections cannot mix theirs. Only a
        // connection that gives a routing table may set them up: a client that assumed
        // defaults would route its events differently from the workers, and lose them.
        if let Some(routes) = &options.routes {
            let config = json!({"ranges": options.ranges.unwrap_or(DEFAULT_RANGES), "routes": routes.to_json()}).to_string();
            redis::cmd("HSETNX").arg(&meta).arg("config").arg(&config).query::<i64>(conn.get())?;
        }
        let config: Option<String> = redis::cmd("HGET").arg(&meta).arg("config").query(conn.get())?;
        let Some(config) = config else {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("no cluster {:?} in Redis yet: the first to connect gives its routing table (and range count)", options.prefix),
            ));
        };
        let config: Json = serde_json::from_str(&config).map_err(|e| Error::protocol(format!("the cluster's configuration is not JSON: {e}")))?;
        let ranges = config["ranges"]
            .as_u64()
            .filter(|&r| r > 0 && r <= SLOTS as u64)
            .ok_or_else(|| Error::protocol("the cluster's range count is missing or bad"))? as u16;
        let routes = Routes::from_json(&config["routes"])?;
        if options.ranges.is_some_and(|r| r != ranges) {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("the cluster has {ranges} ranges, not {}", options.ranges.unwrap_or_default())));
        }
        if let Some(want) = options.routes.as_ref().filter(|r| **r != routes) {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("the cluster routes by {}, not {}", routes.to_json(), want.to_json())));
        }
        for r in 0..ranges {
            // From id 0: events published before the group existed are read too.
            let created = redis::cmd("XGROUP").arg("CREATE").arg(keys.events(r)).arg(GROUP).arg("0").arg("MKSTREAM").query::<()>(conn.get());
            if let Err(e) = created {
                if e.code() != Some("BUSYGROUP") {
                    return Err(e.into());
                }
            }
        }
        Ok(Cluster { conn, keys, ranges, routes, engine: Engine::new(Config::default()) })
    }

    pub fn ranges(&self) -> u16 {
        self.ranges
    }

    /// Commands sent to Redis through this client so far.
    pub fn round_trips(&self) -> u64 {
        self.conn.round_trips
    }

    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// The range a slot belongs to: ranges are contiguous, equal runs of slots.
    pub fn range_of(&self, slot: u16) -> u16 {
        (slot as u32 * self.ranges as u32 / SLOTS as u32) as u16
    }

    /// Where a subscription is kept: the range of its slots, or the broadcast set when it has
    /// none or they fall in more than one range (one Lua script must be able to consume it).
    pub fn home(&self, sub: &Subscription) -> Result<Home, Error> {
        Ok(match self.engine.route(&self.routes, sub)? {
            Route::Slots(slots) => {
                let mut ranges = slots.iter().map(|&s| self.range_of(s));
                let first = ranges.next();
                match first {
                    Some(r) if ranges.all(|x| x == r) => Home::Range(r),
                    _ => Home::Broadcast,
                }
            }
            Route::Broadcast => Home::Broadcast,
        })
    }

    /// Registers a subscription. `false` if the same subscription was registered already;
    /// an id held by a different one is `id_conflict`. A timeout becomes a deadline here
    /// (by this machine's clock); lookback is not supported in a cluster.
    pub fn add(&mut self, sub: &Subscription) -> Result<bool, Error> {
        if sub.lookback_ms.is_some() {
            return Err(Error::new(ErrorKind::InvalidArgument, "lookback is not supported in a cluster"));
        }
        let mut sub = sub.clone();
        if let Some(t) = sub.timeout_ms.take() {
            if sub.deadline_ms.is_some() {
                return Err(Error::new(ErrorKind::Engine(celmatch::ErrorKind::InvalidSubscription), "give a deadline or a timeout, not both"));
            }
            if t < 0 {
                return Err(Error::new(ErrorKind::Engine(celmatch::ErrorKind::InvalidSubscription), format!("timeout is negative ({t} ms)")));
            }
            sub.deadline_ms = Some(now_ms().saturating_add(t));
        }
        if sub.id.is_empty() || sub.event.is_empty() {
            return Err(Error::new(ErrorKind::Engine(celmatch::ErrorKind::InvalidSubscription), "the id and the event name must not be empty"));
        }
        // Compiles the condition: a bad one fails here, not in every worker.
        let home = self.home(&sub)?;
        // One home per id: a different subscription under a taken id (which may route
        // elsewhere) is a conflict, not a second registration.
        let id_key = self.keys.id(&sub.id);
        let mut taken: Option<String> = redis::cmd("SET").arg(&id_key).arg(home.code()).arg("NX").arg("GET").query(self.conn.get())?;
        if let Some(other) = taken.clone().filter(|h| *h != home.code()) {
            // An entry whose subscription is gone (a worker died between consuming it and
            // freeing the id) is stale: free it and try once more.
            let stale = match Home::parse(&other) {
                Some(h) => !redis::cmd("HEXISTS").arg(self.keys.subs(h)).arg(&sub.id).query::<bool>(self.conn.get())?,
                None => true,
            };
            if stale {
                scripts::DELETE_IF.key(&id_key).arg(&other).invoke::<i64>(self.conn.get())?;
                taken = redis::cmd("SET").arg(&id_key).arg(home.code()).arg("NX").arg("GET").query(self.conn.get())?;
            }
        }
        if taken.is_some_and(|h| h != home.code()) {
            return Err(Error::new(ErrorKind::IdConflict, format!("id {:?} is registered with a different subscription", sub.id)));
        }
        let record = sub.to_record().to_string();
        let r: i64 = scripts::ADD.key(self.keys.subs(home)).key(self.keys.changes(home)).arg(&sub.id).arg(&record).arg(min_change_id()).invoke(self.conn.get())?;
        match r {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(Error::new(ErrorKind::IdConflict, format!("id {:?} is registered with a different subscription", sub.id))),
        }
    }

    /// Removes a subscription by id; `false` if it is not registered (any more: it may have
    /// fired or expired).
    pub fn remove(&mut self, id: &str) -> Result<bool, Error> {
        let id_key = self.keys.id(id);
        let home: Option<String> = redis::cmd("GET").arg(&id_key).query(self.conn.get())?;
        let Some(code) = home else { return Ok(false) };
        let home = Home::parse(&code).ok_or_else(|| Error::protocol(format!("{id_key} holds {code:?}, not a home")))?;
        let r: i64 = scripts::REMOVE.key(self.keys.subs(home)).key(self.keys.changes(home)).arg(id).arg(min_change_id()).invoke(self.conn.get())?;
        if r == 1 {
            scripts::DELETE_IF.key(&id_key).arg(&code).invoke::<i64>(self.conn.get())?;
        }
        Ok(r == 1)
    }

    /// Publishes an event to the stream of its slot's range (an event without a slot goes to
    /// the range of its id's slot: only broadcast subscriptions can match it, and every
    /// worker tests those). Returns the stream entry id.
    pub fn publish(&mut self, event: &Json) -> Result<String, Error> {
        let text = event.to_string();
        // The size and depth limits, as the workers will apply them.
        self.engine.parse_event(text.as_bytes())?;
        let slot = match self.engine.route_event(&self.routes, event)? {
            Route::Slots(s) => s.first().copied().unwrap_or(0),
            Route::Broadcast => {
                let id = event.get("id").and_then(Json::as_str).unwrap_or(&text);
                slot_of(id.as_bytes())
            }
        };
        let key = self.keys.events(self.range_of(slot));
        Ok(redis::cmd("XADD").arg(key).arg("*").arg("e").arg(text).query(self.conn.get())?)
    }

    /// Everything that fired or expired so far (and is not trimmed), range by range, then the
    /// broadcast set.
    pub fn outcomes(&mut self) -> Result<Vec<Outcome>, Error> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let (batch, next) = self.read_outcomes(&cursor, 1000)?;
            if batch.is_empty() {
                return Ok(out);
            }
            out.extend(batch);
            cursor = next;
        }
    }

    /// The outcomes after `cursor` (`""` for the start), at most `count` per output stream,
    /// and the cursor to read on from. A cursor is text: `r0=<entry id>,…,b=<entry id>`, a
    /// position in each output stream, so a consumer can store it and resume.
    pub fn read_outcomes(&mut self, cursor: &str, count: usize) -> Result<(Vec<Outcome>, String), Error> {
        let mut at = self.parse_cursor(cursor)?;
        let mut out = Vec::new();
        let homes: Vec<Home> = (0..self.ranges).map(Home::Range).chain([Home::Broadcast]).collect();
        for home in homes {
            let start = at.get(&home).map_or_else(|| "-".to_string(), |id| format!("({id}"));
            let v: Value = redis::cmd("XRANGE").arg(self.keys.out(home)).arg(start).arg("+").arg("COUNT").arg(count.max(1)).query(self.conn.get())?;
            let es = reply::entries(&v)?;
            if let Some(last) = es.last() {
                at.insert(home, last.id.clone());
            }
            for e in &es {
                out.push(Outcome::from_entry(e)?);
            }
        }
        Ok((out, at.iter().map(|(h, id)| format!("{}={id}", h.code())).collect::<Vec<_>>().join(",")))
    }

    /// Deletes the outcomes up to `cursor` (as [`Cluster::read_outcomes`] returned it), once
    /// they are handled. Returns how many were deleted.
    pub fn trim_outcomes(&mut self, cursor: &str) -> Result<u64, Error> {
        let mut deleted = 0;
        for (home, id) in self.parse_cursor(cursor)? {
            // XTRIM MINID keeps ids >= its argument: the id right after the cursor's.
            let (ms, seq) = id.split_once('-').and_then(|(m, s)| Some((m.parse::<u64>().ok()?, s.parse::<u64>().ok()?))).ok_or_else(|| bad_cursor(cursor))?;
            let next = match seq.checked_add(1) {
                Some(seq) => format!("{ms}-{seq}"),
                None => format!("{}-0", ms + 1),
            };
            deleted += redis::cmd("XTRIM").arg(self.keys.out(home)).arg("MINID").arg(next).query::<u64>(self.conn.get())?;
        }
        Ok(deleted)
    }

    fn parse_cursor(&self, cursor: &str) -> Result<std::collections::BTreeMap<Home, String>, Error> {
        let mut at = std::collections::BTreeMap::new();
        for part in cursor.split(',').filter(|p| !p.is_empty()) {
            let (home, id) = part.split_once('=').ok_or_else(|| bad_cursor(cursor))?;
            let home = Home::parse(home).filter(|h| !matches!(h, Home::Range(r) if *r >= self.ranges)).ok_or_else(|| bad_cursor(cursor))?;
            let valid = id.split_once('-').is_some_and(|(m, s)| m.parse::<u64>().is_ok() && s.parse::<u64>().is_ok());
            if !valid {
                return Err(bad_cursor(cursor));
            }
            at.insert(home, id.to_string());
        }
        Ok(at)
    }

    /// Takes `key` in `scope` for `ttl_ms` (`SET NX PX`): `true` for the first caller until it
    /// expires, `false` for everyone else.
    pub fn claim(&mut self, scope: &str, key: &str, ttl_ms: i64) -> Result<bool, Error> {
        if ttl_ms <= 0 {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("a claim needs a positive ttl, not {ttl_ms} ms")));
        }
        let r: Option<String> = redis::cmd("SET").arg(self.keys.claim(scope, key)).arg(1).arg("NX").arg("PX").arg(ttl_ms).query(self.conn.get())?;
        Ok(r.is_some())
    }

    /// Counts: registered subscriptions per range and broadcast, events waiting and pending,
    /// outcomes, leases and live workers.
    pub fn stats(&mut self) -> Result<Json, Error> {
        let mut ranges = Vec::new();
        let (mut subs, mut events, mut pending, mut outcomes) = (0i64, 0i64, 0i64, 0i64);
        for r in 0..self.ranges {
            let n: i64 = redis::cmd("HLEN").arg(self.keys.subs(Home::Range(r))).query(self.conn.get())?;
            let len: i64 = redis::cmd("XLEN").arg(self.keys.events(r)).query(self.conn.get())?;
            let p: Value = redis::cmd("XPENDING").arg(self.keys.events(r)).arg(GROUP).query(self.conn.get())?;
            let p = match &p {
                Value::Array(a) => a.first().and_then(reply::string).and_then(|s| s.parse().ok()).unwrap_or(0i64),
                _ => 0,
            };
            let o: i64 = redis::cmd("XLEN").arg(self.keys.out(Home::Range(r))).query(self.conn.get())?;
            let lease: Option<String> = redis::cmd("GET").arg(self.keys.lease(r)).query(self.conn.get())?;
            ranges.push(json!({"range": r, "subscriptions": n, "events": len, "pending": p, "outcomes": o, "lease": lease}));
            (subs, events, pending, outcomes) = (subs + n, events + len, pending + p, outcomes + o);
        }
        let broadcast: i64 = redis::cmd("HLEN").arg(self.keys.subs(Home::Broadcast)).query(self.conn.get())?;
        let bo: i64 = redis::cmd("XLEN").arg(self.keys.out(Home::Broadcast)).query(self.conn.get())?;
        let workers: i64 = redis::cmd("ZCOUNT").arg(self.keys.workers()).arg(now_ms()).arg("+inf").query(self.conn.get())?;
        Ok(json!({
            "subscriptions": subs + broadcast, "broadcast": broadcast, "events": events, "pending": pending,
            "outcomes": outcomes + bo, "workers": workers, "ranges": ranges, "routes": self.routes.to_json(),
        }))
    }
}

fn bad_cursor(cursor: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{cursor:?} is not an outcome cursor (r0=<entry id>,…,b=<entry id>)"))
}

pub(crate) fn now() -> i64 {
    now_ms()
}

/// Changes are kept this long (see `scripts.rs`).
pub(crate) const CHANGE_RETENTION_MS: i64 = 10 * 60 * 1000;

/// The oldest change id to keep.
pub(crate) fn min_change_id() -> String {
    format!("{}-0", (now_ms() - CHANGE_RETENTION_MS).max(0))
}
