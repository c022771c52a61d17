//! The cluster benchmark: a redis-server of its own, N workers (threads of this process),
//! waits pinned by order id, events that each fire one.
//!
//! `cargo run --release -p celmatch-benches --bin cluster -- [--waits N] [--events E]
//!  [--rate R] [--workers 1,2]`
//!
//! For each worker count, on a fresh server:
//! - throughput: E events published as fast as one client can, timed until every one has
//!   fired (events/s), and the workers' Redis commands per event;
//! - latency: E/4 events published at R per second; the fire latency of each is the time
//!   between its event's stream entry and its outcome's entry (both stamped by Redis, in
//!   milliseconds), reported as median and p99.
//!
//! Prints one JSON line per worker count. Every event must fire its wait, or the run fails.

use celmatch::{Routes, Subscription};
use celmatch_cluster::{Cluster, Options, Worker, WorkerOptions, WorkerStats};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fail(msg: &str) -> ! {
    eprintln!("cluster bench: {msg}");
    std::process::exit(2)
}

struct Server(Child, String);

impl Server {
    fn start() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap_or_else(|e| fail(&e.to_string())).port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start redis-server: {e}")));
        let url = format!("redis://127.0.0.1:{port}/");
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t.elapsed() > Duration::from_secs(10) {
                fail("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Server(child, url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn options() -> Options {
    Options { prefix: "bench".into(), ranges: Some(16), routes: Some(Routes::new().with("order.paid", "data.orderId").expect("a valid path")) }
}

fn wait(i: u64) -> Subscription {
    Subscription::wait(format!("w{i}"), "order.paid")
        .when("async.data.orderId == event.data.orderId && async.data.amount > 10")
        .with_trigger(json!({"name": "order.created", "data": {"orderId": format!("o{i}")}}))
        .with_owner(format!("run{i}"))
}

fn event(i: u64) -> serde_json::Value {
    json!({"name": "order.paid", "id": format!("e{i}"), "data": {"orderId": format!("o{i}"), "amount": 20}})
}

/// Runs `n` workers until `body` returns; their counters summed.
fn with_workers<T>(url: &str, n: usize, body: impl FnOnce() -> T) -> (T, WorkerStats) {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (url, stop) = (url.to_string(), stop.clone());
            std::thread::spawn(move || {
                let mut w = Worker::new(&url, &options(), WorkerOptions::default(), format!("bench-{i}")).unwrap_or_else(|e| fail(&e.to_string()));
                w.run(&stop)
            })
        })
        .collect();
    let out = body();
    stop.store(true, Ordering::Relaxed);
    let mut total = WorkerStats::default();
    for t in threads {
        let s = t.join().unwrap_or_else(|_| fail("a worker panicked"));
        total.events += s.events;
        total.fired += s.fired;
        total.round_trips += s.round_trips;
        total.redis_errors += s.redis_errors;
    }
    (out, total)
}

/// Waits until every range is leased (the workers have loaded their subscriptions).
fn until_leased(c: &mut Cluster) {
    let t = Instant::now();
    loop {
        let s = c.stats().unwrap_or_else(|e| fail(&e.to_string()));
        if s["ranges"].as_array().is_some_and(|r| r.iter().all(|x| !x["lease"].is_null())) {
            return;
        }
        if t.elapsed() > Duration::from_secs(30) {
            fail("the workers did not lease every range");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn until_outcomes(c: &mut Cluster, n: i64) {
    let t = Instant::now();
    while c.stats().unwrap_or_else(|e| fail(&e.to_string()))["outcomes"].as_i64() < Some(n) {
        if t.elapsed() > Duration::from_secs(300) {
            fail("events did not all fire");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn entry_ms(id: &str) -> i64 {
    id.split('-').next().and_then(|m| m.parse().ok()).unwrap_or_else(|| fail(&format!("bad entry id {id}")))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut waits, mut events, mut rate, mut counts) = (20_000u64, 20_000u64, 200u64, vec![1usize, 2]);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--waits" => waits = value().parse().unwrap_or_else(|_| fail("--waits takes a number")),
            "--events" => events = value().parse().unwrap_or_else(|_| fail("--events takes a number")),
            "--rate" => rate = value().parse().unwrap_or_else(|_| fail("--rate takes a number")),
            "--workers" => counts = value().split(',').map(|n| n.parse().unwrap_or_else(|_| fail("--workers takes e.g. 1,2"))).collect(),
            _ => fail(&format!("unknown argument {a}")),
        }
    }
    let latency_events = (events / 4).max(1);
    if waits < events + latency_events {
        fail("--waits must cover the events (events + events/4)");
    }
    for &n in &counts {
        let server = Server::start();
        let mut c = Cluster::connect(&server.1, &options()).unwrap_or_else(|e| fail(&e.to_string()));
        let t = Instant::now();
        for i in 0..waits {
            c.add(&wait(i)).unwrap_or_else(|e| fail(&e.to_string()));
        }
        let add_per_s = waits as f64 / t.elapsed().as_secs_f64();
        // Throughput.
        let ((elapsed, publisher_rt), tput) = with_workers(&server.1, n, || {
            until_leased(&mut c);
            let rt0 = c.round_trips();
            let t = Instant::now();
            for i in 0..events {
                c.publish(&event(i)).unwrap_or_else(|e| fail(&e.to_string()));
            }
            let publisher_rt = c.round_trips() - rt0;
            until_outcomes(&mut c, events as i64);
            (t.elapsed(), publisher_rt)
        });
        // Latency, at a steady rate.
        let (published, lat) = with_workers(&server.1, n, || {
            until_leased(&mut c);
            let gap = Duration::from_secs_f64(1.0 / rate as f64);
            let start = Instant::now();
            let mut published = Vec::new();
            for k in 0..latency_events {
                let i = events + k;
                let due = start + gap * k as u32;
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                published.push((format!("w{i}"), c.publish(&event(i)).unwrap_or_else(|e| fail(&e.to_string()))));
            }
            until_outcomes(&mut c, (events + latency_events) as i64);
            published
        });
        let outcomes = c.outcomes().unwrap_or_else(|e| fail(&e.to_string()));
        let fired: std::collections::HashMap<&str, &str> = outcomes.iter().filter(|o| o.outcome == "fired").map(|o| (o.id.as_str(), o.entry.as_str())).collect();
        if fired.len() as u64 != events + latency_events {
            fail(&format!("{} of {} events fired their wait", fired.len(), events + latency_events));
        }
        let mut ms: Vec<i64> = published.iter().map(|(id, e)| entry_ms(fired.get(id.as_str()).unwrap_or_else(|| fail(&format!("{id} did not fire")))) - entry_ms(e)).collect();
        ms.sort_unstable();
        let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        let line = json!({
            "workers": n,
            "waits": waits,
            "add_per_s": add_per_s.round(),
            "events": events,
            "events_per_s": (events as f64 / elapsed.as_secs_f64()).round(),
            "worker_round_trips_per_event": ((tput.round_trips as f64 / events as f64) * 100.0).round() / 100.0,
            "publisher_round_trips_per_event": ((publisher_rt as f64 / events as f64) * 100.0).round() / 100.0,
            "latency_rate_per_s": rate,
            "latency_events": latency_events,
            "fire_latency_ms_p50": pct(0.5),
            "fire_latency_ms_p99": pct(0.99),
            "fire_latency_ms_max": ms[ms.len() - 1],
            "redis_errors": tput.redis_errors + lat.redis_errors,
        });
        println!("{line}");
    }
}
