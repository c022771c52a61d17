//! Every limit, with input just under and just over it. Deep input must be an error, never a
//! stack overflow (these run on the test harness's 2 MiB threads).

use celmatch::{Config, Engine, Limits};

fn engine_with(limits: Limits) -> Engine {
    Engine::new(Config { limits, ..Config::default() })
}

/// Limits that let huge texts reach the depth check.
fn big_text() -> Limits {
    Limits { max_expr_bytes: 10 << 20, ..Limits::default() }
}

#[test]
fn too_long_is_an_error_just_over_the_limit() {
    let e = engine_with(Limits { max_expr_bytes: 32, ..Limits::default() });
    let ok = format!("async.data.id == \"{}\"", "x".repeat(32 - 19));
    assert_eq!(ok.len(), 32);
    assert!(e.compile(&ok).is_ok());
    let over = format!("{ok} ");
    assert_eq!(e.compile(&over).unwrap_err().code(), "too_long");
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let e = engine_with(big_text());
    let n = 100_000;
    let cases = [
        format!("{}async.x{}", "(".repeat(n), ")".repeat(n)),
        format!("{}true", "!".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        std::iter::repeat_n("async.a", 50_000).collect::<Vec<_>>().join(" + "),
        std::iter::repeat_n("1", 50_000).collect::<Vec<_>>().join(" == "),
        format!("async{}", ".a".repeat(n)),
        format!("{}1", "true ? 1 : ".repeat(n)),
        format!("{}1{}", "size(".repeat(n), ")".repeat(n)),
    ];
    for src in &cases {
        let err = e.compile(src).unwrap_err();
        assert_eq!(err.code(), "too_deep", "{}…", &src[..40]);
    }
}

#[test]
fn nesting_at_the_default_limit_compiles() {
    let e = engine_with(big_text());
    let d = Limits::default().max_depth;
    let cases = [
        format!("{}async.x{} == 1", "(".repeat(d - 2), ")".repeat(d - 2)),
        format!("{}true", "!".repeat(d - 1)),
        std::iter::repeat_n("async.a", d - 1).collect::<Vec<_>>().join(" + "),
        format!("async{}", ".a".repeat(d - 1)),
    ];
    for src in &cases {
        assert!(e.compile(src).is_ok(), "{src}");
    }
    let over = format!("{}true", "!".repeat(d + 1));
    assert_eq!(e.compile(&over).unwrap_err().code(), "too_deep");
}

#[test]
fn long_flat_disjunctions_are_not_deep() {
    let e = engine_with(big_text());
    let src = (0..2000).map(|i| format!("async.data.id == \"{i}\"")).collect::<Vec<_>>().join(" || ");
    let c = e.compile(&src).expect("a flat || chain is shallow");
    assert!(c.conjunctions().is_none(), "2000 conjunctions exceed the default DNF bound");
}

#[test]
fn dnf_bound_keeps_the_expression_whole() {
    let e = engine_with(Limits { max_conjunctions: 4, ..Limits::default() });
    let four = "(async.a == 1 || async.b == 2) && (async.c == 3 || async.d == 4)";
    assert_eq!(e.compile(four).unwrap().conjunctions().unwrap().len(), 4);
    let eight = "(async.a == 1 || async.b == 2) && (async.c == 3 || async.d == 4) && (async.e == 5 || async.f == 6)";
    let c = e.compile(eight).unwrap();
    assert!(c.conjunctions().is_none());
    let ev = serde_json::json!({"a": 1, "d": 4, "f": 6});
    assert!(c.matches(&ev).unwrap(), "kept whole, still evaluated");
}

#[test]
fn event_size_and_depth_just_over_the_limit() {
    let limits = Limits { max_event_bytes: 64, max_event_depth: 4, ..Limits::default() };
    let e = engine_with(limits);
    let ok = br#"{"name":"a","data":{"b":{"c":[1]}}}"#; // depth 4
    assert!(e.process_bytes(ok).is_ok());
    let deep = br#"{"name":"a","data":{"b":{"c":[[1]]}}}"#; // depth 5
    assert_eq!(e.process_bytes(deep).unwrap_err().code(), "limit_exceeded");
    let big = format!(r#"{{"name":"a","data":"{}"}}"#, "x".repeat(64 - 21));
    assert_eq!(big.len(), 65);
    assert_eq!(e.process_bytes(big.as_bytes()).unwrap_err().code(), "limit_exceeded");
    assert!(e.process_bytes(&big.as_bytes()[1..]).is_err(), "truncated JSON is an error, not a panic");
    // 100,000-deep JSON never reaches the parser's recursion.
    let hostile = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = engine_with(Limits { max_event_bytes: 1 << 20, ..Limits::default() });
    assert_eq!(e.process_bytes(hostile.as_bytes()).unwrap_err().code(), "limit_exceeded");
}

#[test]
fn check_event_applies_the_text_limits_to_values() {
    let limits = Limits { max_event_bytes: 64, max_event_depth: 4, ..Limits::default() };
    let e = engine_with(limits);
    let parse = |t: &str| -> serde_json::Value { serde_json::from_str(t).unwrap() };
    assert!(e.check_event(&parse(r#"{"name":"a","data":{"b":{"c":[1]}}}"#)).is_ok());
    assert_eq!(e.check_event(&parse(r#"{"name":"a","data":{"b":{"c":[[1]]}}}"#)).unwrap_err().code(), "limit_exceeded");
    // Exactly at the limit, and one byte over it (as serde writes it, keys sorted).
    let at = format!(r#"{{"data":"{}","name":"a"}}"#, "x".repeat(64 - 22));
    assert_eq!(at.len(), 64);
    assert!(e.check_event(&parse(&at)).is_ok());
    let over = format!(r#"{{"data":"{}","name":"a"}}"#, "x".repeat(64 - 21));
    let err = e.check_event(&parse(&over)).unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
    assert!(err.message().contains("64"), "{}", err.message());
}

#[test]
fn claims_are_bounded_and_expired_ones_reclaimed() {
    let e = Engine::new(Config { max_claims: 3, ..Config::default() });
    for k in ["a", "b", "c"] {
        assert!(e.claim("s", k, 1000, Some(0)).unwrap());
    }
    assert!(!e.claim("s", "a", 1000, Some(10)).unwrap(), "duplicate inside the window");
    assert_eq!(e.claim("s", "d", 1000, Some(10)).unwrap_err().code(), "limit_exceeded");
    // Once the first three expire, their room is reclaimed.
    assert!(e.claim("s", "d", 1000, Some(1000)).unwrap());
    assert_eq!(e.stats().claims, 1);
}

#[test]
fn lookback_is_bounded_by_count_and_bytes() {
    let config = Config { lookback_max_events: 3, lookback_max_bytes: 1 << 20, ..Config::default() };
    let e = Engine::new(config);
    for i in 0..10 {
        e.process(&serde_json::json!({"name": "a", "id": format!("e{i}"), "data": {"i": i}})).unwrap();
    }
    assert_eq!(e.stats().lookback_events, 3);
    let e = Engine::new(Config { lookback_max_events: 1000, lookback_max_bytes: 200, ..Config::default() });
    for i in 0..10 {
        e.process(&serde_json::json!({"name": "a", "id": format!("e{i}"), "data": {"pad": "x".repeat(50)}})).unwrap();
    }
    assert!(e.stats().lookback_events <= 3, "{:?}", e.stats());
}
