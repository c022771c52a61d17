//! Differential test: the indexed engine against evaluating every subscription one by one.
//!
//! Random conditions from a grammar that covers every operator the engine supports (nested
//! `||`/`&&`/`!`, ternaries, method calls inside OR branches, comparisons with booleans, empty
//! strings, null and other fields, `in` both ways, macros, arithmetic, missing fields, trigger
//! binding, the extension functions, two-variable macros, `cel.bind`, optionals, IP
//! networks, numbers around 2^63) and random events drawn from the same small value pools
//! so that they both hit and miss. For every event, the set the engine fires must equal the
//! set whose condition, compiled with no cache and evaluated alone, is true. Both dialects.
//!
//! Size: `CELMATCH_DIFF_ROUNDS` rounds (default 2) of `CELMATCH_DIFF_SUBS` subscriptions
//! (default 2,500) and `CELMATCH_DIFF_EVENTS` events (default 60) per dialect; the seed is
//! `CELMATCH_DIFF_SEED`. A long run: `CELMATCH_DIFF_ROUNDS=200 cargo test --release --test differential`.

use celmatch::{Compiled, Config, Dialect, Engine, Subscription};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeSet;

const STR_POOL: &[&str] = &["", "a", "ab", "abc", "inv_1", "inv_2", "x@acme.com", "vip", "b", "10.1.2.3"];
// The last two meet at 2^63, where an int and a double order by the double's rounding.
const NUM_POOL: &[&str] = &["0", "1", "1.0", "2", "2.5", "-1", "100", "101", "9007199254740993", "9223372036854775807", "9223372036854775808.0"];
const STR_PATHS: &[&str] = &["async.data.s", "async.data.t", "async.user.email", "async.data.id"];
const NUM_PATHS: &[&str] = &["async.data.n", "async.data.m"];
const ANY_PATHS: &[&str] = &["async.data.s", "async.data.n", "async.data.flag", "async.data.missing", "async.data.id"];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pick<'a>(rng: &mut SmallRng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

fn str_lit(rng: &mut SmallRng) -> String {
    format!("{:?}", pick(rng, STR_POOL))
}

fn any_lit(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..5) {
        0 => str_lit(rng),
        1 => pick(rng, NUM_POOL).to_string(),
        2 => if rng.gen() { "true".into() } else { "false".into() },
        3 => "null".into(),
        _ => format!("event.data.{}", pick(rng, &["k", "n", "flag", "tags"])),
    }
}

/// One atom: something the index may or may not be able to use.
fn atom(rng: &mut SmallRng) -> String {
    let sp = pick(rng, STR_PATHS);
    let np = pick(rng, NUM_PATHS);
    let ap = pick(rng, ANY_PATHS);
    match rng.gen_range(0..39) {
        38 => format!("cidr({}).containsIP({sp})", pick(rng, &["\"10.0.0.0/8\"", "\"10.1.2.3/32\"", "\"192.168.0.0/16\""])),
        37 => format!(
            "{}.orValue({}) == {}",
            pick(rng, &["async.data.?s", "async.user.?email", "async.?data.id", "async.data.?missing.x"]),
            str_lit(rng),
            str_lit(rng)
        ),
        // Extension functions and two-variable macros: never index access predicates, so
        // their conjunctions must reach verification.
        26 => format!("{sp}.indexOf({}) >= 0", str_lit(rng)),
        27 => format!("size({sp}.split(\"@\")) > 1"),
        28 => format!("math.greatest({np}, {}) == {np}", pick(rng, NUM_POOL)),
        29 => format!("math.abs({np}) {} {}", pick(rng, &["<", ">="]), pick(rng, NUM_POOL)),
        30 => format!("{sp}.substring(0, 1) == {}", str_lit(rng)),
        31 => format!("sets.intersects(async.data.tags, [{}, {}])", str_lit(rng), str_lit(rng)),
        32 => format!("async.data.tags.exists(i, v, i == 0 && v == {})", str_lit(rng)),
        33 => format!("cel.bind(x, {np} * 2, x > {})", pick(rng, NUM_POOL)),
        34 => format!("\"%s!\".format([{sp}]) == {:?}", format!("{}!", pick(rng, STR_POOL))),
        35 => format!("base64.encode(bytes({sp})) == {}", pick(rng, &["\"YQ==\"", "\"\"", "\"dmlw\""])),
        36 => format!("({np} == {} && {sp}.trim().reverse() == {})", pick(rng, NUM_POOL), str_lit(rng)),
        24 => format!("({np} >= {} && {np} < {})", pick(rng, NUM_POOL), pick(rng, NUM_POOL)),
        25 => format!("({np} > {} && {np} <= {})", pick(rng, NUM_POOL), pick(rng, NUM_POOL)),
        0 | 1 => format!("{sp} == {}", str_lit(rng)),
        2 => format!("{} == {ap}", any_lit(rng)),
        3 => format!("{ap} != {}", any_lit(rng)),
        4 => format!("{np} {} {}", pick(rng, &["<", "<=", ">", ">="]), pick(rng, NUM_POOL)),
        5 => format!("{} {} {np}", pick(rng, NUM_POOL), pick(rng, &["<", "<=", ">", ">="])),
        6 => format!("{sp} {} {}", pick(rng, &["<", ">=", ">"]), str_lit(rng)),
        7 => format!("{sp}.{}({})", pick(rng, &["startsWith", "endsWith", "contains"]), str_lit(rng)),
        8 => format!("{} in async.data.tags", str_lit(rng)),
        9 => format!("{ap} in [{}, {}]", any_lit(rng), any_lit(rng)),
        10 => format!("has({ap})"),
        11 => "async.data.flag".into(),
        12 => format!("async.data.flag == {}", if rng.gen() { "true" } else { "false" }),
        13 => format!("{sp} == {}", pick(rng, STR_PATHS)),
        14 => format!("{np} + 1 > {}", pick(rng, NUM_POOL)),
        15 => format!("size({sp}) > {}", rng.gen_range(0..3)),
        16 => format!("async.data.tags.exists(t, t == {})", str_lit(rng)),
        17 => format!("({sp} == {} ? {np} > 1 : async.data.flag)", str_lit(rng)),
        18 => format!("{sp}.matches('^a')"),
        19 => format!("event.data.k == {sp}"),
        20 => format!("{sp} in event.data.tags"),
        21 => format!("async.data.missing.x == {}", any_lit(rng)),
        22 => format!("{ap} == null"),
        _ => format!("{np} == {}", pick(rng, NUM_POOL)),
    }
}

fn condition(rng: &mut SmallRng, depth: u32) -> String {
    if depth == 0 || rng.gen_range(0..3) == 0 {
        return atom(rng);
    }
    match rng.gen_range(0..5) {
        0 | 1 => format!("({} && {})", condition(rng, depth - 1), condition(rng, depth - 1)),
        2 | 3 => format!("({} || {})", condition(rng, depth - 1), condition(rng, depth - 1)),
        _ => format!("!({})", condition(rng, depth - 1)),
    }
}

fn value(rng: &mut SmallRng, kind: u8) -> Option<Json> {
    Some(match rng.gen_range(0..10) {
        0 => return None,
        1 => Json::Null,
        2 => json!(rng.gen::<bool>()),
        3 => json!(pick(rng, STR_POOL)),
        _ => match kind {
            0 => json!(pick(rng, STR_POOL)),
            _ => serde_json::from_str(pick(rng, NUM_POOL)).unwrap(),
        },
    })
}

fn event(rng: &mut SmallRng, id: u64) -> Json {
    let mut data = Map::new();
    for (k, kind) in [("s", 0), ("t", 0), ("id", 0), ("n", 1), ("m", 1)] {
        if let Some(v) = value(rng, kind) {
            data.insert(k.into(), v);
        }
    }
    if rng.gen_range(0..6) > 0 {
        data.insert("flag".into(), json!(rng.gen::<bool>()));
    }
    if rng.gen_range(0..5) > 0 {
        let n = rng.gen_range(0..3);
        data.insert("tags".into(), Json::Array((0..n).map(|_| json!(pick(rng, STR_POOL))).collect()));
    }
    let mut user = Map::new();
    if let Some(v) = value(rng, 0) {
        user.insert("email".into(), v);
    }
    json!({"name": "app/e", "id": format!("ev{id}"), "data": data, "user": user})
}

fn trigger(rng: &mut SmallRng) -> Json {
    json!({"data": {"k": pick(rng, STR_POOL), "n": serde_json::from_str::<Json>(pick(rng, NUM_POOL)).unwrap(), "flag": rng.gen::<bool>(), "tags": [pick(rng, STR_POOL), pick(rng, STR_POOL)]}})
}

struct Sub {
    id: String,
    cond: String,
    trigger: Option<Json>,
}

fn run(dialect: Dialect, seed: u64, subs_n: usize, events_n: usize) -> (u64, u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let engine = Engine::new(Config { dialect, ..Config::default() });
    let mut subs = Vec::new();
    let mut refs = Vec::new();
    while subs.len() < subs_n {
        let cond = condition(&mut rng, 4);
        let trig = cond.contains("event.").then(|| trigger(&mut rng));
        let id = format!("s{}", subs.len());
        let mut s = Subscription::wait(&id, "app/e").when(&cond);
        if let Some(t) = &trig {
            s = s.with_trigger(t.clone());
        }
        // The reference: compiled with no cache, evaluated alone.
        let reference = engine.compile_uncached(&cond, trig.as_ref());
        match engine.add(s) {
            Ok(_) => {
                refs.push(reference.expect("the reference compiles what the engine accepted"));
                subs.push(Sub { id, cond, trigger: trig });
            }
            Err(e) => {
                // Rejected conditions must be rejected by the reference too, or be never-matching.
                assert!(
                    reference.is_err() || matches!(e.code(), "never_matches" | "not_boolean"),
                    "engine rejected {cond:?} ({e}) but the reference compiled it"
                );
            }
        }
    }
    engine.validate().unwrap();
    // What `get` returns compiles back to the same meaning: the condition printed from its
    // shape with its own literals, and the trigger fields it reads.
    let listed: Vec<Compiled> = subs
        .iter()
        .map(|s| {
            let back = engine.get(&s.id).expect("a pending subscription is listed");
            let cond = back.condition.as_deref().expect("a condition comes back");
            engine
                .compile_uncached(cond, back.trigger.as_ref())
                .unwrap_or_else(|e| panic!("{}: {:?} (from {:?}) does not compile back: {e}", s.id, cond, s.cond))
        })
        .collect();
    // The generator must reach every index class, or the comparison proves less than it says.
    let stats = engine.stats();
    for class in ["eq", "elem", "prefix", "suffix", "contains", "range", "interval", "presence", "scan"] {
        assert!(stats.by_class.get(class).is_some_and(|&n| n > 0), "no subscription filed as {class}: {:?}", stats.by_class);
    }
    let (mut pairs, mut fired_total) = (0u64, 0u64);
    for i in 0..events_n {
        let ev = event(&mut rng, i as u64);
        let expected: BTreeSet<&str> =
            subs.iter().zip(&refs).filter(|(_, r)| matches!(r.matches(&ev), Ok(true))).map(|(s, _)| s.id.as_str()).collect();
        let relisted: BTreeSet<&str> =
            subs.iter().zip(&listed).filter(|(_, r)| matches!(r.matches(&ev), Ok(true))).map(|(s, _)| s.id.as_str()).collect();
        assert_eq!(relisted, expected, "{dialect:?} seed {seed}: subscriptions from get() decide event {ev} differently");
        // Fired waits are consumed: put them back so every event sees the full set.
        let put_back = |fired: &[celmatch::Fired]| {
            for f in fired {
                let s = subs.iter().find(|s| s.id == f.id).unwrap();
                let mut back = Subscription::wait(&s.id, "app/e").when(&s.cond);
                if let Some(t) = &s.trigger {
                    back = back.with_trigger(t.clone());
                }
                assert_eq!(engine.add(back).unwrap(), None);
            }
        };
        // The text path (event view over the bytes) and the value path decide alike.
        let by_text = engine.process_bytes(ev.to_string().as_bytes()).unwrap();
        put_back(&by_text);
        let fired = engine.process(&ev).unwrap();
        let by_text: BTreeSet<&str> = by_text.iter().map(|f| f.id.as_str()).collect();
        let got: BTreeSet<&str> = fired.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(by_text, got, "{dialect:?} seed {seed}: process_bytes and process disagree on {ev}");
        if got != expected {
            let missed: Vec<_> = expected.difference(&got).collect();
            let extra: Vec<_> = got.difference(&expected).collect();
            let show = |id: &&&str| {
                let s = subs.iter().find(|s| s.id == **id).unwrap();
                format!("{}: {} trigger={:?}\n  explain: {}", s.id, s.cond, s.trigger, engine.explain(&s.id, Some(&ev)).unwrap_or_default())
            };
            panic!(
                "{dialect:?} seed {seed} event {ev}\nmissed (false negatives): {}\nextra: {}",
                missed.iter().map(show).collect::<Vec<_>>().join("\n"),
                extra.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        put_back(&fired);
        if i % 16 == 0 {
            engine.validate().unwrap();
        }
        pairs += subs.len() as u64;
        fired_total += fired.len() as u64;
    }
    assert_eq!(engine.len(), subs.len());
    engine.validate().unwrap();
    (pairs, fired_total)
}

#[test]
fn indexed_matches_equal_one_by_one_evaluation() {
    let rounds = env("CELMATCH_DIFF_ROUNDS", 2);
    let subs = env("CELMATCH_DIFF_SUBS", 2500) as usize;
    let events = env("CELMATCH_DIFF_EVENTS", 60) as usize;
    let seed = env("CELMATCH_DIFF_SEED", 7);
    let (mut pairs, mut fired) = (0, 0);
    for round in 0..rounds {
        for dialect in [Dialect::Strict, Dialect::Lenient] {
            let (p, f) = run(dialect, seed.wrapping_mul(1000).wrapping_add(round), subs, events);
            pairs += p;
            fired += f;
        }
    }
    eprintln!("differential: {pairs} (subscription, event) trials, {fired} fired, no difference");
    assert!(fired > 0, "the generator must produce matches");
}
