//! Against a real `redis-server` started on a free loopback port (and stopped at the end).

use celmatch::{Routes, Subscription};
use celmatch_cluster::{Cluster, Options, Outcome, Worker, WorkerOptions};
use serde_json::json;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Server {
        // A port whose cluster bus port (+10000) is free too, for cluster-enabled servers.
        let port = loop {
            let p = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if p <= 55535 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
                break p;
            }
        };
        Server::start_on(port, extra)
    }

    fn start_on(port: u16, extra: &[&str]) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (tests/setup.sh installs it)");
        let url = format!("redis://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis::Client::open(url.as_str()).unwrap().get_connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn options() -> Options {
    Options { prefix: "t".into(), ranges: Some(8), routes: Some(Routes::new().with("order.paid", "data.orderId").unwrap()) }
}

fn wopts() -> WorkerOptions {
    WorkerOptions { lease_ms: 600, batch: 64, verbose: false }
}

fn wait(id: &str, order: &str) -> Subscription {
    Subscription::wait(id, "order.paid")
        .when("async.data.orderId == event.data.orderId")
        .with_trigger(json!({"name": "order.created", "data": {"orderId": order}}))
        .with_owner(format!("run-{id}"))
}

fn paid(order: &str, n: usize) -> serde_json::Value {
    json!({"name": "order.paid", "id": format!("e-{order}-{n}"), "data": {"orderId": order}})
}

/// Runs workers on threads until `done` says so (or 20 s pass).
fn run_workers(url: &str, n: usize, mut done: impl FnMut(&[Outcome]) -> bool) -> Vec<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (url, stop) = (url.to_string(), stop.clone());
            std::thread::spawn(move || Worker::new(&url, &options(), wopts(), format!("w{i}")).unwrap().run(&stop))
        })
        .collect();
    let mut c = Cluster::connect(url, &options()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let outcomes = loop {
        let o = c.outcomes().unwrap();
        if done(&o) || Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    outcomes
}

fn counts(o: &[Outcome]) -> HashMap<(String, String), usize> {
    let mut m = HashMap::new();
    for x in o {
        *m.entry((x.id.clone(), x.outcome.clone())).or_default() += 1;
    }
    m
}

#[test]
fn waits_fire_once_expire_or_are_removed() {
    let s = Server::start();
    let mut c = Cluster::connect(&s.url, &options()).unwrap();
    for i in 0..40 {
        assert!(c.add(&wait(&format!("w{i}"), &format!("o{i}"))).unwrap());
    }
    assert!(!c.add(&wait("w0", "o0")).unwrap(), "the same subscription again is a no-op");
    assert_eq!(c.add(&wait("w0", "other")).unwrap_err().code(), "id_conflict");
    // Also when the other subscription would live elsewhere (here: the broadcast set).
    assert_eq!(c.add(&Subscription::wait("w0", "order.paid")).unwrap_err().code(), "id_conflict");
    // Broadcast: does not pin the routing path; fires on the first big order.
    c.add(&Subscription::wait("big", "order.paid").when("async.data.amount > 1000")).unwrap();
    c.add(&Subscription::cancel("c1", "order.refunded").with_owner("run-w1")).unwrap();
    c.add(&wait("late", "never").with_timeout_ms(300)).unwrap();
    assert!(c.remove("w39").unwrap());
    assert!(!c.remove("w39").unwrap());
    assert_eq!(c.home(&wait("x", "o1")).unwrap(), c.home(&wait("y", "o1")).unwrap());
    for i in 0..40 {
        // Twice: the second event finds the wait consumed.
        c.publish(&paid(&format!("o{i}"), 0)).unwrap();
        c.publish(&paid(&format!("o{i}"), 1)).unwrap();
    }
    c.publish(&json!({"name": "order.paid", "id": "big1", "data": {"orderId": "o5", "amount": 5000}})).unwrap();
    c.publish(&json!({"name": "order.paid", "id": "big2", "data": {"orderId": "o6", "amount": 5000}})).unwrap();
    c.publish(&json!({"name": "order.refunded", "id": "r1"})).unwrap();
    assert_eq!(c.publish(&json!({"data": {}})).unwrap_err().code(), "invalid_event");
    let o = run_workers(&s.url, 2, |o| o.len() >= 42);
    let m = counts(&o);
    for i in 0..39 {
        assert_eq!(m.get(&(format!("w{i}"), "fired".into())), Some(&1), "w{i}: {o:?}");
    }
    assert_eq!(m.get(&("w39".into(), "fired".into())), None, "a removed wait never fires");
    assert_eq!(m.get(&("big".into(), "fired".into())), Some(&1));
    assert_eq!(m.get(&("c1".into(), "fired".into())), Some(&1));
    assert_eq!(m.get(&("late".into(), "expired".into())), Some(&1));
    assert_eq!(o.len(), 42, "{o:?}");
    // Read in pages with a cursor, the same outcomes; trimmed behind the cursor, gone.
    let (mut paged, mut cursor) = (Vec::new(), String::new());
    loop {
        let (batch, next) = c.read_outcomes(&cursor, 2).unwrap();
        if batch.is_empty() {
            break;
        }
        paged.extend(batch);
        cursor = next;
    }
    // Pages visit every stream each time, so the order differs; the outcomes do not.
    let key = |x: &Outcome| (x.id.clone(), x.entry.clone());
    let (mut a, mut b): (Vec<_>, Vec<_>) = (paged.iter().map(key).collect(), o.iter().map(key).collect());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(c.read_outcomes("r0=1-0,b=x", 1).unwrap_err().code(), "invalid_argument");
    assert_eq!(c.read_outcomes("r99=1-0", 1).unwrap_err().code(), "invalid_argument");
    let (first, at) = c.read_outcomes("", 1).unwrap();
    assert_eq!(c.trim_outcomes(&at).unwrap(), first.len() as u64);
    assert_eq!(c.outcomes().unwrap().len(), o.len() - first.len());
    assert_eq!(c.trim_outcomes(&cursor).unwrap(), (o.len() - first.len()) as u64);
    assert!(c.outcomes().unwrap().is_empty());
    let w3 = o.iter().find(|x| x.id == "w3").unwrap();
    assert_eq!((w3.event.as_str(), w3.owner()), ("e-o3-0", Some("run-w3")));
    let stats = c.stats().unwrap();
    assert_eq!(stats["subscriptions"], 0, "{stats}");
    // An id entry left behind (a worker killed between consuming and freeing it) is stale.
    let mut raw = redis::Client::open(s.url.as_str()).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("t.id:w1").arg("r3").query(&mut raw).unwrap();
    assert!(c.add(&Subscription::wait("w1", "order.paid")).unwrap(), "a stale entry does not block the id");
    // Fired or removed, an id is free again, wherever the new subscription goes.
    assert!(c.add(&Subscription::wait("w0", "order.paid")).unwrap());
    assert!(c.add(&Subscription::wait("w39", "order.paid")).unwrap());
    assert_eq!(stats["pending"], 0, "{stats}");
    assert_eq!(stats["events"], 0, "handled events are deleted: {stats}");
}

#[test]
fn a_dead_workers_ranges_and_pending_events_are_taken_over() {
    let s = Server::start();
    let mut c = Cluster::connect(&s.url, &options()).unwrap();
    for i in 0..20 {
        c.add(&wait(&format!("w{i}"), &format!("o{i}"))).unwrap();
    }
    // A worker takes every range, then dies without releasing them.
    let mut dead = Worker::new(&s.url, &options(), wopts(), "dead").unwrap();
    dead.step().unwrap();
    assert_eq!(dead.ranges().len(), 8);
    drop(dead);
    for i in 0..20 {
        c.publish(&paid(&format!("o{i}"), 0)).unwrap();
    }
    // It had read every event (they are pending under its name) but acknowledged none.
    let mut raw = redis::Client::open(s.url.as_str()).unwrap().get_connection().unwrap();
    for r in 0..8 {
        let _: redis::Value = redis::cmd("XREADGROUP").arg("GROUP").arg("workers").arg("dead").arg("STREAMS").arg(format!("{{t.r{r}}}:events")).arg(">").query(&mut raw).unwrap();
    }
    assert_eq!(c.stats().unwrap()["pending"], 20);
    let started = Instant::now();
    let o = run_workers(&s.url, 1, |o| o.len() >= 20);
    assert!(started.elapsed() >= Duration::from_millis(300), "the leases had to lapse first");
    assert_eq!(o.len(), 20);
    assert!(counts(&o).values().all(|&n| n == 1));
    assert_eq!(c.stats().unwrap()["pending"], 0);
}

#[test]
fn racing_workers_fire_a_broadcast_wait_once() {
    let s = Server::start();
    let mut c = Cluster::connect(&s.url, &options()).unwrap();
    for i in 0..30 {
        c.add(&Subscription::wait(format!("any{i}"), "order.paid").when(format!("async.data.n >= {i}"))).unwrap();
    }
    // Events in every range: all workers test every broadcast wait at once.
    for n in 0..200 {
        c.publish(&json!({"name": "order.paid", "id": format!("e{n}"), "data": {"orderId": format!("o{n}"), "n": 100}})).unwrap();
    }
    let o = run_workers(&s.url, 3, |o| o.len() >= 30);
    std::thread::sleep(Duration::from_millis(100));
    let o2 = Cluster::connect(&s.url, &options()).unwrap().outcomes().unwrap();
    assert_eq!(o.len(), 30);
    assert_eq!(o2.len(), 30, "nothing fired twice");
    assert!(counts(&o2).values().all(|&n| n == 1));
}

#[test]
fn claims_and_configuration() {
    let s = Server::start();
    let mut c = Cluster::connect(&s.url, &options()).unwrap();
    assert!(c.claim("idem", "k1", 10_000).unwrap());
    assert!(!c.claim("idem", "k1", 10_000).unwrap());
    assert!(c.claim("idem", "k2", 50).unwrap());
    std::thread::sleep(Duration::from_millis(80));
    assert!(c.claim("idem", "k2", 50).unwrap(), "an expired claim is free again");
    assert_eq!(c.claim("idem", "k3", 0).unwrap_err().code(), "invalid_argument");
    // The first to connect fixes ranges and routes; others must agree or leave them out.
    let other = Options { ranges: Some(4), ..options() };
    assert_eq!(Cluster::connect(&s.url, &other).err().unwrap().code(), "invalid_argument");
    let plain = Cluster::connect(&s.url, &Options { prefix: "t".into(), ranges: None, routes: None }).unwrap();
    // Nobody set up "u": a client without a routing table must not guess one.
    let none = Cluster::connect(&s.url, &Options { prefix: "u".into(), ranges: None, routes: None });
    assert_eq!(none.err().unwrap().code(), "invalid_argument");
    let empty = Cluster::connect(&s.url, &Options { prefix: "u".into(), ranges: None, routes: Some(Routes::new()) }).unwrap();
    assert_eq!((empty.ranges(), empty.routes().is_empty()), (celmatch_cluster::DEFAULT_RANGES, true));
    assert_eq!((plain.ranges(), plain.routes().path("order.paid").as_deref()), (8, Some("data.orderId")));
    assert_eq!(c.add(&Subscription::wait("x", "order.paid").when("async.data.orderId ==")).unwrap_err().code(), "parse_error");
    assert_eq!(Cluster::connect("nonsense://", &options()).err().unwrap().code(), "invalid_argument");
}

#[test]
fn a_joining_worker_gets_a_fair_share() {
    let s = Server::start();
    let opts = WorkerOptions { lease_ms: 400, ..wopts() };
    let mut a = Worker::new(&s.url, &options(), opts.clone(), "a").unwrap();
    a.step().unwrap();
    assert_eq!(a.ranges().len(), 8, "alone, it takes every range");
    let mut b = Worker::new(&s.url, &options(), opts, "b").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(a.ranges().len() == 4 && b.ranges().len() == 4) {
        assert!(Instant::now() < deadline, "a holds {:?}, b {:?}", a.ranges(), b.ranges());
        a.step().unwrap();
        b.step().unwrap();
    }
    let mut all = a.ranges();
    all.extend(b.ranges());
    all.sort_unstable();
    assert_eq!(all, (0..8).collect::<Vec<u16>>(), "each range held once");
}

#[test]
fn slots_are_redis_cluster_keyslots() {
    let dir = std::env::temp_dir().join(format!("celmatch-keyslot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nodes.conf");
    let s = Server::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", conf.to_str().unwrap()]);
    let mut con = redis::Client::open(s.url.as_str()).unwrap().get_connection().unwrap();
    let engine = celmatch::Engine::default();
    let routes = Routes::new().with("e", "data.k").unwrap();
    let values = [json!("foo"), json!("ord_1"), json!("é🙂"), json!(""), json!(42), json!(-7), json!(1.0), json!(0.5), json!(true), json!(null)];
    let mut checked = 0;
    for (i, v) in values.iter().cloned().chain((0..200).map(|i| json!(format!("id-{i}-{}", i * 7919)))).enumerate() {
        let celmatch::Route::Slots(slots) = engine.route_event(&routes, &json!({"name": "e", "data": {"k": v}})).unwrap() else { panic!("{v} has a slot") };
        let bytes = celmatch::routing::canonical_json_bytes(&v).unwrap();
        let keyslot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&bytes).query(&mut con).unwrap();
        // `{` in a key would make Redis hash only the tag; none of these has one.
        assert_eq!(slots, vec![keyslot], "value #{i} {v}");
        checked += 1;
    }
    assert_eq!(checked, 210);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_worker_started_again_under_its_name_takes_its_ranges_back_at_once() {
    let s = Server::start();
    let opts = WorkerOptions { lease_ms: 60_000, ..wopts() };
    let mut first = Worker::new(&s.url, &options(), opts.clone(), "x").unwrap();
    first.step().unwrap();
    assert_eq!(first.ranges().len(), 8);
    drop(first);
    // Another name waits for the leases (a minute here)…
    let mut other = Worker::new(&s.url, &options(), opts.clone(), "y").unwrap();
    other.step().unwrap();
    assert_eq!(other.ranges().len(), 0);
    // …the same name does not.
    let mut again = Worker::new(&s.url, &options(), opts, "x").unwrap();
    again.step().unwrap();
    assert!(!again.ranges().is_empty());
}

#[test]
fn workers_start_over_when_redis_restarts() {
    let dir = std::env::temp_dir().join(format!("celmatch-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir.to_str().unwrap()];
    let mut s = Server::start_with(&aof);
    let port: u16 = s.url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    let mut c = Cluster::connect(&s.url, &options()).unwrap();
    c.add(&wait("before", "o1")).unwrap();
    c.add(&wait("after", "o2")).unwrap();
    c.publish(&paid("o1", 0)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (url, stop) = (s.url.clone(), stop.clone());
        std::thread::spawn(move || Worker::new(&url, &options(), wopts(), "w").unwrap().run(&stop))
    };
    let wait_for = |c: &mut Cluster, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.outcomes().map_or(0, |o| o.len()) < n {
            assert!(Instant::now() < deadline, "only {:?}", c.outcomes());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&mut c, 1);
    // Redis dies and comes back with what it had written (AOF): the worker starts over.
    let _ = s.child.kill();
    let _ = s.child.wait();
    s = Server::start_on(port, &aof);
    let mut c = Cluster::connect(&s.url, &options()).unwrap();
    c.publish(&paid("o2", 0)).unwrap();
    wait_for(&mut c, 2);
    stop.store(true, Ordering::Relaxed);
    let stats = worker.join().unwrap();
    assert!(stats.redis_errors >= 1, "{stats:?}");
    let m = counts(&c.outcomes().unwrap());
    assert_eq!((m[&("before".to_string(), "fired".to_string())], m[&("after".to_string(), "fired".to_string())]), (1, 1));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
