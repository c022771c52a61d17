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
        std::iter::repeat("async.a").take(50_000).collect::<Vec<_>>().join(" + "),
        std::iter::repeat("1").take(50_000).collect::<Vec<_>>().join(" == "),
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
        std::iter::repeat("async.a").take(d - 1).collect::<Vec<_>>().join(" + "),
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
