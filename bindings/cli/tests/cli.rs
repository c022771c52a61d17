//! Runs the `celmatch` binary: every command, the `match` contract and hostile input.

use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_celmatch");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Json {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", self.stdout))
    }
    fn json_lines(&self) -> Vec<Json> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}"))).collect()
    }
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or_else(|| panic!("killed by a signal: {:?}", out.status)),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn run(args: &[&str]) -> Run {
    run_os(args.iter().map(|s| std::ffi::OsString::from(*s)).collect(), None)
}

fn run_stdin(args: &[&str], stdin: &[u8]) -> Run {
    run_os(args.iter().map(|s| std::ffi::OsString::from(*s)).collect(), Some(stdin))
}

fn run_os(args: Vec<std::ffi::OsString>, stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn celmatch");
    if let Some(data) = stdin {
        let mut s = child.stdin.take().unwrap();
        let data = data.to_vec();
        // Write on a thread: the child may stop reading early.
        std::thread::spawn(move || {
            let _ = s.write_all(&data);
        });
    }
    finish(child.wait_with_output().expect("wait for celmatch"))
}

/// A file in the test's scratch directory.
fn file(contents: impl AsRef<[u8]>) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("celmatch-cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{}-{}.txt", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&p, contents).unwrap();
    p.to_str().unwrap().to_string()
}

fn ndjson(lines: &[Json]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn fired_ids(line: &Json) -> Vec<String> {
    let mut ids: Vec<String> = line["fired"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

// -------------------------------------------------------------------------------------------
// usage

#[test]
fn help_and_version() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    for cmd in ["check", "eval", "explain", "match", "bench"] {
        assert!(r.stdout.contains(cmd), "{cmd} missing from help");
    }
    let r = run(&["--version"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("celmatch "));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&[]).code, 2);
    assert_eq!(run(&["frobnicate"]).code, 2);
    assert_eq!(run(&["check"]).code, 2);
    assert_eq!(run(&["check", "true", "--dialect", "sloppy"]).code, 2);
    assert_eq!(run(&["bench", "--waits", "10", "--shape", "nope"]).code, 2);
    let r = run(&["check", "--json", "--bogus", "true"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"]["code"], "usage");
}

#[cfg(unix)]
#[test]
fn invalid_utf8_argument_is_exit_2() {
    use std::os::unix::ffi::OsStringExt;
    let bad = std::ffi::OsString::from_vec(b"async.x == \"\xff\"".to_vec());
    let r = run_os(vec!["check".into(), bad.clone()], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("UTF-8"), "{}", r.stderr);
    let r = run_os(vec!["check".into(), "--json".into(), bad], None);
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"]["code"], "invalid_utf8");
    // In a file name it is fine (the file just does not exist: an I/O error, exit 1).
    let r = run_os(
        vec!["eval".into(), "true".into(), "--event".into(), std::ffi::OsString::from_vec(b"/nonexistent/\xff.json".to_vec())],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let subs = file(ndjson(&[json!({"id": "w", "event": "e"})]));
    let ev = file(r#"{"name":"e"}"#);
    let r = run_os(
        vec!["explain".into(), "--subscriptions".into(), subs.into(), "--event".into(), ev.into(), "--id".into(),
            std::ffi::OsString::from_vec(b"\xfe".to_vec())],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--id is not valid UTF-8"), "{}", r.stderr);
}

// -------------------------------------------------------------------------------------------
// check

#[test]
fn check_explains_an_expression() {
    let r = run(&["check", "async.data.id == \"abc\" && async.data.amount > 100"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("shape"), "{}", r.stdout);
    assert!(r.stdout.contains("$0"), "{}", r.stdout);

    let r = run(&["check", "--json", "async.data.id == \"abc\" && async.data.amount > 100"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert!(v["shape"].is_string(), "{v}");
    assert_eq!(v["params"], json!(["abc", 100]));
}

#[test]
fn check_error_has_a_caret() {
    let expr = "async.data.id == ";
    let r = run(&["check", expr]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("parse_error"), "{}", r.stderr);
    let lines = r.stderr_lines();
    let src = lines.iter().position(|l| l.ends_with(expr.trim_end()) || l.contains(expr)).expect("source line shown");
    let caret = lines[src + 1];
    let col = caret.find('^').expect("caret");
    assert_eq!(col - lines[src].find("async").unwrap(), expr.len(), "caret at the end of the text:\n{}", r.stderr);

    let r = run(&["check", "--json", expr]);
    assert_eq!(r.code, 1);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "parse_error");
    assert_eq!(e["line"], 1);
    assert_eq!(e["column"], 18);
    assert!(e["message"].is_string());
}

#[test]
fn check_reports_error_codes() {
    let r = run(&["check", "--json", "nope.x == 1"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "unknown_variable");
    let r = run(&["check", "--json", "async.x.frobnicate()"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "unknown_function");
}

#[test]
fn check_multiline_caret_on_the_right_line() {
    let r = run(&["check", "--json", "async.a == 1 &&\n  async.b == "]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["line"], 2);
}

#[test]
fn check_with_a_trigger() {
    let tr = file(r#"{"data":{"userId":"u-1"}}"#);
    let r = run(&["check", "async.data.userId == event.data.userId", "--trigger", &tr]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("eq index on `data.userId`"), "{}", r.stdout);
    let r = run(&["--json", "check", "async.data.userId == event.data.userId", "--trigger", &tr]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["params"], json!(["u-1"]));
    assert_eq!(v["conjunctions"][0]["access"]["class"], "eq");
    // Without the trigger, `event` is unknown; with one that lacks the field, it is missing.
    let r = run(&["check", "--json", "async.data.userId == event.data.userId"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "unknown_variable");
    let r = run(&["check", "--json", "async.data.userId == event.data.nope", "--trigger", &tr]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "missing_trigger_field");
    let r = run_stdin(&["check", "-", "--trigger", "-"], b"{}");
    assert_eq!(r.code, 2);
}

#[test]
fn check_reads_the_expression_from_stdin() {
    let r = run_stdin(&["check", "-", "--json"], b"async.data.id == \"x\"\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["params"], json!(["x"]));
}

#[test]
fn check_hostile_expressions() {
    // 100,000-deep nesting, through stdin (too long for one argument on Linux).
    let deep = format!("{}async.x{}", "(".repeat(100_000), ")".repeat(100_000));
    let r = run_stdin(&["check", "-", "--json"], deep.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.json()["error"]["code"].is_string());
    // Deep but under the length limit.
    for deep in [
        format!("{}async.x{}", "(".repeat(7000), ")".repeat(7000)),
        format!("{}true", "!".repeat(15000)),
        format!("async.x{}", " + 1".repeat(3000)),
        format!("async{}", ".a".repeat(7000)),
        format!("{}1{}", "[".repeat(7000), "]".repeat(7000)),
    ] {
        let r = run(&["check", "--json", &deep]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let code = r.json()["error"]["code"].as_str().unwrap().to_string();
        assert!(code == "too_deep" || code == "too_long", "{code}");
    }
    // Unclosed everything.
    for bad in ["(", "\"", "[1, 2", "{", "async.", "'''", "b\"\\", "1 +", ")))", "\u{7}"] {
        let r = run(&["check", bad]);
        assert_eq!(r.code, 1, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains("error"), "{bad:?}");
    }
    // A long line is shown as a window around the error.
    let long = format!("async.x == \"{}\" &&", "y".repeat(5000));
    let r = run(&["check", &long]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.lines().all(|l| l.chars().count() < 400), "{}", r.stderr);
    assert!(r.stderr.contains('^'));
}

// -------------------------------------------------------------------------------------------
// eval

#[test]
fn eval_prints_the_value_as_json() {
    let ev = file(r#"{"name":"order.paid","data":{"amount":21,"tags":["a","b"],"user":{"id":"u1"}}}"#);
    let r = run(&["eval", "async.data.amount * 2", "--event", &ev]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!(42));
    let r = run(&["eval", "async.data.user", "--event", &ev]);
    assert_eq!(r.json(), json!({"id": "u1"}));
    let r = run(&["eval", "async.data.tags.size() == 2 && \"a\" in async.data.tags", "--event", &ev]);
    assert_eq!(r.json(), json!(true));
}

#[test]
fn eval_with_trigger_and_from_stdin() {
    let tr = file(r#"{"data":{"min":10}}"#);
    let r = run_stdin(
        &["eval", "async.data.amount > event.data.min", "--event", "-", "--trigger", &tr],
        br#"{"name":"x","data":{"amount":21}}"#,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!(true));
    // Both from stdin is a usage error.
    let r = run_stdin(&["eval", "true", "--event", "-", "--trigger", "-"], b"{}");
    assert_eq!(r.code, 2);
}

#[test]
fn eval_key_mode() {
    let ev = file(r#"{"name":"order.paid","data":{"orderId":"o-7"}}"#);
    let r = run(&["eval", "--key", "event.data.orderId", "--event", &ev]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!("o-7"));
    // false and null are "no key".
    let r = run(&["eval", "--key", "event.data.orderId == \"zz\"", "--event", &ev]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!(null));
    // `async` is not a variable in key mode.
    let r = run(&["eval", "--key", "async.data.orderId", "--event", &ev, "--json"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "unknown_variable");
    // --key has no trigger.
    let tr = file("{}");
    assert_eq!(run(&["eval", "--key", "event.x", "--event", &ev, "--trigger", &tr]).code, 2);
}

#[test]
fn eval_errors() {
    let ev = file(r#"{"name":"x","data":{}}"#);
    let r = run(&["eval", "async.data.missing", "--event", &ev, "--json"]);
    assert_eq!(r.code, 1);
    assert!(r.json()["error"]["code"].is_string());
    let r = run(&["eval", "async.data.missing", "--event", &ev, "--dialect", "lenient"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), json!(null));
    let r = run(&["eval", "1 +", "--event", &ev]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains('^'));
    let r = run(&["eval", "true", "--event", "/nonexistent/event.json", "--json"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "io_error");
}

#[test]
fn eval_hostile_events() {
    // Truncated JSON: an error with the position.
    let r = run_stdin(&["eval", "true", "--event", "-", "--json"], br#"{"name":"x","data":{"a":[1,2"#);
    assert_eq!(r.code, 1);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "invalid_event");
    assert_eq!(e["line"], 1);
    assert!(e["message"].as_str().unwrap().contains("truncated"), "{e}");
    // 100,000-deep nesting.
    let deep = format!("{{\"name\":\"x\",\"data\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let r = run_stdin(&["eval", "true", "--event", "-"], deep.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let r = run_stdin(&["eval", "true", "--event", "-"], deep.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Over the engine's depth limit (64) but under serde's: the engine's limit applies, as in `match`.
    let deep = format!("{{\"name\":\"x\",\"data\":{}1{}}}", "[".repeat(80), "]".repeat(80));
    let r = run_stdin(&["eval", "true", "--event", "-", "--json"], deep.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["error"]["code"], "limit_exceeded");
    // Not an object; not JSON at all; empty.
    for bad in [&b"[1,2,3]"[..], b"\"str\"", b"\xff\xfe", b"", b"{} {}"] {
        let r = run_stdin(&["eval", "true", "--event", "-"], bad);
        assert_eq!(r.code, 1, "{bad:?}: {}", r.stderr);
    }
    // Huge: 64 MiB of string.
    let huge = format!("{{\"name\":\"x\",\"data\":\"{}\"}}", "a".repeat(64 << 20));
    let r = run_stdin(&["eval", "true", "--event", "-", "--json"], huge.as_bytes());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.json()["error"]["code"].is_string());
}

// -------------------------------------------------------------------------------------------
// explain

fn explain_subs() -> String {
    file(ndjson(&[
        json!({"id": "w-yes", "event": "order.paid", "if": "async.data.orderId == \"o-1\""}),
        json!({"id": "w-no", "event": "order.paid", "if": "async.data.orderId == \"o-2\""}),
        json!({"id": "w-other", "event": "order.shipped"}),
        json!({"id": "w-bad", "event": "order.paid", "if": "async.data.orderId =="}),
    ]))
}

#[test]
fn explain_every_subscription() {
    let ev = file(r#"{"name":"order.paid","data":{"orderId":"o-1"}}"#);
    let r = run(&["explain", "--subscriptions", &explain_subs(), "--event", &ev]);
    assert_eq!(r.code, 2, "a subscription did not load: {}", r.stderr);
    for id in ["w-yes", "w-no", "w-other", "w-bad"] {
        assert!(r.stdout.contains(id), "{id} missing:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("NOT LOADED"), "{}", r.stdout);
    assert!(r.stdout.contains('^'), "{}", r.stdout);

    let r = run(&["explain", "--json", "--subscriptions", &explain_subs(), "--event", &ev]);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines.iter().map(|l| l["id"].as_str().unwrap()).collect::<Vec<_>>(), ["w-yes", "w-no", "w-other", "w-bad"]);
    assert_eq!(lines.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(lines[3]["loaded"], false);
    assert_eq!(lines[3]["error"]["code"], "parse_error");
    for l in &lines[..3] {
        assert_eq!(l["loaded"], true);
    }
    assert_eq!(lines[0]["verdict"]["fires"], true);
    assert_eq!(lines[1]["verdict"]["fires"], false);
    assert_eq!(lines[2]["verdict"]["fires"], false);
    assert!(lines[2]["verdict"]["reason"].as_str().unwrap().contains("order.shipped"), "{}", lines[2]);
    assert_eq!(lines[0]["classes"], json!(["eq"]));
}

#[test]
fn explain_human_answers_why() {
    let ev = file(r#"{"name":"order.paid","ts":"2024-01-01T00:00:00Z","data":{"orderId":"o-1"}}"#);
    let subs = file(ndjson(&[
        json!({"id": "yes", "event": "order.paid", "if": "async.data.orderId == \"o-1\""}),
        json!({"id": "no", "event": "order.paid", "if": "async.data.orderId == \"o-2\" && async.data.x > 1"}),
        json!({"id": "late", "event": "order.paid", "deadline": "2001-01-01T00:00:00Z"}),
        json!({"id": "early", "event": "order.paid", "not_before": "2030-01-01T00:00:00Z"}),
        json!({"id": "missing", "event": "order.paid", "if": "async.data.nope == 1"}),
    ]));
    let r = run(&["explain", "--subscriptions", &subs, "--event", &ev]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sections: Vec<&str> = r.stdout.split("\n\n").filter(|s| !s.trim().is_empty()).collect();
    assert_eq!(sections.len(), 5, "{}", r.stdout);
    assert!(sections[0].contains("FIRES"), "{}", sections[0]);
    assert!(sections[0].contains("eq index on `data.orderId`"), "{}", sections[0]);
    assert!(sections[1].contains("does NOT fire") && sections[1].contains("=> false"), "{}", sections[1]);
    assert!(sections[2].contains("does NOT fire") && sections[2].contains("deadline"), "{}", sections[2]);
    assert!(sections[2].contains("2001-01-01T00:00:00Z"), "{}", sections[2]);
    assert!(sections[3].contains("does NOT fire") && sections[3].contains("not_before"), "{}", sections[3]);
    assert!(sections[4].contains("no_such_key"), "{}", sections[4]);
}

#[test]
fn explain_one_id() {
    let ev = file(r#"{"name":"order.paid","data":{"orderId":"o-1"}}"#);
    let r = run(&["explain", "--json", "--subscriptions", &explain_subs(), "--event", &ev, "--id", "w-no"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], "w-no");

    let r = run(&["explain", "--subscriptions", &explain_subs(), "--event", &ev, "--id", "w-bad"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.contains("NOT LOADED"));

    let r = run(&["explain", "--json", "--subscriptions", &explain_subs(), "--event", &ev, "--id", "nope"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "unknown_id");
}

#[test]
fn explain_does_not_consume() {
    // The same wait is explained as matching twice: explain never resumes anything.
    let ev = file(r#"{"name":"order.paid","data":{"orderId":"o-1"}}"#);
    let subs = explain_subs();
    let a = run(&["explain", "--json", "--subscriptions", &subs, "--event", &ev, "--id", "w-yes"]);
    let b = run(&["explain", "--json", "--subscriptions", &subs, "--event", &ev, "--id", "w-yes"]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.code, 0);
}

#[test]
fn explain_bad_event_is_an_error() {
    let r = run_stdin(&["explain", "--subscriptions", &explain_subs(), "--event", "-"], b"{\"name\":");
    assert_eq!(r.code, 1);
    let r = run_stdin(&["explain", "--subscriptions", "-", "--event", "-"], b"");
    assert_eq!(r.code, 2);
}

// -------------------------------------------------------------------------------------------
// match

fn order_subs() -> Vec<Json> {
    vec![
        json!({"id": "w1", "event": "order.paid", "if": "async.data.orderId == \"o-1\"", "owner": "run-1"}),
        json!({"id": "w2", "kind": "wait", "event": "order.paid", "if": "async.data.amount > 100"}),
        json!({"id": "w3", "event": "order.paid", "if": "async.data.amount > event.data.min", "trigger": {"data": {"min": 10}}, "owner": "run-3"}),
        json!({"id": "c1", "kind": "cancel", "event": "order.cancelled", "if": "async.data.orderId == \"o-1\"", "owner": "run-1"}),
        json!({"id": "w4", "event": "order.shipped"}),
    ]
}

#[test]
fn match_outputs_one_line_per_event_in_order() {
    let subs = file(ndjson(&order_subs()));
    let events = file(ndjson(&[
        json!({"name": "order.shipped", "data": {}}),
        json!({"name": "order.paid", "data": {"orderId": "o-9", "amount": 5}}),
        json!({"name": "order.paid", "data": {"orderId": "o-1", "amount": 500}}),
        json!({"name": "order.cancelled", "data": {"orderId": "o-1"}}),
        json!({"name": "order.cancelled", "data": {"orderId": "o-1"}}),
        json!({"name": "nothing.listens", "data": {}}),
    ]));
    let r = run(&["match", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let out = r.json_lines();
    assert_eq!(out.len(), 6);
    for (i, l) in out.iter().enumerate() {
        assert_eq!(l["event"], i);
        assert!(l.get("error").is_none());
    }
    assert_eq!(fired_ids(&out[0]), ["w4"]);
    assert_eq!(fired_ids(&out[1]), Vec::<String>::new());
    // Registration order.
    let order: Vec<&str> = out[2]["fired"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(order, ["w1", "w2", "w3"]);
    // Fired records: id, kind, owner only when set.
    let w1 = out[2]["fired"].as_array().unwrap().iter().find(|f| f["id"] == "w1").unwrap();
    assert_eq!(w1, &json!({"id": "w1", "kind": "wait", "owner": "run-1"}));
    let w2 = out[2]["fired"].as_array().unwrap().iter().find(|f| f["id"] == "w2").unwrap();
    assert_eq!(w2, &json!({"id": "w2", "kind": "wait"}));
    assert_eq!(out[3]["fired"], json!([{"id": "c1", "kind": "cancel", "owner": "run-1"}]));
    assert_eq!(out[4]["fired"], json!([]), "the cancel was consumed too");
    assert_eq!(out[5]["fired"], json!([]));
}

#[test]
fn match_consumes_waits() {
    let subs = file(ndjson(&[
        json!({"id": "w1", "event": "tick", "if": "async.data.n > 0"}),
        json!({"id": "w2", "event": "tick", "if": "async.data.n > 5"}),
    ]));
    let events = file(ndjson(&[
        json!({"name": "tick", "data": {"n": 1}}),
        json!({"name": "tick", "data": {"n": 1}}),
        json!({"name": "tick", "data": {"n": 9}}),
        json!({"name": "tick", "data": {"n": 9}}),
    ]));
    let r = run(&["match", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json_lines();
    assert_eq!(fired_ids(&out[0]), ["w1"]);
    assert_eq!(fired_ids(&out[1]), Vec::<String>::new(), "w1 was consumed");
    assert_eq!(fired_ids(&out[2]), ["w2"]);
    assert_eq!(fired_ids(&out[3]), Vec::<String>::new(), "w2 was consumed");
}

#[test]
fn match_bad_subscription_lines_are_skipped_with_line_numbers() {
    let mut lines: Vec<String> = vec![
        json!({"id": "ok1", "event": "e"}).to_string(),
        json!({"id": "bad-cel", "event": "e", "if": "async.x =="}).to_string(),
        String::new(),
        "{\"id\": \"truncated\", \"event\":".to_string(),
        json!({"event": "e"}).to_string(),
        json!({"id": "bad-kind", "kind": "sometimes", "event": "e"}).to_string(),
        json!({"id": "ok1", "event": "other"}).to_string(),
        json!({"id": "bad-deadline", "event": "e", "deadline": "tomorrow-ish"}).to_string(),
        json!([1, 2]).to_string(),
        json!({"id": "ok2", "event": "e", "if": "async.v == 2"}).to_string(),
    ];
    lines.push(json!({"id": "unknown-var", "event": "e", "if": "nope == 1"}).to_string());
    // Re-adding an identical subscription is not an error (the engine treats it as a no-op).
    lines.push(json!({"id": "ok1", "event": "e"}).to_string());
    let subs = file(lines.join("\n"));
    let events = file(ndjson(&[json!({"name": "e", "v": 2})]));
    let r = run(&["match", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 2);
    assert_eq!(fired_ids(&r.json_lines()[0]), ["ok1", "ok2"], "the good lines still loaded and ran");
    let stderr = &r.stderr;
    for n in [2, 4, 5, 6, 7, 8, 9, 11] {
        assert!(stderr.contains(&format!(":{n}: ")), "line {n} not reported:\n{stderr}");
    }
    assert!(!stderr.contains(":1: ") && !stderr.contains(":3: ") && !stderr.contains(":10: "), "{stderr}");
    assert!(stderr.contains('^'), "compile errors show a caret:\n{stderr}");

    // --json: one error object per bad line on stderr.
    let r = run(&["match", "--json", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 2);
    let errs: Vec<Json> = r.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let at: Vec<u64> = errs.iter().map(|e| e["error"]["line"].as_u64().unwrap()).collect();
    assert_eq!(at, [2, 4, 5, 6, 7, 8, 9, 11]);
    let codes: Vec<&str> = errs.iter().map(|e| e["error"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes[0], "parse_error");
    assert_eq!(errs[0]["error"]["id"], "bad-cel");
    assert_eq!(errs[0]["error"]["expr"]["column"], 11);
    assert_eq!(codes[4], "id_conflict");
    assert_eq!(codes[7], "unknown_variable");
    for e in &errs {
        assert_eq!(e["error"]["input"], "subscriptions");
        assert!(e["error"]["message"].is_string());
    }
}

#[test]
fn match_bad_event_lines() {
    let subs = file(ndjson(&[json!({"id": "w", "event": "e"}), json!({"id": "w2", "event": "e"})]));
    let events = [
        json!({"name": "e"}).to_string(),
        "{\"name\": \"e\", ".to_string(),
        "[1,2,3]".to_string(),
        json!({"data": 1}).to_string(),
        format!("{{\"name\":\"e\",\"data\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)),
        json!({"name": "e"}).to_string(),
        "{\"name\": \"e\"".to_string(), // truncated last line, no newline
    ]
    .join("\n");
    let r = run_stdin(&["match", "--subscriptions", &subs, "--events", "-"], events.as_bytes());
    assert_eq!(r.code, 2, "{}", r.stderr);
    let out = r.json_lines();
    assert_eq!(out.len(), 7);
    assert_eq!(fired_ids(&out[0]), ["w", "w2"]);
    for i in [1, 2, 3, 4, 6] {
        assert_eq!(out[i]["event"], i);
        assert_eq!(out[i]["fired"], json!([]));
        let e = out[i]["error"].as_object().unwrap_or_else(|| panic!("event {i}: {}", out[i]));
        assert_eq!(e.keys().collect::<Vec<_>>(), ["code", "message"]);
        assert!(e["code"].is_string() && e["message"].is_string());
    }
    assert!(out[5].get("error").is_none());
    for n in [2, 3, 4, 5, 7] {
        assert!(r.stderr.contains(&format!(":{n}: ")), "line {n} not reported:\n{}", r.stderr);
    }
}

#[test]
fn match_huge_event_line() {
    let subs = file(ndjson(&[json!({"id": "w", "event": "e"})]));
    let huge = format!("{{\"name\":\"e\",\"pad\":\"{}\"}}\n{}\n", "x".repeat(16 << 20), json!({"name": "e"}));
    let r = run_stdin(&["match", "--subscriptions", &subs, "--events", "-"], huge.as_bytes());
    assert_eq!(r.code, 2);
    let out = r.json_lines();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["fired"], json!([]));
    assert!(out[0]["error"]["code"].is_string());
    assert_eq!(fired_ids(&out[1]), ["w"]);
}

#[test]
fn match_blank_lines_and_crlf() {
    let subs = file(format!("\n{}\r\n\n   \n{}\r\n", json!({"id": "a", "event": "e"}), json!({"id": "b", "event": "f"})));
    let events = file(format!("{}\r\n\n{}\r\n", json!({"name": "f"}), json!({"name": "e"})));
    let r = run(&["match", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json_lines();
    assert_eq!(out.len(), 2, "blank lines are not events");
    assert_eq!(out[0], json!({"event": 0, "fired": [{"id": "b", "kind": "wait"}]}));
    assert_eq!(out[1], json!({"event": 1, "fired": [{"id": "a", "kind": "wait"}]}));
}

#[test]
fn match_reads_stdin() {
    let events = file(ndjson(&[json!({"name": "e"})]));
    let subs = ndjson(&[json!({"id": "w", "event": "e"})]);
    let r = run_stdin(&["match", "--subscriptions", "-", "--events", &events], subs.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json_lines(), [json!({"event": 0, "fired": [{"id": "w", "kind": "wait"}]})]);
    let r = run_stdin(&["match", "--subscriptions", "-", "--events", "-"], b"");
    assert_eq!(r.code, 2);
}

#[test]
fn match_times_and_dialects() {
    let subs = file(ndjson(&[
        json!({"id": "rfc", "event": "e", "deadline": "2999-01-01T00:00:00Z", "not_before": "2000-01-01T00:00:00+02:00"}),
        json!({"id": "ms", "event": "e", "deadline": 32503680000000i64, "not_before": 946684800000i64}),
        json!({"id": "lenient-only", "event": "e", "if": "async.data.missing == null"}),
        json!({"id": "expired", "event": "e", "deadline": "2001-01-01T00:00:00Z"}),
        json!({"id": "not-yet", "event": "e", "not_before": "2024-05-01T00:00:01Z"}),
    ]));
    let events = file(ndjson(&[json!({"name": "e", "ts": "2024-05-01T00:00:00Z", "data": {}})]));
    let r = run(&["match", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fired_ids(&r.json_lines()[0]), ["ms", "rfc"]);
    let r = run(&["match", "--dialect", "lenient", "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fired_ids(&r.json_lines()[0]), ["lenient-only", "ms", "rfc"]);
}

#[test]
fn config_record_sets_the_engine_up() {
    // The record is read by the core, as Python's and Node's options are.
    let subs = file(ndjson(&[json!({"id": "w", "event": "com.x", "not_before": "2023-11-14T22:13:00Z"})]));
    let events = file(ndjson(&[json!({"type": "com.x", "time": "2023-11-14T22:13:10Z", "data": {}})]));
    let config = r#"{"event_fields": "cloudevents", "lookback": {"max_age": "5m"}, "now": "2023-11-14T22:13:20Z"}"#;
    let r = run(&["match", "--config", config, "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fired_ids(&r.json_lines()[0]), ["w"], "cloudevents fields: `type` is the name, `time` the time");
    // From a file, with --dialect over the record's dialect.
    let lenient = file(r#"{"dialect": "lenient"}"#);
    let event = file(r#"{"name": "e", "data": {}}"#);
    let r = run(&["eval", "async.data.missing", "--event", &event, "--config", &lenient]);
    assert_eq!((r.code, r.stdout.trim()), (0, "null"), "{}", r.stderr);
    let r = run(&["eval", "async.data.missing", "--event", &event, "--config", &lenient, "--dialect", "strict", "--json"]);
    assert_eq!(r.json()["error"]["code"], "no_such_key");
    let r = run(&["check", "async.data.missing == 1", "--config", r#"{"limits": {"max_expr_bytes": 10}}"#, "--json"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["error"]["code"], "too_long");
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let r = run(&["check", "true", "--json", "--config", r#"{"lookback": {"max_event": 3}}"#]);
    assert_eq!(r.code, 2);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "invalid_config");
    assert!(e["message"].as_str().unwrap().contains(r#"unknown key "max_event" in lookback; did you mean "max_events"?"#), "{e}");
    let r = run(&["check", "true", "--json", "--config", r#"{"limits": {"max_depth": -1}}"#]);
    assert_eq!((r.code, r.json()["error"]["code"].as_str()), (2, Some("invalid_config")));
    let r = run(&["check", "true", "--json", "--config", "{not json"]);
    assert_eq!((r.code, r.json()["error"]["code"].as_str()), (2, Some("invalid_config")));
    let r = run(&["check", "true", "--config", &file("[1]")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid_config"), "{}", r.stderr);
}

#[test]
fn match_missing_file_is_an_error() {
    let r = run(&["match", "--subscriptions", "/nonexistent/subs", "--events", "/nonexistent/events"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/subs"), "{}", r.stderr);
}

#[test]
fn match_many_subscriptions_and_events() {
    let n = 2000;
    let subs: Vec<Json> = (0..n).map(|i| json!({"id": format!("w{i}"), "event": "e", "if": format!("async.k == {i}")})).collect();
    let events: Vec<Json> = (0..n).rev().map(|i| json!({"name": "e", "k": i})).collect();
    let r = run(&["match", "--subscriptions", &file(ndjson(&subs)), "--events", &file(ndjson(&events))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json_lines();
    assert_eq!(out.len(), n);
    for (j, l) in out.iter().enumerate() {
        assert_eq!(l["event"], j);
        assert_eq!(fired_ids(l), [format!("w{}", n - 1 - j)]);
    }
}

// -------------------------------------------------------------------------------------------
// bench

#[test]
fn bench_json_is_one_line_with_the_contract_fields() {
    for shape in ["eq", "bound", "mixed"] {
        let r = run(&["bench", "--waits", "300", "--shape", shape, "--events", "50", "--json"]);
        assert_eq!(r.code, 0, "{shape}: {}", r.stderr);
        assert!(r.stderr.is_empty(), "no progress bar when stderr is not a terminal: {}", r.stderr);
        assert_eq!(r.stdout.lines().count(), 1);
        let v = r.json();
        assert_eq!(v.as_object().unwrap().len(), 9, "{}", r.stdout);
        // The fields come in the documented order: read it off the text.
        let mut keys: Vec<(usize, &str)> = v.as_object().unwrap().keys().map(|k| (r.stdout.find(&format!("\"{k}\":")).unwrap(), k.as_str())).collect();
        keys.sort();
        let keys: Vec<&str> = keys.into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            keys,
            [
                "waits",
                "shape",
                "add_per_sec",
                "match_ns_median",
                "match_ns_p99",
                "events_per_sec",
                "bytes_per_wait",
                "naive_ns_per_event",
                "speedup"
            ]
        );
        assert_eq!(v["waits"], 300);
        assert_eq!(v["shape"], shape);
        let num = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} is not a number: {v}"));
        assert!(num("add_per_sec") > 0.0);
        assert!(num("match_ns_p99") >= num("match_ns_median"));
        assert!(num("events_per_sec") > 0.0);
        assert!(num("bytes_per_wait") >= 0.0);
        assert!(num("naive_ns_per_event") > 0.0);
        assert!(num("speedup") > 0.0);
    }
}

#[test]
fn bench_human_output() {
    let r = run(&["bench", "--waits", "200", "--shape", "or-nested", "--events", "20"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for word in ["waits/s", "median", "p99", "events/s", "bytes/wait", "statm", "naive", "speedup"] {
        assert!(r.stdout.contains(word), "{word}:\n{}", r.stdout);
    }
    assert_eq!(run(&["bench", "--waits", "0", "--shape", "eq"]).code, 2);
    assert_eq!(run(&["bench", "--waits", "10", "--shape", "eq", "--events", "0"]).code, 2);
    assert_eq!(run(&["bench", "--waits", "-1", "--shape", "eq"]).code, 2);
}

#[test]
fn match_with_state_commits_and_inspect_shows_the_store() {
    let dir = std::env::temp_dir().join(format!("celmatch-cli-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("state.db");
    let store = store.to_str().unwrap();
    let subs = file(ndjson(&[
        json!({"id": "w1", "event": "app/paid", "if": "async.data.order == \"o1\"", "owner": "r1"}),
        json!({"id": "w2", "event": "app/paid", "if": "async.data.order == \"o2\"", "owner": "r2"}),
        json!({"id": "c1", "kind": "cancel", "event": "app/deleted", "owner": "r1"}),
    ]));
    let events = file(ndjson(&[json!({"name": "app/paid", "data": {"order": "o1"}})]));
    let r = run(&["match", "--state", store, "--subscriptions", &subs, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fired_ids(&r.json_lines()[0]), ["w1"]);
    // A second run with no subscriptions file: the store remembers w2 and c1, not w1.
    let events = file(ndjson(&[json!({"name": "app/paid", "data": {"order": "o1"}}), json!({"name": "app/paid", "data": {"order": "o2"}})]));
    let r = run(&["match", "--state", store, "--events", &events]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.json_lines();
    assert!(fired_ids(&lines[0]).is_empty(), "w1 fired once, in the first run");
    assert_eq!(fired_ids(&lines[1]), ["w2"]);
    let r = run(&["inspect", store, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!((j["subscriptions"].as_u64(), j["cancels"].as_u64(), j["schema_version"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(j["by_event"], json!([{"event": "app/deleted", "waits": 0, "cancels": 1}]));
    let r = run(&["inspect", store]);
    assert!(r.stdout.contains("1 subscriptions (0 waits, 1 cancels)"), "{}", r.stdout);
    // Not a store.
    let junk = file("not a database at all, just text; long enough to be read as a header by sqlite ".repeat(100));
    let r = run(&["inspect", &junk, "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("corrupt_store"), "{} {}", r.stdout, r.stderr);
    assert!(run(&["match", "--events", &events]).code == 2, "--subscriptions or --state is required");
}
