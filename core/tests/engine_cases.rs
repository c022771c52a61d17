//! Replays the shared operation sequences in `tests/cases/engine/*.json` (format in
//! `tests/cases/README.md`, section "engine/*.json — operation sequences").
//!
//! Every case runs once per dialect it names and once per way of handing events to the
//! engine: `process` on the parsed event, `process_bytes` on its serialized JSON, and
//! `process_many` with a one-event batch. All three must give the expected results.

use celmatch::{Config, Dialect, Engine, Error, Fired, ManualClock, Subscription};
use serde_json::{json, Value as Json};
use std::path::PathBuf;
use std::sync::Arc;

const DEFAULT_NOW: i64 = 1_700_000_000_000;

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/engine")
}

/// How `process` steps hand their event to the engine.
#[derive(Clone, Copy, Debug)]
enum Feed {
    Process,
    Bytes,
    Many,
}

const FEEDS: [Feed; 3] = [Feed::Process, Feed::Bytes, Feed::Many];

fn dialects(config: &Json) -> Vec<Dialect> {
    match config.get("dialect").and_then(Json::as_str).unwrap_or("strict") {
        "strict" => vec![Dialect::Strict],
        "lenient" => vec![Dialect::Lenient],
        "both" => vec![Dialect::Strict, Dialect::Lenient],
        other => panic!("unknown dialect {other}"),
    }
}

/// The engine a case describes, with its manual clock: the case's `config` is a configuration
/// record, read by the core as the bindings' options are (`dialect` set to the run's, `now`
/// defaulted), or the error reading it gives.
fn engine(config: &Json, dialect: Dialect) -> Result<(Engine, Arc<ManualClock>), Error> {
    let mut record = config.clone();
    let obj = record.as_object_mut().expect("config is an object");
    obj.insert("dialect".into(), json!(if dialect == Dialect::Strict { "strict" } else { "lenient" }));
    obj.entry("now").or_insert(json!(DEFAULT_NOW));
    let r = Config::read_record(&record)?;
    Ok((Engine::new(r.config), r.clock.expect("`now` starts a manual clock")))
}

fn error_json(e: &Error) -> Json {
    json!({"error": e.code()})
}

fn fired_json(f: &Fired) -> Json {
    serde_json::to_value(f).expect("Fired serializes")
}

fn added_json(r: &Result<Option<Fired>, Error>) -> Json {
    match r {
        Ok(None) => Json::Null,
        Ok(Some(f)) => fired_json(f),
        Err(e) => error_json(e),
    }
}

fn processed_json(r: &Result<Vec<Fired>, Error>) -> Json {
    match r {
        Ok(fired) => fired.iter().map(fired_json).collect(),
        Err(e) => error_json(e),
    }
}

/// `add_many`: records that `from_record` rejects fail alone, in their place.
fn add_many(engine: &Engine, records: &[Json]) -> Json {
    let parsed: Vec<Result<Subscription, Error>> = records.iter().map(Subscription::from_record).collect();
    let subs = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut added = engine.add_many(subs).into_iter();
    parsed.iter().map(|p| match p {
        Ok(_) => added_json(&added.next().expect("one result per subscription")),
        Err(e) => error_json(e),
    }).collect()
}

fn process(engine: &Engine, event: &Json, feed: Feed) -> Json {
    let r = match feed {
        Feed::Process => engine.process(event),
        Feed::Bytes => engine.process_bytes(&serde_json::to_vec(event).expect("event serializes")),
        Feed::Many => engine.process_many(std::slice::from_ref(event)).pop().expect("one result"),
    };
    processed_json(&r)
}

/// Runs one step and returns what it gave (`None` for steps without a result).
fn step(engine: &Engine, clock: &ManualClock, step: &Json, feed: Feed) -> Result<Option<Json>, String> {
    let obj = step.as_object().ok_or("a step must be an object")?;
    let op = obj.keys().find(|k| !matches!(k.as_str(), "expect" | "note")).ok_or("a step without an operation")?;
    let arg = &obj[op];
    let str_arg = |name: &str| arg.get(name).and_then(Json::as_str).ok_or_else(|| format!("{op} needs a string {name:?}"));
    Ok(Some(match op.as_str() {
        "add" => added_json(&Subscription::from_record(arg).and_then(|s| engine.add(s))),
        "add_many" => add_many(engine, arg.as_array().ok_or("add_many takes a list")?),
        "process" => process(engine, arg, feed),
        "remove" => json!(engine.remove(arg.as_str().ok_or("remove takes an id")?).unwrap()),
        "remove_owner" => json!(engine.remove_owner(arg.as_str().ok_or("remove_owner takes an owner")?).unwrap()),
        "expire" => json!(engine.expire(arg.as_i64()).unwrap()),
        "advance" => {
            clock.advance(arg.as_i64().ok_or("advance takes milliseconds")?);
            return Ok(None);
        }
        "key" => match engine.key(str_arg("expr")?, arg.get("event").ok_or("key needs an event")?) {
            Ok(k) => json!(k),
            Err(e) => error_json(&e),
        },
        "claim" => {
            let ttl = arg.get("ttl_ms").and_then(Json::as_i64).ok_or("claim needs ttl_ms")?;
            match engine.claim(str_arg("scope")?, str_arg("key")?, ttl, arg.get("now_ms").and_then(Json::as_i64)) {
                Ok(b) => json!(b),
                Err(e) => error_json(&e),
            }
        }
        "len" => json!(engine.len()),
        other => return Err(format!("unknown operation {other:?}")),
    }))
}

/// Runs one case; `Err` describes the first mismatch.
fn run(case: &Json, dialect: Dialect, feed: Feed, steps_run: &mut usize) -> Result<(), String> {
    let empty = json!({});
    let built = engine(case.get("config").unwrap_or(&empty), dialect);
    let (engine, clock) = match (built, case.get("config_error")) {
        (Ok(built), None) => built,
        (Err(e), Some(want)) => {
            *steps_run += 1;
            let message = want.get("message").and_then(Json::as_str).unwrap_or("");
            if e.code() != want["code"] || !e.message().contains(message) {
                return Err(format!("config error {}: {}, want {want}", e.code(), e.message()));
            }
            return Ok(());
        }
        (Ok(_), Some(want)) => return Err(format!("the config was accepted, want {want}")),
        (Err(e), None) => return Err(format!("config: {e}")),
    };
    for (i, s) in case["steps"].as_array().ok_or("case without steps")?.iter().enumerate() {
        let got = step(&engine, &clock, s, feed).map_err(|e| format!("step {i}: {e}"))?;
        *steps_run += 1;
        let Some(got) = got else { continue };
        let want = s.get("expect").ok_or_else(|| format!("step {i}: no expect"))?;
        if &got != want {
            return Err(format!("step {i} {}: got {got}, want {want}", serde_json::to_string(s).unwrap_or_default()));
        }
    }
    Ok(())
}

#[test]
fn shared_engine_cases() {
    let mut files: Vec<_> = std::fs::read_dir(cases_dir()).expect("tests/cases/engine").map(|e| e.unwrap().path()).collect();
    files.retain(|f| f.extension().is_some_and(|e| e == "json"));
    files.sort();
    let (mut cases, mut runs, mut steps, mut failures) = (0, 0, 0, Vec::new());
    for file in &files {
        let fname = file.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{fname}: {e}"));
        let mut names = std::collections::HashSet::new();
        for case in doc["cases"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("case name");
            assert!(names.insert(name), "{fname}: duplicate case name {name}");
            cases += 1;
            for dialect in dialects(case.get("config").unwrap_or(&json!({}))) {
                for feed in FEEDS {
                    runs += 1;
                    if let Err(why) = run(case, dialect, feed, &mut steps) {
                        failures.push(format!("{fname}::{name} [{dialect:?}, {feed:?}] {why}"));
                    }
                }
            }
        }
    }
    assert!(cases > 0, "no cases found");
    eprintln!("{} files, {cases} cases, {runs} runs, {steps} steps run", files.len());
    assert!(failures.is_empty(), "{} of {runs} runs failed:\n{}", failures.len(), failures.join("\n"));
}
