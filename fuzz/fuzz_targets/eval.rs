//! An arbitrary expression evaluated against an arbitrary JSON event.
//!
//! Input: `EXPR \0 EVENT_JSON [\0 TRIGGER_JSON]` (the seeds are written so, from the shared
//! cases); without a NUL byte, the first half is the expression and the second half the event.
//! JSON that does not parse (or is over the event limits) is used as a JSON string instead,
//! so non-object events are exercised too.
//!
//! Every expression is compiled as a condition (with and without the trigger) and as a key,
//! in both dialects, and evaluated. Checked: nothing panics, and the cached compile agrees
//! with `compile_uncached`: same acceptance, and the same value or error code from `eval` and
//! `matches`.
#![no_main]

use celmatch::{CompileError, Compiled, Config, Dialect, Engine, EvalError};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value as Json};

fn split(data: &[u8]) -> (&[u8], &[u8], Option<&[u8]>) {
    let Some(i) = data.iter().position(|&b| b == 0) else {
        let (expr, event) = data.split_at(data.len() / 2);
        return (expr, event, None);
    };
    let rest = &data[i + 1..];
    match rest.iter().position(|&b| b == 0) {
        Some(j) => (&data[..i], &rest[..j], Some(&rest[j + 1..])),
        None => (&data[..i], rest, None),
    }
}

fn json_or_string(engine: &Engine, bytes: &[u8]) -> Json {
    engine.parse_event(bytes).unwrap_or_else(|_| Json::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn same_eval(a: &Result<Json, EvalError>, b: &Result<Json, EvalError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => x.code() == y.code(),
        _ => false,
    }
}

fn same_match(a: &Result<bool, EvalError>, b: &Result<bool, EvalError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => x.code() == y.code(),
        _ => false,
    }
}

fn compare(expr: &str, what: &str, event: &Json, cached: Result<Compiled, CompileError>, reference: &Result<Compiled, CompileError>) {
    match (&cached, reference) {
        (Ok(c), Ok(r)) => {
            let (ce, re) = (c.eval(event), r.eval(event));
            assert!(same_eval(&ce, &re), "{what}: eval of {expr:?} on {event}: cached {ce:?}, uncached {re:?} (shapes {:?} / {:?})", c.shape(), r.shape());
            let (cm, rm) = (c.matches(event), r.matches(event));
            assert!(same_match(&cm, &rm), "{what}: matches of {expr:?} on {event}: cached {cm:?}, uncached {rm:?} (shapes {:?} / {:?})", c.shape(), r.shape());
        }
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{what}: {expr:?}: cached error {a}, uncached error {b}"),
        (Ok(c), Err(b)) => panic!("{what}: cached compile accepts {expr:?} (shape {:?}), the reference rejects it: {b}", c.shape()),
        (Err(a), Ok(r)) => panic!("{what}: cached compile rejects {expr:?} ({a}), the reference accepts it (shape {:?})", r.shape()),
    }
}

fuzz_target!(|data: &[u8]| {
    let (expr, event, trigger) = split(data);
    let expr = String::from_utf8_lossy(expr);
    for dialect in [Dialect::Strict, Dialect::Lenient] {
        let engine = Engine::new(Config { dialect, ..Config::default() });
        let event = json_or_string(&engine, event);
        let trigger = match trigger {
            Some(t) => json_or_string(&engine, t),
            None => json!({"name": "app/trigger", "data": {"k": "a", "n": 1, "tags": ["a"]}}),
        };

        // The references, compiled once; then the cached path twice (a miss, then a hit).
        let cond_ref = engine.compile_uncached(&expr, None);
        let bound_ref = engine.compile_uncached(&expr, Some(&trigger));
        for pass in ["", " (cache hit)"] {
            compare(&expr, &format!("condition{pass}"), &event, engine.compile(&expr), &cond_ref);
            compare(&expr, &format!("bound{pass}"), &event, engine.compile_bound(&expr, &trigger), &bound_ref);
        }
        let _ = engine.eval(&expr, &event, Some(&trigger));
        if let Ok(k) = engine.compile_key(&expr) {
            let _ = k.eval(&event);
            let _ = k.matches(&event);
        }
        let _ = engine.key(&expr, &event);
    }
});
