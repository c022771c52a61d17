//! Replays the shared routing cases in `tests/cases/routing/*.json` (format in
//! `tests/cases/README.md`, section "routing/*.json").

use celmatch::{Engine, Route, Routes, Subscription};
use serde_json::Value as Json;
use std::path::PathBuf;

fn expected(case: &Json) -> Result<Route, String> {
    if let Some(code) = case.get("error") {
        return Err(code.as_str().unwrap().to_string());
    }
    Ok(match &case["slots"] {
        Json::String(s) if s == "broadcast" => Route::Broadcast,
        Json::Array(a) => Route::Slots(a.iter().map(|v| v.as_u64().unwrap() as u16).collect()),
        other => panic!("bad expectation {other}"),
    })
}

#[test]
fn shared_routing_cases() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/routing");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let routes = Routes::from_json(&doc["routes"]).unwrap();
        let engine = Engine::default();
        for case in doc["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let got = match (case.get("subscription"), case.get("event")) {
                (Some(s), None) => engine.route(&routes, &Subscription::from_record(s).unwrap()),
                (None, Some(e)) => engine.route_event(&routes, e),
                _ => panic!("{name}: give a subscription or an event"),
            };
            assert_eq!(got.map_err(|e| e.code().to_string()), expected(case), "{}: {name}", path.display());
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} routing cases ran");
}
