//! Structured differential fuzzing: the indexed engine against one-by-one evaluation.
//!
//! The input is decoded (with `arbitrary`) into subscriptions — conditions from a small AST
//! over a fixed set of paths and literals, rendered to CEL text, with an optional trigger —
//! and events over the same value pools, so that conditions both hit and miss. For each
//! dialect, every subscription is added to an engine; for every event, the set the engine
//! fires must equal the set whose condition, compiled with `compile_uncached` and evaluated
//! alone, is `true`, and in registration order. Fired waits are consumed, so they are added
//! back between events.
#![no_main]

use arbitrary::Arbitrary;
use celmatch::{Compiled, Config, Dialect, Engine, Subscription};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeSet;

const NAMES: &[&str] = &["app/e", "app/f"];
const STRS: &[&str] = &["", "a", "ab", "abc", "b", "inv_1", "inv_2", "x@acme.com", "vip", "A", "é", "a'b", "a\\b", "ab\"c"];
/// Number literals as CEL text.
const NUM_LITS: &[&str] = &["0", "1", "1.0", "2", "2.5", "-1", "100", "101", "9007199254740993", "1u", "0u", "-0.0", "1e3", "0x10", "18446744073709551615u"];
/// Numbers as JSON text.
const NUM_JSON: &[&str] = &["0", "1", "1.0", "2", "2.5", "-1", "100", "101", "9007199254740993", "-0.0", "1e3", "18446744073709551615", "9223372036854775807", "-9223372036854775808", "0.5"];
const REGEXES: &[&str] = &["^a", "b$", "a.c", "^$", "(", "[a-c]+", "vip|inv", "(?i)A"];

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[i as usize % pool.len()]
}

fn str_lit(i: u8) -> String {
    // Rust's debug quoting is valid CEL for this pool (\" \\ and plain UTF-8).
    format!("{:?}", pick(STRS, i))
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Path {
    S,
    T,
    Id,
    Email,
    N,
    M,
    Flag,
    Tags,
    Missing,
    ObjK,
    ObjMissing,
    BracketS,
    MissingDeep,
}

impl Path {
    fn text(self) -> &'static str {
        match self {
            Path::S => "async.data.s",
            Path::T => "async.data.t",
            Path::Id => "async.data.id",
            Path::Email => "async.user.email",
            Path::N => "async.data.n",
            Path::M => "async.data.m",
            Path::Flag => "async.data.flag",
            Path::Tags => "async.data.tags",
            Path::Missing => "async.data.missing",
            Path::ObjK => "async.data.obj.k",
            Path::ObjMissing => "async.data.obj.nope",
            Path::BracketS => "async.data[\"s\"]",
            Path::MissingDeep => "async.data.missing.x",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TrigPath {
    K,
    N,
    Flag,
    Tags,
    Missing,
}

impl TrigPath {
    fn text(self) -> &'static str {
        match self {
            TrigPath::K => "event.data.k",
            TrigPath::N => "event.data.n",
            TrigPath::Flag => "event.data.flag",
            TrigPath::Tags => "event.data.tags",
            TrigPath::Missing => "event.data.missing",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Lit {
    Str(u8),
    Num(u8),
    Bool(bool),
    Null,
    Trig(TrigPath),
    Path(Path),
    List(Vec<u8>),
}

impl Lit {
    fn text(&self) -> String {
        match self {
            Lit::Str(i) => str_lit(*i),
            Lit::Num(i) => pick(NUM_LITS, *i).to_string(),
            Lit::Bool(b) => b.to_string(),
            Lit::Null => "null".into(),
            Lit::Trig(t) => t.text().into(),
            Lit::Path(p) => p.text().into(),
            Lit::List(xs) => format!("[{}]", xs.iter().take(4).map(|&i| if i % 2 == 0 { str_lit(i / 2) } else { pick(NUM_LITS, i / 2).to_string() }).collect::<Vec<_>>().join(", ")),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn text(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum StrFn {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Quant {
    Exists,
    All,
    ExistsOne,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Conv {
    Int,
    Uint,
    Double,
    String,
    Size,
    Type,
}

#[derive(Arbitrary, Debug)]
enum Atom {
    Cmp(Path, Cmp, Lit),
    CmpRev(Lit, Cmp, Path),
    Paths(Path, Cmp, Path),
    StrFn(Path, StrFn, u8),
    Matches(Path, u8),
    In(Path, Lit),
    LitIn(Lit, Path),
    Has(Path),
    Bare(Path),
    NotBare(Path),
    Quant(Path, Quant, Cmp, Lit),
    Arith(Path, Arith, Lit, Cmp, Lit),
    Conv(Conv, Path, Cmp, Lit),
    Range(Path, Cmp, Lit, Cmp, Lit),
    Const(bool),
    TrigCmp(TrigPath, Cmp, Path),
}

impl Atom {
    fn text(&self) -> String {
        match self {
            Atom::Cmp(p, c, l) => format!("{} {} {}", p.text(), c.text(), l.text()),
            Atom::CmpRev(l, c, p) => format!("{} {} {}", l.text(), c.text(), p.text()),
            Atom::Paths(a, c, b) => format!("{} {} {}", a.text(), c.text(), b.text()),
            Atom::StrFn(p, f, i) => {
                let f = match f {
                    StrFn::StartsWith => "startsWith",
                    StrFn::EndsWith => "endsWith",
                    StrFn::Contains => "contains",
                };
                format!("{}.{f}({})", p.text(), str_lit(*i))
            }
            Atom::Matches(p, i) => format!("{}.matches({:?})", p.text(), pick(REGEXES, *i)),
            Atom::In(p, l) => format!("{} in {}", p.text(), l.text()),
            Atom::LitIn(l, p) => format!("{} in {}", l.text(), p.text()),
            Atom::Has(p) => format!("has({})", p.text()),
            Atom::Bare(p) => p.text().to_string(),
            Atom::NotBare(p) => format!("!{}", p.text()),
            Atom::Quant(p, q, c, l) => {
                let q = match q {
                    Quant::Exists => "exists",
                    Quant::All => "all",
                    Quant::ExistsOne => "exists_one",
                };
                format!("{}.{q}(x, x {} {})", p.text(), c.text(), l.text())
            }
            Atom::Arith(p, a, l, c, r) => {
                let a = match a {
                    Arith::Add => "+",
                    Arith::Sub => "-",
                    Arith::Mul => "*",
                    Arith::Div => "/",
                    Arith::Rem => "%",
                };
                format!("{} {a} {} {} {}", p.text(), l.text(), c.text(), r.text())
            }
            Atom::Conv(f, p, c, l) => {
                let f = match f {
                    Conv::Int => "int",
                    Conv::Uint => "uint",
                    Conv::Double => "double",
                    Conv::String => "string",
                    Conv::Size => "size",
                    Conv::Type => "type",
                };
                format!("{f}({}) {} {}", p.text(), c.text(), l.text())
            }
            Atom::Range(p, c1, l1, c2, l2) => format!("({p} {} {} && {p} {} {})", c1.text(), l1.text(), c2.text(), l2.text(), p = p.text()),
            Atom::Const(b) => b.to_string(),
            Atom::TrigCmp(t, c, p) => format!("{} {} {}", t.text(), c.text(), p.text()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Cond {
    Atom(Atom),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Ternary(Box<Cond>, Box<Cond>, Box<Cond>),
}

impl Cond {
    fn text(&self, depth: u32) -> String {
        if depth > 6 {
            // Bound the rendered nesting (the engine's default limit is 64).
            return match self {
                Cond::Atom(a) => a.text(),
                _ => "async.data.flag".into(),
            };
        }
        match self {
            Cond::Atom(a) => a.text(),
            Cond::And(a, b) => format!("({} && {})", a.text(depth + 1), b.text(depth + 1)),
            Cond::Or(a, b) => format!("({} || {})", a.text(depth + 1), b.text(depth + 1)),
            Cond::Not(a) => format!("!({})", a.text(depth + 1)),
            Cond::Ternary(c, a, b) => format!("({} ? {} : {})", c.text(depth + 1), a.text(depth + 1), b.text(depth + 1)),
        }
    }
}

/// A JSON value drawn from the pools.
#[derive(Arbitrary, Debug)]
enum Val {
    Absent,
    Null,
    Bool(bool),
    Str(u8),
    Num(u8),
    List(Vec<Val>),
    Obj(Vec<(u8, Val)>),
}

impl Val {
    fn json(&self, depth: u32) -> Option<Json> {
        Some(match self {
            Val::Absent => return None,
            Val::Null => Json::Null,
            Val::Bool(b) => json!(b),
            Val::Str(i) => json!(pick(STRS, *i)),
            Val::Num(i) => serde_json::from_str(pick(NUM_JSON, *i)).expect("pool number"),
            Val::List(xs) if depth < 3 => Json::Array(xs.iter().take(4).filter_map(|v| v.json(depth + 1)).collect()),
            Val::Obj(kvs) if depth < 3 => {
                let mut m = Map::new();
                for (k, v) in kvs.iter().take(4) {
                    if let Some(v) = v.json(depth + 1) {
                        m.insert(pick(&["k", "x", "s", "nope"], *k).into(), v);
                    }
                }
                Json::Object(m)
            }
            Val::List(_) | Val::Obj(_) => Json::Null,
        })
    }
}

#[derive(Arbitrary, Debug)]
struct EventSpec {
    name: u8,
    s: Val,
    t: Val,
    id: Val,
    n: Val,
    m: Val,
    flag: Val,
    tags: Val,
    obj: Val,
    missing: Val,
    email: Val,
    /// `data` itself replaced by this value (a non-object `data`).
    data_override: Option<Val>,
}

impl EventSpec {
    fn json(&self, i: usize) -> Json {
        let mut data = Map::new();
        for (k, v) in [("s", &self.s), ("t", &self.t), ("id", &self.id), ("n", &self.n), ("m", &self.m), ("flag", &self.flag), ("tags", &self.tags), ("obj", &self.obj), ("missing", &self.missing)] {
            if let Some(v) = v.json(0) {
                data.insert(k.into(), v);
            }
        }
        let mut user = Map::new();
        if let Some(v) = self.email.json(0) {
            user.insert("email".into(), v);
        }
        let data = match &self.data_override {
            Some(v) => v.json(0).unwrap_or(Json::Null),
            None => Json::Object(data),
        };
        json!({"name": pick(NAMES, self.name), "id": format!("ev{i}"), "data": data, "user": user})
    }
}

#[derive(Arbitrary, Debug)]
struct TriggerSpec {
    k: Val,
    n: Val,
    flag: Val,
    tags: Val,
}

impl TriggerSpec {
    fn json(&self) -> Json {
        let mut data = Map::new();
        for (k, v) in [("k", &self.k), ("n", &self.n), ("flag", &self.flag), ("tags", &self.tags)] {
            if let Some(v) = v.json(0) {
                data.insert(k.into(), v);
            }
        }
        json!({"name": "app/trigger", "data": data})
    }
}

#[derive(Arbitrary, Debug)]
struct SubSpec {
    cond: Option<Cond>,
    name: u8,
    cancel: bool,
    trigger: Option<TriggerSpec>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    subs: Vec<SubSpec>,
    events: Vec<EventSpec>,
    /// Add the initial set with `add_many` instead of one `add` at a time.
    batch: bool,
}

struct Sub {
    id: String,
    sub: Subscription,
    reference: Option<Compiled>,
    seq: u64,
}

fn run(input: &Input, dialect: Dialect) {
    let engine = Engine::new(Config { dialect, ..Config::default() });
    let specs: Vec<(String, Subscription, Option<String>, Option<Json>)> = input
        .subs
        .iter()
        .take(48)
        .enumerate()
        .map(|(i, s)| {
            let id = format!("s{i}");
            let mut sub = if s.cancel { Subscription::cancel(&id, pick(NAMES, s.name)) } else { Subscription::wait(&id, pick(NAMES, s.name)) };
            let cond = s.cond.as_ref().map(|c| c.text(0));
            if let Some(c) = &cond {
                sub = sub.when(c);
            }
            let trigger = s.trigger.as_ref().map(TriggerSpec::json);
            if let Some(t) = &trigger {
                sub = sub.with_trigger(t.clone());
            }
            (id, sub, cond, trigger)
        })
        .collect();
    let results = if input.batch {
        engine.add_many(specs.iter().map(|s| s.1.clone()).collect())
    } else {
        specs.iter().map(|s| engine.add(s.1.clone())).collect()
    };
    let mut subs = Vec::new();
    let mut seq = 0u64;
    for ((id, sub, cond, trigger), result) in specs.into_iter().zip(results) {
        let reference = cond.as_ref().map(|c| engine.compile_uncached(c, trigger.as_ref()));
        match result {
            Ok(fired) => {
                assert_eq!(fired, None, "no lookback: adding never fires");
                let reference = match reference {
                    None => None,
                    Some(Ok(r)) => Some(r),
                    Some(Err(e)) => panic!("{dialect:?}: the engine accepted {cond:?} (trigger {trigger:?}) but the reference rejects it: {e}"),
                };
                subs.push(Sub { id, sub, reference, seq });
                seq += 1;
            }
            Err(e) => {
                let ok = match &reference {
                    Some(Err(_)) => true,
                    // A constant that is not `true`, or a condition that can never be a boolean.
                    Some(Ok(r)) => match e.code() {
                        "never_matches" => r.constant().is_some(),
                        "not_boolean" => r.constant().is_some() || r.non_boolean().is_some(),
                        _ => false,
                    },
                    None => false,
                };
                assert!(ok, "{dialect:?}: the engine rejected {cond:?} (trigger {trigger:?}) with {e}, but the reference compiles it");
            }
        }
    }
    assert_eq!(engine.len(), subs.len());

    for (i, spec) in input.events.iter().take(12).enumerate() {
        let ev = spec.json(i);
        let name = ev["name"].as_str().expect("name");
        let expected: Vec<(u64, &str)> = {
            let mut v: Vec<(u64, &str)> = subs
                .iter()
                .filter(|s| s.sub.event == name && s.reference.as_ref().is_none_or(|r| matches!(r.matches(&ev), Ok(true))))
                .map(|s| (s.seq, s.id.as_str()))
                .collect();
            v.sort();
            v
        };
        let fired = engine.process(&ev).expect("a well-formed event");
        let got: Vec<&str> = fired.iter().map(|f| f.id.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|e| e.1).collect();
        if got != want {
            let g: BTreeSet<&str> = got.iter().copied().collect();
            let w: BTreeSet<&str> = want.iter().copied().collect();
            let show = |id: &&str| {
                let s = subs.iter().find(|s| s.id == *id).expect("known id");
                let r = s.reference.as_ref().map(|r| (r.shape().to_string(), r.params(), r.matches(&ev)));
                format!(
                    "  {id}: {:?} trigger={:?}\n    reference (shape, params, result): {r:?}\n    explain: {}",
                    s.sub.condition,
                    s.sub.trigger.as_ref().map(|t| t.to_string()),
                    engine.explain(id, Some(&ev)).map(|j| j.to_string()).unwrap_or_else(|| "(not pending)".into())
                )
            };
            panic!(
                "{dialect:?}: event {ev}\nmissed (false negatives):\n{}\nextra (false positives):\n{}\norder: got {got:?}, want {want:?}",
                w.difference(&g).map(show).collect::<Vec<_>>().join("\n"),
                g.difference(&w).map(|id| id.to_string()).collect::<Vec<_>>().join(", "),
            );
        }
        // Fired subscriptions were consumed: add them back, with a new registration order.
        for f in &fired {
            let s = subs.iter_mut().find(|s| s.id == f.id).expect("known id");
            assert_eq!(f.kind, s.sub.kind);
            assert_eq!(engine.add(s.sub.clone()).expect("re-adding an accepted subscription"), None);
            s.seq = seq;
            seq += 1;
        }
        assert_eq!(engine.len(), subs.len());
    }
}

fuzz_target!(|input: Input| {
    for dialect in [Dialect::Strict, Dialect::Lenient] {
        run(&input, dialect);
    }
});
