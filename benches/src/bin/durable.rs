//! The durable-engine benchmark: what a commit per call costs.
//!
//! `cargo run --release -p celmatch-benches --bin durable -- [--waits N] [--shape S] [--dir D]`
//!
//! On a fresh store in `--dir` (default: the system's temp directory), at the default
//! durability level (`process`), it measures, one thread:
//! - `add_many`: N waits in batches of 1,000 (one commit a batch), waits per second;
//! - `add`: 20,000 single adds (one commit each), per second;
//! - `process`: 20,000 events that each fire one wait (the consumption is committed before
//!   the call returns), per second;
//! - `open`: reopening the store of N waits (read the rows, recompile, rebuild the index);
//!
//! and prints one JSON line. Every event must fire its target, and the reopened engine must
//! hold every wait, or the run fails.

use celmatch::{Config, Engine, Subscription};
use celmatch_benches::workload::wait_and_event;
use celmatch_benches::Shape;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut waits, mut shape, mut dir) = (100_000u64, Shape::Workflow, std::env::temp_dir());
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--waits" => waits = value().parse().unwrap_or_else(|_| fail("--waits takes a number")),
            "--shape" => shape = value().parse().unwrap_or_else(|e: String| fail(&e)),
            "--dir" => dir = value().into(),
            _ => fail(&format!("unknown argument {a}")),
        }
    }
    let path = dir.join(format!("celmatch-durable-bench-{}.db", std::process::id()));
    let clean = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    clean();
    let engine = Engine::open(&path, Config::default()).unwrap_or_else(|e| fail(&e.to_string()));
    let t = Instant::now();
    let mut i = 0;
    while i < waits {
        let batch: Vec<Subscription> = (i..(i + 1000).min(waits)).map(|j| wait_and_event(shape, 42, j).0).collect();
        for r in engine.add_many(batch) {
            r.unwrap();
        }
        i += 1000;
    }
    let add_many = waits as f64 / t.elapsed().as_secs_f64();
    let singles = 20_000u64;
    let extra: Vec<Subscription> = (waits..waits + singles).map(|j| wait_and_event(shape, 42, j).0).collect();
    let t = Instant::now();
    for s in extra {
        engine.add(s).unwrap();
    }
    let add = singles as f64 / t.elapsed().as_secs_f64();
    let events: Vec<(String, Vec<u8>)> = (0..singles).map(|j| {
        let (s, e) = wait_and_event(shape, 42, waits + j);
        (s.id, serde_json::to_vec(&e).unwrap())
    }).collect();
    let t = Instant::now();
    for (id, bytes) in &events {
        let fired = engine.process_bytes(bytes).unwrap();
        assert!(fired.iter().any(|f| &f.id == id), "{id} did not fire");
    }
    let process = singles as f64 / t.elapsed().as_secs_f64();
    engine.close().unwrap();
    drop(engine);
    let t = Instant::now();
    let reopened = Engine::open(&path, Config::default()).unwrap();
    let open_s = t.elapsed().as_secs_f64();
    assert_eq!(reopened.len() as u64, waits, "the reopened store holds every wait");
    drop(reopened);
    clean();
    println!(
        "{{\"waits\":{waits},\"shape\":\"{shape}\",\"add_many_per_sec\":{add_many:.0},\"add_per_sec\":{add:.0},\"process_fire_per_sec\":{process:.0},\"open_secs\":{open_s:.2}}}"
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("durable: {msg}");
    std::process::exit(2)
}
