//! Workload generation and the measurement loop. Wait `i`'s literals are a pure function of
//! `(seed, i)`, so waits are generated in chunks (10M fit without holding them all) and the
//! event that targets wait `i` can be rebuilt at any time.

use celmatch::{Config, Engine, Subscription};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `async.data.id == "<uuid>"`
    Eq,
    /// `eq` plus `&& async.data.amount > 100 && async.data.kind != "test"` on every wait.
    EqShared,
    /// `event.data.userId == async.data.userId`, with a trigger per wait.
    Bound,
    /// `async.data.region in [a, b, c]`
    In,
    /// `async.data.amount >= lo && async.data.amount < lo + 1`
    Range,
    /// `async.data.path.startsWith("/t/<hex>/")`
    Prefix,
    /// `async.data.text.contains("<hex>")`
    Contains,
    /// `(a == X || b.startsWith(Y)) && !(c == Z && d > W)`
    OrNested,
    /// A realistic mixture of the above, about 1% with nothing indexable.
    Mixed,
    /// The common real wait: an owner (run id), a 7-day timeout and
    /// `event.data.orderId == async.data.orderId && async.data.status == "paid"` bound from a
    /// trigger per wait.
    Workflow,
}

impl Shape {
    pub const ALL: [Shape; 10] = [
        Shape::Eq,
        Shape::EqShared,
        Shape::Bound,
        Shape::In,
        Shape::Range,
        Shape::Prefix,
        Shape::Contains,
        Shape::OrNested,
        Shape::Mixed,
        Shape::Workflow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Eq => "eq",
            Shape::EqShared => "eq-shared",
            Shape::Bound => "bound",
            Shape::In => "in",
            Shape::Range => "range",
            Shape::Prefix => "prefix",
            Shape::Contains => "contains",
            Shape::OrNested => "or-nested",
            Shape::Mixed => "mixed",
            Shape::Workflow => "workflow",
        }
    }
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Shape::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            format!("unknown shape {s:?}; one of {}", Shape::ALL.map(Shape::name).join(", "))
        })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const EVENT: &str = "app/invoice.approved";

/// Wait `i`'s random source.
fn rng_for(seed: u64, i: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn uuid(rng: &mut SmallRng) -> String {
    let b: u128 = rng.gen();
    let h = format!("{b:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn hex(rng: &mut SmallRng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap()).collect()
}

/// The concrete shape of wait `i` (the mixture picks one per wait).
fn concrete(shape: Shape, seed: u64, i: u64) -> Shape {
    if shape != Shape::Mixed {
        return shape;
    }
    match rng_for(seed ^ 0xabcd, i).gen_range(0..100) {
        0..=39 => Shape::Eq,
        40..=54 => Shape::Bound,
        55..=64 => Shape::In,
        65..=74 => Shape::Prefix,
        75..=82 => Shape::Range,
        83..=87 => Shape::Contains,
        88..=98 => Shape::OrNested,
        _ => Shape::Mixed, // the unindexable 1%
    }
}

/// Wait `i` and an event that fires it.
pub fn wait_and_event(shape: Shape, seed: u64, i: u64) -> (Subscription, Json) {
    let mut r = rng_for(seed, i);
    let id = format!("w{i}");
    let ev = |data: Json| json!({"name": EVENT, "id": format!("e{i}"), "ts": 1_700_000_000_000i64, "data": data});
    match concrete(shape, seed, i) {
        Shape::Eq => {
            let u = uuid(&mut r);
            (Subscription::wait(id, EVENT).when(format!("async.data.id == {u:?}")), ev(json!({"id": u, "amount": 150, "kind": "live"})))
        }
        Shape::EqShared => {
            let u = uuid(&mut r);
            let cond = format!("async.data.id == {u:?} && async.data.amount > 100 && async.data.kind != \"test\"");
            (Subscription::wait(id, EVENT).when(cond), ev(json!({"id": u, "amount": 150, "kind": "live"})))
        }
        Shape::Bound => {
            let u = uuid(&mut r);
            let sub = Subscription::wait(id, EVENT)
                .when("event.data.userId == async.data.userId")
                .with_trigger(json!({"name": "app/signup", "data": {"userId": u}}));
            (sub, ev(json!({"userId": u})))
        }
        Shape::In => {
            let rs: Vec<String> = (0..3).map(|_| format!("r-{}", hex(&mut r, 12))).collect();
            let pick = rs[r.gen_range(0..3)].clone();
            (Subscription::wait(id, EVENT).when(format!("async.data.region in [{:?}, {:?}, {:?}]", rs[0], rs[1], rs[2])), ev(json!({"region": pick})))
        }
        Shape::Range => {
            let lo = i as f64 * 2.0;
            let cond = format!("async.data.amount >= {lo:.1} && async.data.amount < {:.1}", lo + 1.0);
            (Subscription::wait(id, EVENT).when(cond), ev(json!({"amount": lo + 0.5})))
        }
        Shape::Prefix => {
            let p = format!("/t/{}/", hex(&mut r, 12));
            (Subscription::wait(id, EVENT).when(format!("async.data.path.startsWith({p:?})")), ev(json!({"path": format!("{p}invoices/7")})))
        }
        Shape::Contains => {
            let n = hex(&mut r, 16);
            let text = format!("order {} shipped with ref {n} today", hex(&mut r, 6));
            (Subscription::wait(id, EVENT).when(format!("async.data.text.contains({n:?})")), ev(json!({"text": text})))
        }
        Shape::OrNested => {
            let (x, y, z) = (uuid(&mut r), format!("p-{}", hex(&mut r, 10)), hex(&mut r, 8));
            let w = r.gen_range(0..1000);
            let cond = format!("(async.data.a == {x:?} || async.data.b.startsWith({y:?})) && !(async.data.c == {z:?} && async.data.d > {w})");
            let data = if r.gen() { json!({"a": x, "b": "none", "c": z, "d": w}) } else { json!({"a": "none", "b": format!("{y}-1"), "c": "other", "d": w + 5}) };
            (Subscription::wait(id, EVENT).when(cond), ev(data))
        }
        Shape::Workflow => {
            let order = uuid(&mut r);
            let run = format!("01J{}", hex(&mut r, 23).to_uppercase());
            let trigger = json!({
                "name": "app/order.created",
                "id": format!("01J{}", hex(&mut r, 23).to_uppercase()),
                "ts": 1_699_999_000_000i64,
                "data": {"orderId": order, "customerId": uuid(&mut r), "amount": r.gen_range(1..10_000)},
            });
            let sub = Subscription::wait(id, EVENT)
                .when("event.data.orderId == async.data.orderId && async.data.status == \"paid\"")
                .with_trigger(trigger)
                .with_owner(run)
                .with_timeout_ms(7 * 24 * 3600 * 1000);
            (sub, ev(json!({"orderId": order, "status": "paid", "amount": 120})))
        }
        Shape::Mixed => {
            // Arithmetic on the path: no access predicate, verified on every event.
            let k = r.gen_range(0..1_000_000i64);
            (Subscription::wait(id, EVENT).when(format!("async.data.seq * 2 == {}", k * 2)), ev(json!({"seq": k})))
        }
    }
}

/// One line of results; `--json` prints exactly these fields.
#[derive(Clone, Debug)]
pub struct Report {
    pub waits: u64,
    pub shape: Shape,
    pub add_per_sec: f64,
    pub match_ns_median: f64,
    pub match_ns_p99: f64,
    pub events_per_sec: f64,
    pub bytes_per_wait: f64,
    pub naive_ns_per_event: f64,
    pub speedup: f64,
}

impl Report {
    /// The `--json` line. The fields come in this order whatever serde_json's features are.
    pub fn to_json(&self) -> Json {
        let fields = [
            ("waits", json!(self.waits)),
            ("shape", json!(self.shape.name())),
            ("add_per_sec", json!(self.add_per_sec.round())),
            ("match_ns_median", json!(self.match_ns_median.round())),
            ("match_ns_p99", json!(self.match_ns_p99.round())),
            ("events_per_sec", json!(self.events_per_sec.round())),
            ("bytes_per_wait", json!(self.bytes_per_wait.round())),
            ("naive_ns_per_event", json!(self.naive_ns_per_event.round())),
            ("speedup", json!((self.speedup * 10.0).round() / 10.0)),
        ];
        Json::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// The `--json` line as text, fields in the documented order.
    pub fn to_json_line(&self) -> String {
        let Json::Object(m) = self.to_json() else { unreachable!("an object") };
        let order = ["waits", "shape", "add_per_sec", "match_ns_median", "match_ns_p99", "events_per_sec", "bytes_per_wait", "naive_ns_per_event", "speedup"];
        let parts: Vec<String> = order.iter().map(|k| format!("{:?}:{}", k, m[*k])).collect();
        format!("{{{}}}", parts.join(","))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<10} waits={:<9} add/s={:<10.0} median={:>7.0}ns p99={:>8.0}ns events/s={:<9.0} B/wait={:<5.0} naive={:.3e}ns speedup={:.0}x",
            self.shape.name(),
            self.waits,
            self.add_per_sec,
            self.match_ns_median,
            self.match_ns_p99,
            self.events_per_sec,
            self.bytes_per_wait,
            self.naive_ns_per_event,
            self.speedup
        )
    }
}

/// Progress callbacks: `(stage, done, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

fn rss_bytes() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs the workload: `waits` waits of `shape`, then `events` targeted events.
pub fn run(shape: Shape, waits: u64, events: u64, seed: u64, progress: Progress<'_>) -> Report {
    run_with(shape, waits, events, seed, Options::default(), progress)
}

/// How [`run_with`] runs the events.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Threads processing events at once (default 1).
    pub threads: usize,
    /// Keep the lookback buffer on (10,000 events, 5 minutes), as a host using lookback does.
    pub lookback: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { threads: 1, lookback: false }
    }
}

/// [`run`] with threads and lookback as `options` say.
pub fn run_with(shape: Shape, waits: u64, events: u64, seed: u64, options: Options, progress: Progress<'_>) -> Report {
    let config = Config { lookback_max_events: if options.lookback { celmatch::DEFAULT_LOOKBACK_EVENTS } else { 0 }, ..Config::default() };
    let engine = Engine::new(config);
    let rss_before = rss_bytes();
    let chunk = 10_000u64;
    let mut add_secs = 0.0;
    let mut i = 0;
    while i < waits {
        let subs: Vec<Subscription> = (i..(i + chunk).min(waits)).map(|j| wait_and_event(shape, seed, j).0).collect();
        let t = Instant::now();
        for r in engine.add_many(subs) {
            r.expect("every generated wait is valid");
        }
        add_secs += t.elapsed().as_secs_f64();
        i = (i + chunk).min(waits);
        progress("add", i, waits);
    }
    let bytes_per_wait = (rss_bytes() - rss_before).max(0.0) / waits as f64;

    // Events go to `threads` threads; thread t targets the waits i with i % threads == t, so
    // that the threads never race for one wait. With waits to spare, every event targets a
    // wait of its own and nothing is re-added, so all the work of consuming (including
    // unfiling, which the engine may settle late) happens inside timed calls; otherwise
    // consumed waits are re-added, untimed.
    let per_thread = events / options.threads as u64;
    let distinct = events.saturating_mul(2) <= waits;
    let results: Vec<(Vec<f64>, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.threads as u64)
            .map(|t| {
                let engine = &engine;
                scope.spawn(move || {
                    let mut pick = SmallRng::seed_from_u64(seed ^ 0x5eed ^ t);
                    let mut lat = Vec::with_capacity(per_thread as usize);
                    let mut timed = 0.0;
                    let stride = options.threads as u64;
                    let mut used = std::collections::HashSet::new();
                    for _ in 0..per_thread {
                        let target = loop {
                            let target = pick.gen_range(0..waits.div_ceil(stride)) * stride + t;
                            let target = if target >= waits { t.min(waits - 1) } else { target };
                            if !distinct || used.insert(target) {
                                break target;
                            }
                        };
                        let (sub, ev) = wait_and_event(shape, seed, target);
                        let bytes = serde_json::to_vec(&ev).expect("serialize");
                        let t0 = Instant::now();
                        let fired = engine.process_bytes(&bytes).expect("valid event");
                        let ns = t0.elapsed().as_nanos() as f64;
                        timed += ns;
                        lat.push(ns);
                        assert!(fired.iter().any(|f| f.id == sub.id), "event for {} did not fire it: {fired:?}", sub.id);
                        for f in fired.into_iter().filter(|_| !distinct) {
                            // Put consumed waits back (untimed) so every event sees all N.
                            engine.add(wait_and_event(shape, seed, f.id[1..].parse().expect("w<i>")).0).expect("re-add");
                        }
                    }
                    (lat, timed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no thread panicked")).collect()
    });
    progress("match", events, events);
    let mut lat: Vec<f64> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    // Events per second of the time spent inside `process_bytes` (the untimed re-adds
    // excluded): with several threads, of the busiest thread's time, so waiting for each
    // other's locks counts and the threads' throughput adds up only as far as they overlap.
    let busiest = results.iter().map(|(_, t)| *t).fold(0.0, f64::max);
    let events_per_sec = lat.len() as f64 / (busiest / 1e9);
    lat.sort_by(|a, b| a.total_cmp(b));

    // The simple alternative: parse, then evaluate every expression one by one.
    let sample = waits.min(1000);
    let compiled: Vec<_> = (0..sample)
        .map(|j| {
            let s = wait_and_event(shape, seed, j).0;
            let cond = s.condition.expect("every wait has a condition");
            match &s.trigger {
                Some(t) => engine.compile_bound(&cond, t),
                None => engine.compile(&cond),
            }
            .expect("compiles")
        })
        .collect();
    let probes: Vec<Vec<u8>> = (0..20).map(|j| serde_json::to_vec(&wait_and_event(shape, seed, j % sample).1).unwrap()).collect();
    let t = Instant::now();
    let mut hits = 0usize;
    for bytes in &probes {
        let ev: Json = serde_json::from_slice(bytes).unwrap();
        hits += compiled.iter().filter(|c| matches!(c.matches(&ev), Ok(true))).count();
    }
    assert!(hits >= probes.len(), "the naive loop must find the targets too");
    let naive_sample_ns = t.elapsed().as_nanos() as f64 / probes.len() as f64;
    let naive_ns_per_event = naive_sample_ns * waits as f64 / sample as f64;
    let median = percentile(&lat, 0.5);
    Report {
        waits,
        shape,
        add_per_sec: waits as f64 / add_secs,
        match_ns_median: median,
        match_ns_p99: percentile(&lat, 0.99),
        events_per_sec,
        bytes_per_wait,
        naive_ns_per_event,
        speedup: naive_ns_per_event / median,
    }
}
