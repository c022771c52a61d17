//! Arbitrary bytes (UTF-8, lossy) as an expression, compiled in every mode — condition,
//! condition bound to a trigger, key — in both dialects, with the default limits and with
//! tiny ones (so `too_long`, `too_deep` and the DNF bound are reached by short inputs).
//!
//! Checked: nothing panics; every error has a known code, a span inside the text and a
//! 1-based line/column inside the text; `render` works; and the cached compile agrees with
//! `compile_uncached` (the reference): both accept, or both reject with the same code and
//! position.
#![no_main]

use celmatch::{CompileError, Compiled, Config, Dialect, Engine, Limits};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value as Json};

const CODES: &[&str] = &[
    "parse_error",
    "too_long",
    "too_deep",
    "unknown_variable",
    "unknown_function",
    "unsupported",
    "missing_trigger_field",
    "never_matches",
    "not_boolean",
    "invalid_regex",
];

fn check_error(src: &str, e: &CompileError, what: &str) {
    assert!(CODES.contains(&e.code()), "{what}: unknown code {:?} for {src:?}", e.code());
    assert!(!e.message().is_empty(), "{what}: empty message for {src:?}");
    let span = e.span();
    assert!(span.start <= span.end && span.end <= src.len(), "{what}: span {span:?} outside the text ({} bytes) {src:?}: {e}", src.len());
    let lines: Vec<&str> = src.split('\n').collect();
    assert!(e.line() >= 1 && e.line() <= lines.len(), "{what}: line {} outside the text ({} lines) {src:?}: {e}", e.line(), lines.len());
    let width = lines[e.line() - 1].chars().count();
    assert!(e.column() >= 1 && e.column() <= width + 1, "{what}: column {} outside line {} ({width} chars) {src:?}: {e}", e.column(), e.line());
    let rendered = e.render(src);
    assert!(rendered.contains(e.code()));
    let _ = e.to_string();
}

fn check_ok(c: &Compiled, event: &Json) {
    let _ = c.shape();
    let _ = c.params();
    let _ = c.conjunctions();
    let _ = c.constant();
    let _ = c.matches(event);
}

/// The cached result and the reference must agree on acceptance, and on the error's code
/// and position.
fn agree(src: &str, what: &str, cached: &Result<Compiled, CompileError>, reference: &Result<Compiled, CompileError>) {
    match (cached, reference) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert!(
            (a.code(), a.span(), a.line(), a.column()) == (b.code(), b.span(), b.line(), b.column()),
            "{what}: cached and uncached errors differ for {src:?}:\n  cached:    {a} {:?}\n  reference: {b} {:?}",
            a.span(),
            b.span()
        ),
        (Ok(_), Err(b)) => panic!("{what}: cached compile accepts {src:?}, the reference rejects it: {b}"),
        (Err(a), Ok(_)) => panic!("{what}: cached compile rejects {src:?} ({a}), the reference accepts it"),
    }
}

fn run(src: &str, dialect: Dialect, limits: Limits) {
    let trigger = json!({
        "name": "app/trigger", "id": "t1", "ts": 1_700_000_000_000i64,
        "data": {"k": "a", "n": 1, "d": 2.5, "flag": true, "tags": ["a", "b"], "obj": {"x": 1}, "nil": null},
        "user": {"email": "x@acme.com"},
    });
    let event = json!({"name": "app/e", "id": "e1", "data": {"k": "a", "n": 2, "s": "abc", "tags": ["vip"]}});
    // A fresh engine per input keeps a crash reproducible from its input alone.
    let engine = Engine::new(Config { dialect, limits, ..Config::default() });

    let cond = engine.compile(src);
    let cond_ref = engine.compile_uncached(src, None);
    let bound = engine.compile_bound(src, &trigger);
    let bound_ref = engine.compile_uncached(src, Some(&trigger));
    let key = engine.compile_key(src);
    for (what, r) in [("condition", &cond), ("condition-uncached", &cond_ref), ("bound", &bound), ("bound-uncached", &bound_ref), ("key", &key)] {
        match r {
            Ok(c) => check_ok(c, &event),
            Err(e) => check_error(src, e, what),
        }
    }
    agree(src, "condition", &cond, &cond_ref);
    agree(src, "bound", &bound, &bound_ref);
    // A second compile hits the caches, and must give the same answer as the first.
    agree(src, "condition (cache hit)", &engine.compile(src), &cond_ref);
    agree(src, "bound (cache hit)", &engine.compile_bound(src, &trigger), &bound_ref);
    if let Ok(k) = &key {
        let _ = k.eval(&event);
    }
    let _ = engine.key(src, &event);
    let _ = engine.explain_expr(src);
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let tiny = Limits { max_expr_bytes: 48, max_depth: 6, max_conjunctions: 3, ..Limits::default() };
    for dialect in [Dialect::Strict, Dialect::Lenient] {
        run(&src, dialect, Limits::default());
        run(&src, dialect, tiny.clone());
    }
});
