//! A worker: leases ranges of slots, keeps their subscriptions (and the broadcast set) in a
//! local engine, consumes their events and consumes what fires through Lua.
//!
//! Why nothing fires twice: a subscription is consumed only by the `CONSUME` script, which
//! deletes its record and appends the outcome in one step; whoever runs it second finds no
//! record. Leases only keep workers from doing the same work twice; they are not needed for
//! exactly-once.
//!
//! Why nothing is lost: an event is acknowledged only after everything it fired has been
//! consumed in Redis. Until then it is pending in the group, and whoever holds the range next
//! claims it (`XAUTOCLAIM`). Before a batch of events is matched, the change streams are read
//! up to now, so every subscription registered before an event was published is in the
//! engine when the event is matched.

use crate::client::{min_change_id, now, Cluster, Options, CHANGE_RETENTION_MS};
use crate::error::Error;
use crate::keys::{Home, GROUP};
use crate::reply::{self, Entry};
use crate::scripts;
use celmatch::{Config, Engine, Subscription};
use redis::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// How long a lease (and a heartbeat) lasts without renewal.
    pub lease_ms: u64,
    /// Events read per range and batch.
    pub batch: usize,
    /// Diagnostics on stderr.
    pub verbose: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions { lease_ms: 5000, batch: 128, verbose: false }
    }
}

/// Counters since the worker started.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub events: u64,
    pub fired: u64,
    /// Fired in the local engine but consumed elsewhere first (removed, expired, or fired by
    /// another worker).
    pub lost_races: u64,
    pub expired: u64,
    pub claimed: u64,
    pub acquired: u64,
    pub released: u64,
    pub invalid_events: u64,
    pub redis_errors: u64,
    /// Commands sent to Redis (over all connections, across restarts).
    pub round_trips: u64,
}

/// A home's subscriptions in the engine and how far its change stream was read.
struct Held {
    ids: HashSet<String>,
    cursor: String,
    /// When the change stream was last read to its end.
    followed: Instant,
}

/// A home whose changes were not read for this long reloads its registry: the changes it
/// missed may have been trimmed (they are kept for `CHANGE_RETENTION_MS`).
const RELOAD_AFTER: Duration = Duration::from_millis(CHANGE_RETENTION_MS as u64 / 4);

/// How long one blocking read waits for events (one server).
const BLOCK_MS: u64 = 20;

pub struct Worker {
    url: String,
    options: Options,
    wopts: WorkerOptions,
    id: String,
    cluster: Cluster,
    engine: Engine,
    held: BTreeMap<Home, Held>,
    homes: HashMap<String, Home>,
    /// When the leases were last all renewed; past `lease_ms` they may be someone else's.
    renewed: Instant,
    next_tick: Instant,
    /// How long to sleep after an empty poll (Redis Cluster only).
    idle_ms: u64,
    stats: WorkerStats,
}

impl Worker {
    pub fn new(url: &str, options: &Options, wopts: WorkerOptions, id: impl Into<String>) -> Result<Worker, Error> {
        let cluster = Cluster::connect(url, options)?;
        let mut w = Worker {
            url: url.to_string(),
            options: options.clone(),
            wopts,
            id: id.into(),
            cluster,
            engine: Engine::new(Config::default()),
            held: BTreeMap::new(),
            homes: HashMap::new(),
            renewed: Instant::now(),
            next_tick: Instant::now(),
            idle_ms: 1,
            stats: WorkerStats::default(),
        };
        w.load(Home::Broadcast)?;
        Ok(w)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ranges held now.
    pub fn ranges(&self) -> Vec<u16> {
        self.held.keys().filter_map(|h| match h {
            Home::Range(r) => Some(*r),
            Home::Broadcast => None,
        }).collect()
    }

    fn log(&self, msg: impl AsRef<str>) {
        if self.wopts.verbose {
            eprintln!("worker {}: {}", self.id, msg.as_ref());
        }
    }

    /// Runs until `stop` is set, then releases its leases. A Redis error drops everything
    /// held and starts over after a pause (the leases lapse meanwhile if Redis is gone).
    pub fn run(&mut self, stop: &AtomicBool) -> WorkerStats {
        while !stop.load(Ordering::Relaxed) {
            match self.step() {
                Ok(_) => {}
                Err(e) => {
                    self.stats.redis_errors += 1;
                    eprintln!("worker {}: {e}; starting over", self.id);
                    std::thread::sleep(Duration::from_millis(500));
                    if let Err(e) = self.restart() {
                        eprintln!("worker {}: {e}", self.id);
                    }
                }
            }
        }
        for r in self.ranges() {
            let _ = self.release(r);
        }
        let _ = redis::cmd("ZREM").arg(self.cluster.keys.workers()).arg(&self.id).query::<i64>(self.cluster.conn.get());
        self.stats()
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        WorkerStats { round_trips: self.stats.round_trips + self.cluster.round_trips(), ..self.stats.clone() }
    }

    fn restart(&mut self) -> Result<(), Error> {
        self.stats.round_trips += self.cluster.round_trips();
        self.held.clear();
        self.homes.clear();
        self.engine = Engine::new(Config::default());
        self.cluster = Cluster::connect(&self.url, &self.options)?;
        self.load(Home::Broadcast)?;
        self.next_tick = Instant::now();
        Ok(())
    }

    /// One round: leases when due, then one batch of events (waiting briefly for some).
    /// Returns the events handled.
    pub fn step(&mut self) -> Result<usize, Error> {
        if Instant::now() >= self.next_tick {
            self.tick()?;
            self.next_tick = Instant::now() + Duration::from_millis(self.wopts.lease_ms / 4);
        }
        let ranges = self.ranges();
        if ranges.is_empty() || self.renewed.elapsed() >= Duration::from_millis(self.wopts.lease_ms * 3 / 4) {
            // Nothing to read, or the leases may lapse before we could renew them: wait.
            std::thread::sleep(Duration::from_millis(BLOCK_MS));
            return Ok(0);
        }
        let mut batch: Vec<(u16, Entry)> = Vec::new();
        let single = self.cluster.conn.is_single();
        let groups: Vec<Vec<u16>> = if single { vec![ranges] } else { ranges.into_iter().map(|r| vec![r]).collect() };
        for group in groups {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP").arg(GROUP).arg(&self.id).arg("COUNT").arg(self.wopts.batch);
            if single {
                cmd.arg("BLOCK").arg(BLOCK_MS);
            }
            cmd.arg("STREAMS");
            for &r in &group {
                cmd.arg(self.cluster.keys.events(r));
            }
            for _ in &group {
                cmd.arg(">");
            }
            let v: Value = cmd.query(self.cluster.conn.get())?;
            for (key, entries) in reply::read_reply(&v)? {
                let Some(&r) = group.iter().find(|&&r| self.cluster.keys.events(r) == key) else {
                    return Err(Error::protocol(format!("events from {key}, which was not read")));
                };
                batch.extend(entries.into_iter().map(|e| (r, e)));
            }
        }
        if batch.is_empty() {
            if !single {
                // No blocking read across slots: poll, backing off while idle.
                std::thread::sleep(Duration::from_millis(self.idle_ms));
                self.idle_ms = (self.idle_ms * 2).min(BLOCK_MS);
            }
            return Ok(0);
        }
        self.idle_ms = 1;
        self.handle(batch)
    }

    /// Matches a batch of events after catching up with every change stream, consumes what
    /// fired, then acknowledges the events.
    fn handle(&mut self, batch: Vec<(u16, Entry)>) -> Result<usize, Error> {
        let homes: Vec<Home> = self.held.keys().copied().collect();
        for h in homes {
            self.follow(h)?;
        }
        let n = batch.len();
        let mut acks: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        for (r, entry) in batch {
            self.stats.events += 1;
            let text = entry.get("e").unwrap_or("");
            let fired = match self.engine.process_bytes(text.as_bytes()) {
                Ok(f) => f,
                Err(e) => {
                    // Nothing could ever match it: acknowledge it so it is not retried.
                    self.stats.invalid_events += 1;
                    self.log(format!("event {} skipped: {e}", entry.id));
                    Vec::new()
                }
            };
            let event_id = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|j| j.get("id").and_then(|v| v.as_str()).map(str::to_string))
                .unwrap_or_else(|| entry.id.clone());
            for f in fired {
                self.consume(&f.id, "fired", &event_id)?;
            }
            acks.entry(r).or_default().push(entry.id);
        }
        for (r, ids) in acks {
            scripts::ACK.key(self.cluster.keys.events(r)).arg(GROUP).arg(&ids).invoke::<i64>(self.cluster.conn.get())?;
        }
        Ok(n)
    }

    /// Consumes a subscription in Redis (it is gone from the local engine already).
    fn consume(&mut self, id: &str, outcome: &str, event: &str) -> Result<(), Error> {
        let Some(home) = self.homes.remove(id) else { return Ok(()) };
        if let Some(h) = self.held.get_mut(&home) {
            h.ids.remove(id);
        }
        let keys = &self.cluster.keys;
        let won: i64 = scripts::CONSUME
            .key(keys.subs(home)).key(keys.changes(home)).key(keys.out(home))
            .arg(id).arg(outcome).arg(event).arg(&self.id).arg(min_change_id())
            .invoke(self.cluster.conn.get())?;
        if won == 1 {
            // The id is free again (only if it still names this home).
            scripts::DELETE_IF.key(keys.id(id)).arg(home.code()).invoke::<i64>(self.cluster.conn.get())?;
        }
        match (won, outcome) {
            (0, _) => self.stats.lost_races += 1,
            (_, "fired") => self.stats.fired += 1,
            _ => self.stats.expired += 1,
        }
        Ok(())
    }

    /// Heartbeat, lease renewal, rebalancing, taking free ranges, expiry, and claiming
    /// entries left pending by others.
    fn tick(&mut self) -> Result<(), Error> {
        let now = now();
        let lease = self.wopts.lease_ms;
        let keys = self.cluster.keys.clone();
        redis::cmd("ZADD").arg(keys.workers()).arg(now + lease as i64).arg(&self.id).query::<i64>(self.cluster.conn.get())?;
        redis::cmd("ZREMRANGEBYSCORE").arg(keys.workers()).arg("-inf").arg(now).query::<i64>(self.cluster.conn.get())?;
        let workers: u64 = redis::cmd("ZCARD").arg(keys.workers()).query(self.cluster.conn.get())?;
        self.renew()?;
        let ranges = self.cluster.ranges() as u64;
        let target = ranges.div_ceil(workers.max(1)) as usize;
        // More than a fair share (a worker joined): hand the rest back.
        for r in self.ranges().into_iter().skip(target) {
            self.release(r)?;
        }
        // Start the search at a place of our own, so workers do not all race for range 0.
        let start = celmatch::routing::slot_of(self.id.as_bytes()) as u64 % ranges;
        for i in 0..ranges {
            if self.ranges().len() >= target {
                break;
            }
            let r = ((start + i) % ranges) as u16;
            if self.held.contains_key(&Home::Range(r)) {
                continue;
            }
            // Loading ranges takes time: keep the ones held meanwhile.
            if self.renewed.elapsed() > Duration::from_millis(lease / 4) {
                self.renew()?;
            }
            let got: i64 = scripts::TAKE.key(keys.lease(r)).arg(&self.id).arg(lease).invoke(self.cluster.conn.get())?;
            if got == 1 {
                self.acquire(r)?;
            }
        }
        // Keep up with registrations while idle, too (or reload after a long gap).
        let homes: Vec<Home> = self.held.keys().copied().collect();
        for h in homes {
            if self.held.get(&h).is_some_and(|x| x.followed.elapsed() > RELOAD_AFTER) {
                self.log(format!("reloading {h:?}"));
                self.unload(h);
                self.load(h)?;
            } else {
                self.follow(h)?;
            }
        }
        for id in self.engine.expire(None)? {
            self.consume(&id, "expired", "")?;
        }
        // Entries read by a worker that lost its range without acknowledging them.
        for r in self.ranges() {
            self.claim_pending(r, lease * 2)?;
        }
        Ok(())
    }

    /// Renews every lease held; drops the ranges whose lease is someone else's now.
    fn renew(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        for r in self.ranges() {
            let ok: i64 = scripts::RENEW.key(self.cluster.keys.lease(r)).arg(&self.id).arg(self.wopts.lease_ms).invoke(self.cluster.conn.get())?;
            if ok == 0 {
                self.log(format!("lost range {r}"));
                self.drop_range(r);
            }
        }
        self.renewed = started;
        Ok(())
    }

    fn acquire(&mut self, r: u16) -> Result<(), Error> {
        self.log(format!("took range {r}"));
        self.stats.acquired += 1;
        self.load(Home::Range(r))?;
        // Whoever held it before is gone (its lease lapsed): its pending entries are ours.
        self.claim_pending(r, 0)
    }

    fn release(&mut self, r: u16) -> Result<(), Error> {
        self.log(format!("released range {r}"));
        self.stats.released += 1;
        self.drop_range(r);
        scripts::DELETE_IF.key(self.cluster.keys.lease(r)).arg(&self.id).invoke::<i64>(self.cluster.conn.get())?;
        Ok(())
    }

    fn drop_range(&mut self, r: u16) {
        self.unload(Home::Range(r));
    }

    /// Forgets a home: its subscriptions leave the engine.
    fn unload(&mut self, home: Home) {
        if let Some(h) = self.held.remove(&home) {
            for id in h.ids {
                self.homes.remove(&id);
                let _ = self.engine.remove(&id);
            }
        }
    }

    /// Claims entries pending longer than `min_idle_ms` and handles them.
    fn claim_pending(&mut self, r: u16, min_idle_ms: u64) -> Result<(), Error> {
        let mut cursor = "0-0".to_string();
        loop {
            let v: Value = redis::cmd("XAUTOCLAIM")
                .arg(self.cluster.keys.events(r)).arg(GROUP).arg(&self.id)
                .arg(min_idle_ms).arg(&cursor).arg("COUNT").arg(self.wopts.batch)
                .query(self.cluster.conn.get())?;
            let (next, entries) = reply::autoclaim_reply(&v)?;
            if !entries.is_empty() {
                self.stats.claimed += entries.len() as u64;
                self.log(format!("claimed {} pending events of range {r}", entries.len()));
                self.handle(entries.into_iter().map(|e| (r, e)).collect())?;
            }
            if next == "0-0" {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Loads a home's subscriptions: notes where its change stream ends, reads the registry,
    /// then replays the changes from that point (replaying one already read is harmless).
    fn load(&mut self, home: Home) -> Result<(), Error> {
        let keys = self.cluster.keys.clone();
        let last: Value = redis::cmd("XREVRANGE").arg(keys.changes(home)).arg("+").arg("-").arg("COUNT").arg(1).query(self.cluster.conn.get())?;
        let cursor = reply::entries(&last)?.first().map_or_else(|| "0-0".to_string(), |e| e.id.clone());
        self.held.insert(home, Held { ids: HashSet::new(), cursor, followed: Instant::now() });
        let mut scan = "0".to_string();
        loop {
            let v: Value = redis::cmd("HSCAN").arg(keys.subs(home)).arg(&scan).arg("COUNT").arg(1000).query(self.cluster.conn.get())?;
            let (next, pairs) = reply::scan_reply(&v)?;
            for (id, rec) in pairs {
                self.apply_add(home, &id, &rec);
            }
            if next == "0" {
                break;
            }
            scan = next;
        }
        self.follow(home)
    }

    /// Applies a home's changes since its cursor.
    fn follow(&mut self, home: Home) -> Result<(), Error> {
        let key = self.cluster.keys.changes(home);
        loop {
            let Some(cursor) = self.held.get(&home).map(|h| h.cursor.clone()) else { return Ok(()) };
            let v: Value = redis::cmd("XRANGE").arg(&key).arg(format!("({cursor}")).arg("+").arg("COUNT").arg(1000).query(self.cluster.conn.get())?;
            let entries = reply::entries(&v)?;
            let Some(last) = entries.last().map(|e| e.id.clone()) else {
                if let Some(h) = self.held.get_mut(&home) {
                    h.followed = Instant::now();
                }
                return Ok(());
            };
            for e in &entries {
                match (e.get("op"), e.get("id")) {
                    (Some("add"), Some(id)) => self.apply_add(home, id, e.get("rec").unwrap_or("")),
                    (Some("del"), Some(id)) => {
                        if self.homes.get(id) == Some(&home) {
                            self.homes.remove(id);
                            let _ = self.engine.remove(id);
                        }
                        if let Some(h) = self.held.get_mut(&home) {
                            h.ids.remove(id);
                        }
                    }
                    _ => self.log(format!("change {} is malformed", e.id)),
                }
            }
            if let Some(h) = self.held.get_mut(&home) {
                h.cursor = last;
            }
        }
    }

    fn apply_add(&mut self, home: Home, id: &str, rec: &str) {
        let sub = serde_json::from_str(rec).map_err(|e| e.to_string()).and_then(|j| Subscription::from_record(&j).map_err(|e| e.to_string()));
        let added = sub.and_then(|s| self.engine.add(s).map_err(|e| e.to_string()));
        match added {
            Ok(_) => {
                self.homes.insert(id.to_string(), home);
                if let Some(h) = self.held.get_mut(&home) {
                    h.ids.insert(id.to_string());
                }
            }
            // Checked when it was registered; a record that fails here was written by
            // something else, and can never fire.
            Err(e) => self.log(format!("subscription {id:?} not loaded: {e}")),
        }
    }
}
