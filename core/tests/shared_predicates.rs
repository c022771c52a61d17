//! 100,000 subscriptions that all share non-selective predicates (`amount > 100`,
//! `kind != "test"`) next to one selective equality each. The shared ones must never drive
//! candidate generation, and every event must fire exactly its target.

use celmatch::{Engine, Subscription};
use serde_json::json;

const N: usize = 100_000;

#[test]
fn shared_predicates_do_not_drive_candidates() {
    let engine = Engine::default();
    let subs: Vec<Subscription> = (0..N)
        .map(|i| {
            Subscription::wait(format!("w{i}"), "app/order.paid")
                .when(format!("async.data.amount > 100 && async.data.id == \"order-{i}\" && async.data.kind != \"test\""))
        })
        .collect();
    assert!(engine.add_many(subs).into_iter().all(|r| r.is_ok()));
    let stats = engine.stats();
    assert_eq!(stats.by_class.get("eq"), Some(&(N as u64)), "{stats:?}");
    assert_eq!(stats.scan, 0);
    assert!(!stats.by_class.contains_key("range"), "the shared range never becomes the access predicate");
    assert_eq!(stats.shapes, 1, "one shape for all");

    for i in (0..N).step_by(9973) {
        let hit = json!({"name": "app/order.paid", "data": {"id": format!("order-{i}"), "amount": 150, "kind": "live"}});
        let fired = engine.process(&hit).unwrap();
        assert_eq!(fired.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), vec![format!("w{i}")]);
        // The selective predicate matches but a shared one does not: nothing fires.
        let j = i + 1;
        let miss = json!({"name": "app/order.paid", "data": {"id": format!("order-{j}"), "amount": 150, "kind": "test"}});
        assert!(engine.process(&miss).unwrap().is_empty());
    }
    assert_eq!(engine.len(), N - N.div_ceil(9973));
}
