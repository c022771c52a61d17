//! The cel-spec conformance runner: replays the official "simple" tests
//! (`tests/simple/testdata/*.textproto` of the Go module `cel.dev/expr`, the version pinned in
//! `tests/conformance/fetch.sh`) through celmatch's front end and evaluator, strict dialect,
//! and prints a table per file.
//!
//! ```sh
//! bash tests/conformance/fetch.sh                       # once; fills tests/conformance/data/
//! cargo test -p celmatch --test conformance -- --nocapture
//! ```
//!
//! `CELMATCH_CELSPEC_DIR` points at another directory of `.textproto` files;
//! `CELMATCH_CONFORMANCE_VERBOSE=1` lists every test that did not pass, with the reason.
//!
//! Every test lands in one of four columns:
//! - **passed**: the value (type included: `1`, `1u` and `1.0` differ) or the error that the
//!   test expects. An expected error is met by any error, at compile or evaluation time (the
//!   tests' error messages are cel-go's; celmatch reports its own codes), except the compile
//!   error `unsupported`, which says a feature is missing, not that the expression is wrong.
//! - **unsupported**: celmatch refuses an expression that should give a value at compile
//!   time (`unknown_function`, `unsupported`, or syntax the parser does not take), or the
//!   test needs a container (`container: "x"`), which celmatch has no notion of. A refusal
//!   is loud: a user sees it when registering the subscription, never as a silent wrong
//!   match. cel-go run with `disable_check` reports unknown functions only when they are
//!   called (`a.as() || true` is true there); celmatch refuses them at compile time, by
//!   design, so those tests land here.
//! - **wrong**: a different value, an error where a value was expected, or a value where an
//!   error was expected. CI fails on any.
//! - **not expressible**: the test needs what an event in JSON cannot carry or celmatch does
//!   not model, by design: protobuf messages, enums and wrappers (by container, type names
//!   in the expression, or `object_value` / `enum_value` in values); bindings that are not
//!   JSON (`uint`, bytes, non-finite doubles, non-string map keys); unknowns (partial
//!   evaluation); and `check_only` tests, which test a type checker's output alone.
//!
//! Variables: a test's bindings become the fields of one JSON object, the input, and every
//! free identifier in its expression reads that object (`x` is the field `x`; a binding
//! named `a.b` becomes `{"a": {"b": …}}`). `typed_result` tests are compared on their value;
//! the deduced type is a type checker's output, which celmatch does not have.

mod textproto;

use celmatch::{CompileErrorKind, Dialect};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use textproto::Node;

/// The pass count CI holds the runner to (strict dialect, cel.dev/expr v0.26.0). Raise it as
/// support grows; a drop below it fails the run, as does any wrong answer.
const FLOOR: usize = 1988;

/// A CEL value as the tests state it and as celmatch's tagged rendering gives it.
#[derive(Clone, Debug)]
enum V {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<V>),
    Map(Vec<(V, V)>),
    /// Seconds and nanoseconds since the Unix epoch.
    Timestamp(i64, u32),
    /// Nanoseconds.
    Duration(i128),
    Type(String),
    /// An optional value. The tests never expect one (their values have no such kind); it
    /// is here so that getting one reads as a wrong answer, not a crash.
    Optional(Option<Box<V>>),
    /// A value of a type the tests cannot state (an IP address, a network): type and text.
    Opaque(String, String),
}

impl PartialEq for V {
    /// Exact, typed equality; NaN equals NaN (a test expecting NaN is met by NaN); maps
    /// compare as sets of entries.
    fn eq(&self, other: &V) -> bool {
        use V::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (UInt(a), UInt(b)) => a == b,
            (Double(a), Double(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Map(a), Map(b)) => a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2)),
            (Timestamp(a, x), Timestamp(b, y)) => a == b && x == y,
            (Duration(a), Duration(b)) => a == b,
            (Type(a), Type(b)) => a == b,
            (Optional(a), Optional(b)) => a == b,
            (Opaque(t, a), Opaque(u, b)) => t == u && a == b,
            _ => false,
        }
    }
}

/// Why a test cannot be put to celmatch at all.
#[derive(Debug)]
struct NotExpressible(String);

fn ne<T>(why: impl Into<String>) -> Result<T, NotExpressible> {
    Err(NotExpressible(why.into()))
}

/// A `cel.expr.Value` from the test file.
fn value(n: &Node) -> Result<V, NotExpressible> {
    let Some((kind, x)) = n.fields().first() else { return ne("empty value") };
    let word = || x.word().unwrap_or("");
    Ok(match kind.as_str() {
        "null_value" => V::Null,
        "bool_value" => V::Bool(word() == "true"),
        "int64_value" => V::Int(word().parse().map_err(|_| NotExpressible(format!("bad int {}", word())))?),
        "uint64_value" => V::UInt(word().parse().map_err(|_| NotExpressible(format!("bad uint {}", word())))?),
        "double_value" => V::Double(parse_double(word()).ok_or_else(|| NotExpressible(format!("bad double {}", word())))?),
        "string_value" => V::Str(x.str().unwrap_or_default()),
        "bytes_value" => V::Bytes(match x {
            Node::Str(b) => b.clone(),
            _ => Vec::new(),
        }),
        "type_value" => V::Type(x.str().unwrap_or_default()),
        "list_value" => V::List(x.all("values").map(value).collect::<Result<_, _>>()?),
        "map_value" => V::Map(
            x.all("entries")
                .map(|e| Ok((value(e.get("key").unwrap_or(&Node::Msg(vec![])))?, value(e.get("value").unwrap_or(&Node::Msg(vec![])))?)))
                .collect::<Result<_, NotExpressible>>()?,
        ),
        "object_value" => {
            let Some((type_url, body)) = x.fields().first() else { return ne("empty object") };
            let int = |f: &str| body.get(f).and_then(Node::word).and_then(|w| w.parse::<i64>().ok()).unwrap_or(0);
            match type_url.as_str() {
                "[type.googleapis.com/google.protobuf.Timestamp]" => V::Timestamp(int("seconds"), int("nanos") as u32),
                "[type.googleapis.com/google.protobuf.Duration]" => V::Duration(int("seconds") as i128 * 1_000_000_000 + int("nanos") as i128),
                other => return ne(format!("protobuf message {other}")),
            }
        }
        "enum_value" => return ne("protobuf enum value"),
        other => return ne(format!("value kind {other}")),
    })
}

fn parse_double(w: &str) -> Option<f64> {
    match w.to_ascii_lowercase().as_str() {
        "inf" | "infinity" | "+inf" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        s => s.trim_end_matches('f').parse().ok(),
    }
}

/// A binding as the JSON an event could carry; `Err` when JSON cannot carry it.
fn to_json(v: &V) -> Result<Json, NotExpressible> {
    Ok(match v {
        V::Null => Json::Null,
        V::Bool(b) => Json::Bool(*b),
        V::Int(i) => Json::from(*i),
        V::Double(d) => match serde_json::Number::from_f64(*d) {
            Some(n) => Json::Number(n),
            None => return ne("a non-finite double binding"),
        },
        V::Str(s) => Json::String(s.clone()),
        V::List(l) => Json::Array(l.iter().map(to_json).collect::<Result<_, _>>()?),
        V::Map(m) => {
            let mut o = serde_json::Map::new();
            for (k, v) in m {
                let V::Str(k) = k else { return ne("a map binding with non-string keys") };
                o.insert(k.clone(), to_json(v)?);
            }
            Json::Object(o)
        }
        other => return ne(format!("a binding of type {}", type_of(other))),
    })
}

fn type_of(v: &V) -> &'static str {
    match v {
        V::Null => "null",
        V::Bool(_) => "bool",
        V::Int(_) => "int",
        V::UInt(_) => "uint",
        V::Double(_) => "double",
        V::Str(_) => "string",
        V::Bytes(_) => "bytes",
        V::List(_) => "list",
        V::Map(_) => "map",
        V::Timestamp(..) => "timestamp",
        V::Duration(_) => "duration",
        V::Type(_) => "type",
        V::Optional(_) => "optional",
        V::Opaque(..) => "opaque",
    }
}

/// celmatch's tagged rendering (`Compiled::eval_tagged`) read back.
fn from_tagged(j: &Json) -> V {
    let (tag, x) = j.as_object().and_then(|o| o.iter().next()).expect("a tagged value");
    let s = || x.as_str().unwrap_or_default();
    match tag.as_str() {
        "null" => V::Null,
        "bool" => V::Bool(x.as_bool().unwrap_or_default()),
        "int" => V::Int(s().parse().expect("int")),
        "uint" => V::UInt(s().parse().expect("uint")),
        "double" => V::Double(parse_double(s()).expect("double")),
        "string" => V::Str(s().to_owned()),
        "bytes" => V::Bytes(x.as_array().expect("bytes").iter().map(|b| b.as_u64().unwrap_or(0) as u8).collect()),
        "list" => V::List(x.as_array().expect("list").iter().map(from_tagged).collect()),
        "map" => V::Map(x.as_array().expect("map").iter().map(|e| (from_tagged(&e[0]), from_tagged(&e[1]))).collect()),
        "timestamp" => {
            let t = chrono::DateTime::parse_from_rfc3339(s()).expect("timestamp");
            V::Timestamp(t.timestamp(), t.timestamp_subsec_nanos())
        }
        "duration" => V::Duration(match s().strip_suffix("ns") {
            Some(n) => n.parse().expect("duration"),
            None => s().trim_end_matches('s').parse::<i128>().expect("duration") * 1_000_000_000,
        }),
        "type" => V::Type(s().to_owned()),
        "optional" => V::Optional((!x.is_null()).then(|| Box::new(from_tagged(x)))),
        other => V::Opaque(other.to_owned(), s().to_owned()),
    }
}

enum Expect {
    Value(V),
    Error,
}

enum Outcome {
    Passed,
    Unsupported(String),
    Wrong(String),
    NotExpressible(String),
}

/// Names that only mean something with protobuf descriptors loaded.
const PROTOBUF_NAMES: &[&str] = &["TestAllTypes", "NestedTestAllTypes", "google.protobuf.", "cel.expr.conformance", "GlobalEnum", "NestedEnum", "proto2.", "proto3."];

fn prepare(t: &Node) -> Result<(String, Json, Expect), NotExpressible> {
    let expr = t.get("expr").and_then(Node::str).unwrap_or_default();
    if t.is_true("check_only") {
        return ne("check_only: tests a type checker's output");
    }
    if t.get("unknown").is_some() || t.get("any_unknowns").is_some() {
        return ne("unknowns (partial evaluation)");
    }
    let container = t.get("container").and_then(Node::str).unwrap_or_default();
    if container.starts_with("cel.expr.conformance") || container.starts_with("google.protobuf") {
        return ne(format!("protobuf container {container}"));
    }
    if let Some(name) = PROTOBUF_NAMES.iter().find(|n| expr.contains(*n)) {
        return ne(format!("protobuf name {name}"));
    }
    let expect = if let Some(v) = t.get("value") {
        Expect::Value(value(v)?)
    } else if let Some(tr) = t.get("typed_result") {
        match tr.get("result") {
            Some(v) => Expect::Value(value(v)?),
            None => return ne("typed_result without a value: tests a type checker's output"),
        }
    } else if t.get("eval_error").is_some() || t.get("any_eval_errors").is_some() {
        Expect::Error
    } else {
        // No matcher: the expression must be `true`.
        Expect::Value(V::Bool(true))
    };
    let mut input = serde_json::Map::new();
    for b in t.all("bindings") {
        let name = b.get("key").and_then(Node::str).unwrap_or_default();
        let Some(v) = b.get("value").and_then(|ev| ev.get("value")) else { return ne("a binding that is an error or unknown") };
        let json = to_json(&value(v)?)?;
        // A qualified name (`a.b.c`) becomes nested objects, which is how `a.b.c` reads.
        let mut segments: Vec<&str> = name.split('.').collect();
        let last = segments.pop().unwrap_or_default();
        let mut cur = &mut input;
        for s in segments {
            let slot = cur.entry(s.to_owned()).or_insert_with(|| Json::Object(Default::default()));
            match slot {
                Json::Object(o) => cur = o,
                _ => return ne("bindings that overlap as qualified names"),
            }
        }
        if cur.insert(last.to_owned(), json).is_some() {
            return ne("bindings that overlap as qualified names");
        }
    }
    Ok((expr, Json::Object(input), expect))
}

fn run(t: &Node) -> Outcome {
    let (expr, input, expect) = match prepare(t) {
        Ok(p) => p,
        Err(NotExpressible(why)) => return Outcome::NotExpressible(why),
    };
    let outcome = match (celmatch::conformance::compile(&expr, Dialect::Strict), &expect) {
        // A test that expects an error from a function CEL does not have (`f_unknown(17)`,
        // `'42'.indexOf('4', 0, 1)`) is met by refusing the call up front.
        (Err(e), Expect::Error) if e.kind() == CompileErrorKind::UnknownFunction => Outcome::Passed,
        (Err(e), _) if matches!(e.kind(), CompileErrorKind::UnknownFunction | CompileErrorKind::Unsupported) => {
            Outcome::Unsupported(format!("{}: {}", e.code(), e.message()))
        }
        (Err(_), Expect::Error) => Outcome::Passed,
        (Err(e), Expect::Value(_)) if e.kind() == CompileErrorKind::Parse => Outcome::Unsupported(format!("syntax: {}", e.message())),
        (Err(e), Expect::Value(v)) => Outcome::Wrong(format!("compile error {}: {} (want {v:?})", e.code(), e.message())),
        (Ok(c), expect) => match (c.eval_tagged(&input), expect) {
            (Ok(got), Expect::Value(want)) => {
                let got = from_tagged(&got);
                if got == *want {
                    Outcome::Passed
                } else {
                    Outcome::Wrong(format!("got {got:?}, want {want:?}"))
                }
            }
            (Err(_), Expect::Error) => Outcome::Passed,
            (Ok(got), Expect::Error) => Outcome::Wrong(format!("got {:?}, want an error", from_tagged(&got))),
            (Err(e), Expect::Value(want)) => Outcome::Wrong(format!("error {}: {} (want {want:?})", e.code(), e.message())),
        },
    };
    let container = t.get("container").and_then(Node::str).unwrap_or_default();
    match outcome {
        Outcome::Passed => Outcome::Passed,
        _ if !container.is_empty() => Outcome::Unsupported(format!("container {container:?}")),
        other => other,
    }
}

fn data_dir() -> PathBuf {
    match std::env::var_os("CELMATCH_CELSPEC_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/data"),
    }
}

#[derive(Default)]
struct Row {
    passed: usize,
    unsupported: usize,
    wrong: usize,
    not_expressible: usize,
}

#[test]
fn cel_spec_simple_tests() {
    let dir = data_dir();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.expect("dir entry").path()).filter(|p| p.extension().is_some_and(|e| e == "textproto")).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    if files.is_empty() {
        let msg = format!(
            "\n*** cel-spec conformance data not found in {} ***\n*** run `bash tests/conformance/fetch.sh` (or set CELMATCH_CELSPEC_DIR) ***\n",
            dir.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}(CI=true: the conformance run is required)");
        }
        eprintln!("{msg}skipping the conformance run (set CI=true to make this an error)");
        return;
    }
    let verbose = std::env::var_os("CELMATCH_CONFORMANCE_VERBOSE").is_some();
    let mut table: BTreeMap<String, Row> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).expect("readable test file");
        let doc = textproto::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let row = table.entry(stem.clone()).or_default();
        for section in doc.all("section") {
            let sname = section.get("name").and_then(Node::str).unwrap_or_default();
            for t in section.all("test") {
                let tname = t.get("name").and_then(Node::str).unwrap_or_default();
                let id = format!("{stem}/{sname}/{tname}");
                let expr = t.get("expr").and_then(Node::str).unwrap_or_default();
                // A panic is a wrong answer too (and a bug): catch it so the table still prints.
                let outcome = std::panic::catch_unwind(|| run(t)).unwrap_or_else(|_| Outcome::Wrong("panicked".into()));
                match &outcome {
                    Outcome::Passed => row.passed += 1,
                    Outcome::Unsupported(_) => row.unsupported += 1,
                    Outcome::Wrong(why) => {
                        row.wrong += 1;
                        wrong.push(format!("{id}: `{expr}`: {why}"));
                    }
                    Outcome::NotExpressible(_) => row.not_expressible += 1,
                }
                if verbose {
                    match &outcome {
                        Outcome::Passed => {}
                        Outcome::Unsupported(why) => eprintln!("unsupported {id}: `{expr}`: {why}"),
                        Outcome::Wrong(why) => eprintln!("WRONG {id}: `{expr}`: {why}"),
                        Outcome::NotExpressible(why) => eprintln!("not expressible {id}: `{expr}`: {why}"),
                    }
                }
            }
        }
    }
    let mut total = Row::default();
    let mut out = String::from("| file | passed | unsupported | wrong | not expressible |\n|---|---:|---:|---:|---:|\n");
    for (name, r) in &table {
        out += &format!("| {name} | {} | {} | {} | {} |\n", r.passed, r.unsupported, r.wrong, r.not_expressible);
        total.passed += r.passed;
        total.unsupported += r.unsupported;
        total.wrong += r.wrong;
        total.not_expressible += r.not_expressible;
    }
    out += &format!(
        "| **total** | **{}** | **{}** | **{}** | **{}** |\n",
        total.passed, total.unsupported, total.wrong, total.not_expressible
    );
    let expressible = total.passed + total.unsupported + total.wrong;
    let pct = 100.0 * total.passed as f64 / expressible.max(1) as f64;
    println!("{out}\n{} of {expressible} expressible tests pass ({pct:.1}%)", total.passed);
    assert!(wrong.is_empty(), "{} wrong answer(s):\n{}", wrong.len(), wrong.join("\n"));
    assert!(total.passed >= FLOOR, "{} tests passed, below the floor of {FLOOR}", total.passed);
}
