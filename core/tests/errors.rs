//! Compile errors carry a code and point at the right place.

use celmatch::{Engine, Subscription};
use serde_json::json;

#[test]
fn missing_trigger_field_points_at_event() {
    let e = Engine::default();
    let src = "async.data.userId == event.data.nope";
    // Twice: the second compile takes the template fast path, which must report the same.
    for _ in 0..2 {
        let err = e.compile_bound(src, &json!({"data": {"userId": "u1"}})).unwrap_err();
        assert_eq!(err.code(), "missing_trigger_field");
        assert_eq!((err.line(), err.column()), (1, 22), "{err}");
        assert_eq!(&src[err.span().start..err.span().end], "event.data.nope");
    }
}

#[test]
fn parse_errors_have_line_and_column() {
    let e = Engine::default();
    let err = e.compile("async.data.a == 1 &&\n  async.data.b ==").unwrap_err();
    assert_eq!(err.code(), "parse_error");
    assert_eq!(err.line(), 2, "{err}");
    let rendered = err.render("async.data.a == 1 &&\n  async.data.b ==");
    assert!(rendered.contains('^'), "{rendered}");
}

#[test]
fn parse_error_columns_are_exact() {
    let e = Engine::default();
    for (src, line, column) in [(")", 1, 1), ("a ==\n  )", 2, 3), ("1 +* 2", 1, 4), ("async.x == ", 1, 12)] {
        let err = e.compile(src).unwrap_err();
        assert_eq!((err.code(), err.line(), err.column()), ("parse_error", line, column), "{src:?}: {err}");
    }
}

#[test]
fn unknown_names_are_reported_with_their_span() {
    let e = Engine::default();
    let src = "async.data.a == 1 || frob(async.data.b)";
    let err = e.compile(src).unwrap_err();
    assert_eq!(err.code(), "unknown_function");
    assert_eq!(err.column(), 22, "{err}");
    let err = e.compile("user.id == 1").unwrap_err();
    assert_eq!((err.code(), err.column()), ("unknown_variable", 1));
}

#[test]
fn conditions_that_cannot_match_are_rejected_at_add() {
    let e = Engine::default();
    let err = e.add(Subscription::wait("w", "a").when("1 == 2")).unwrap_err();
    assert_eq!(err.code(), "never_matches");
    let err = e.add(Subscription::wait("w", "a").when("event.data.k == 'x' && async.data.k == 1").with_trigger(json!({"data": {"k": "y"}}))).unwrap_err();
    assert_eq!(err.code(), "never_matches", "binding folds the trigger side to false");
    let err = e.add(Subscription::wait("w", "a").when("1 + 2")).unwrap_err();
    assert_eq!(err.code(), "not_boolean");
    assert!(e.is_empty(), "nothing bad was stored");
    // A condition that folds to true matches every event of its name.
    e.add(Subscription::wait("w", "a").when("1 == 1")).unwrap();
    assert_eq!(e.process(&json!({"name": "a"})).unwrap().len(), 1);
}

/// Found by `fuzz/fuzz_targets/compile.rs` (`fuzz/regressions/compile/`): the template cache
/// replaced a literal with a placeholder identifier where CEL allows an identifier but not a
/// literal, so text that is not CEL compiled (as a field named after the placeholder).
#[test]
fn template_cache_rejects_what_the_parser_rejects() {
    let e = Engine::default();
    // Found in CI's fuzz smoke run: a line break inside a string became a space in the key.
    let unterminated = "{\"a\": 1, \"b\n\": 2}.map(k, k).size() > 0";
    for src in [unterminated, r#"async.data."x" == 1"#, r#"async."""#, r#"async.data["x"]."y" == 1"#, r#"[1].all("x", "x" == 1)"#] {
        for _ in 0..2 {
            let cached = e.compile(src).map(|c| c.shape().to_owned());
            let reference = e.compile_uncached(src, None).map(|c| c.shape().to_owned());
            assert_eq!(cached.is_err(), reference.is_err(), "{src}: {cached:?} vs {reference:?}");
            assert_eq!(cached.unwrap_err().code(), "parse_error", "{src}");
        }
    }
}

#[test]
fn invalid_regex_points_at_its_literal() {
    let e = Engine::default();
    let src = "async.data.a == \"[\" && async.data.s.matches(\"inv_[0-9\")";
    // Twice: the first compile builds the template, the second goes through it.
    for _ in 0..2 {
        let err = e.compile(src).unwrap_err();
        assert_eq!(err.code(), "invalid_regex", "{err}");
        assert_eq!(&src[err.span().start..err.span().end], "\"inv_[0-9\"", "{err}");
        assert!(err.message().contains("inv_[0-9"), "{err}");
    }
    // The same text is an ordinary string where it is not a pattern.
    assert!(e.compile("async.data.a == \"inv_[0-9\"").is_ok());
    // One bad subscription disturbs nothing else.
    e.add(Subscription::wait("ok", "app/x").when("async.data.s.matches(\"^inv_\")")).unwrap();
    assert_eq!(e.add(Subscription::wait("bad", "app/x").when(src)).unwrap_err().code(), "invalid_regex");
    let fired = e.process(&json!({"name": "app/x", "data": {"s": "inv_1"}})).unwrap();
    assert_eq!(fired.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["ok"]);
}
