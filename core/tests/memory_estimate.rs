//! `stats().memory_bytes` against the growth of the resident set, for the simplest wait and
//! the realistic one (owner, 7-day timeout, trigger-bound condition), 200,000 each. One
//! test in its own binary: other tests would move the resident set under it.

use celmatch::{Engine, Subscription};
use serde_json::json;

fn rss_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<f64>().ok()? * 4096.0)
}

fn uuid(i: u64) -> String {
    let h = format!("{:032x}", (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn eq(i: u64) -> Subscription {
    Subscription::wait(format!("w{i}"), "app/invoice.approved").when(format!("async.data.id == {:?}", uuid(i)))
}

fn workflow(i: u64) -> Subscription {
    Subscription::wait(format!("w{i}"), "app/order.paid")
        .when("event.data.orderId == async.data.orderId && async.data.status == \"paid\"")
        .with_trigger(json!({"name": "app/order.created", "id": format!("e{i}"), "data": {"orderId": uuid(i), "amount": 120}}))
        .with_owner(format!("01J{:023X}", i * 7919))
        .with_timeout_ms(7 * 24 * 3600 * 1000)
}

/// Adds `n` subscriptions one by one and returns (RSS growth, the engine's estimate).
fn measure(engine: &Engine, n: u64, make: fn(u64) -> Subscription) -> Option<(f64, f64)> {
    let before = rss_bytes()?;
    let estimate_before = engine.stats().memory_bytes as f64;
    for i in 0..n {
        engine.add(make(i)).unwrap();
    }
    Some((rss_bytes()? - before, engine.stats().memory_bytes as f64 - estimate_before))
}

#[test]
fn memory_estimate_is_within_15_percent_of_resident_growth() {
    let n = 200_000;
    // Both engines stay alive, so the second measurement grows the heap afresh.
    let (a, b) = (Engine::default(), Engine::default());
    for (name, engine, make) in [("eq", &a, eq as fn(u64) -> Subscription), ("workflow", &b, workflow)] {
        let Some((rss, estimate)) = measure(engine, n, make) else {
            eprintln!("no /proc/self/statm: skipped");
            return;
        };
        let ratio = estimate / rss;
        eprintln!("{name}: RSS +{:.0} B/wait, estimate {:.0} B/wait (ratio {ratio:.2})", rss / n as f64, estimate / n as f64);
        assert!((0.85..=1.15).contains(&ratio), "{name}: estimate {estimate} vs resident growth {rss}");
        engine.validate().unwrap();
    }
}
