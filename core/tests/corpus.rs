//! Replays the shared evaluation cases in `tests/cases/eval/*.json` (format in
//! `tests/cases/README.md`) in every dialect they name.

use celmatch::{Config, Dialect, Engine};
use serde_json::Value as Json;
use std::path::PathBuf;

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/eval")
}

fn dialects(case: &Json) -> Vec<Dialect> {
    match case.get("dialect").and_then(Json::as_str).unwrap_or("both") {
        "strict" => vec![Dialect::Strict],
        "lenient" => vec![Dialect::Lenient],
        "both" => vec![Dialect::Strict, Dialect::Lenient],
        other => panic!("unknown dialect {other}"),
    }
}

/// Runs one case; `Err` describes a mismatch.
fn run(case: &Json, dialect: Dialect) -> Result<(), String> {
    let engine = Engine::new(Config { dialect, ..Config::default() });
    let expr = case["expr"].as_str().ok_or("case without expr")?;
    let compiled = match (case.get("mode").and_then(Json::as_str).unwrap_or("condition"), case.get("trigger")) {
        ("key", _) => engine.compile_key(expr),
        ("condition", Some(t)) => engine.compile_bound(expr, t),
        ("condition", None) => engine.compile(expr),
        (m, _) => return Err(format!("unknown mode {m}")),
    };
    let compiled = match (compiled, case.get("compile_error").and_then(Json::as_str)) {
        (Err(e), Some(code)) if e.code() == code => return Ok(()),
        (Err(e), _) => return Err(format!("compile error {e}")),
        (Ok(c), Some(code)) => return Err(format!("expected compile error {code}, compiled to {}", c.shape())),
        (Ok(c), None) => c,
    };
    let event = case.get("event").cloned().unwrap_or(Json::Object(Default::default()));
    let got = compiled.eval(&event);
    match (got, case.get("expect"), case.get("error").and_then(Json::as_str)) {
        (Ok(v), Some(want), None) if same(&v, want) => Ok(()),
        (Err(e), None, Some(code)) if e.code() == code => Ok(()),
        (got, want, code) => Err(format!("got {got:?}, want {want:?} / error {code:?} (shape {})", compiled.shape())),
    }
}

/// JSON equality that tells `1` (int) from `1.0` (double).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.is_f64() == y.is_f64() && x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Json::Object(x), Json::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

#[test]
fn shared_eval_cases() {
    let mut files: Vec<_> = std::fs::read_dir(cases_dir()).expect("tests/cases/eval").map(|e| e.unwrap().path()).collect();
    files.sort();
    let (mut passed, mut failures) = (0, Vec::new());
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        for case in doc["cases"].as_array().expect("cases") {
            for dialect in dialects(case) {
                match run(case, dialect) {
                    Ok(()) => passed += 1,
                    Err(why) => failures.push(format!(
                        "{}::{} [{dialect:?}] {}: {why}",
                        file.file_name().unwrap().to_string_lossy(),
                        case["name"].as_str().unwrap_or("?"),
                        case["expr"]
                    )),
                }
            }
        }
    }
    assert!(passed > 0, "no cases ran");
    assert!(failures.is_empty(), "{} of {} case runs failed:\n{}", failures.len(), passed + failures.len(), failures.join("\n"));
    eprintln!("{passed} case runs passed");
}
