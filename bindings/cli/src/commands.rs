//! The commands.

use crate::cli::Global;
use crate::input::{self, Line, Lines};
use crate::report::{CliError, Out, EXIT_USAGE};
use celmatch::{Config, Engine, Limits, Subscription};
use serde_json::{json, Map, Value as Json};
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::Path;

/// What a command ended with: its exit status (errors already reported).
pub type Status = Result<i32, CliError>;

/// Largest `--config` file read.
const CONFIG_CAP: usize = 1 << 20;

/// The engine configuration: the `--config` record with `--dialect` over it, read by the core
/// (`Config::from_record`, as every binding does). A bad record is a usage error.
pub fn config(g: &Global) -> Result<Config, CliError> {
    let mut record = match g.config.as_deref() {
        None => Json::Object(Map::new()),
        Some(text) if text.trim_start().starts_with('{') => {
            serde_json::from_str(text).map_err(|e| input::json_error(&e, "--config", "invalid_config").exit(EXIT_USAGE))?
        }
        Some(path) => {
            let bytes = input::read_capped(Path::new(path), CONFIG_CAP, "invalid_config").map_err(|e| e.exit(EXIT_USAGE))?;
            serde_json::from_slice(&bytes).map_err(|e| input::json_error(&e, &format!("--config {path}"), "invalid_config").exit(EXIT_USAGE))?
        }
    };
    if let (Some(d), Some(obj)) = (g.dialect, record.as_object_mut()) {
        obj.insert("dialect".into(), d.as_str().into());
    }
    Config::from_record(&record).map_err(|e| CliError::new(e.code(), format!("--config: {}", e.message())).exit(EXIT_USAGE))
}

pub fn engine(g: &Global) -> Result<Engine, CliError> {
    Ok(Engine::new(config(g)?))
}

/// Reads a JSON object (`--event`, `--trigger`) through the engine's event parser, so the
/// size and depth limits are the ones `match` applies to event lines.
fn read_event_doc(engine: &Engine, path: &Path, what: &str, code: &str) -> Result<Json, CliError> {
    let cap = engine.config().limits.max_event_bytes;
    let bytes = input::read_capped(path, cap, "limit_exceeded").map_err(|mut e| {
        if e.code == "limit_exceeded" {
            e.message = format!("{what} {} is over the limit of {cap} bytes (max_event_bytes)", input::describe(path));
        }
        e
    })?;
    let v = match engine.parse_event(&bytes) {
        Ok(v) => v,
        // The engine's message has the position in its text; serde's error has it in fields.
        Err(e) if e.kind() == celmatch::ErrorKind::InvalidEvent => {
            return Err(match serde_json::from_slice::<Json>(&bytes) {
                Err(se) => input::json_error(&se, &format!("{what} {}", input::describe(path)), code),
                Ok(_) => CliError::new(code, format!("{what} {}: {}", input::describe(path), e.message())),
            })
        }
        Err(e) => return Err(CliError::new(e.code(), format!("{what} {}: {}", input::describe(path), e.message()))),
    };
    if !v.is_object() {
        return Err(CliError::new(code, format!("{what} {} must be a JSON object", input::describe(path))));
    }
    Ok(v)
}

/// A subscription line holds an expression and a trigger.
fn subscription_line_cap(l: &Limits) -> usize {
    l.max_expr_bytes.saturating_add(l.max_event_bytes).saturating_add(64 * 1024)
}

fn utf8(arg: OsString, what: &str) -> Result<String, CliError> {
    arg.into_string().map_err(|raw| {
        CliError::new("invalid_utf8", format!("{what} is not valid UTF-8: {}", raw.to_string_lossy())).exit(EXIT_USAGE)
    })
}

/// Writes to stdout; a closed pipe (`celmatch … | head`) ends the command quietly.
pub struct Stdout {
    w: io::BufWriter<io::Stdout>,
    flush_each: bool,
}

impl Stdout {
    pub fn new(flush_each: bool) -> Self {
        Stdout { w: io::BufWriter::with_capacity(1 << 16, io::stdout()), flush_each }
    }

    pub fn line(&mut self, s: &str) -> Result<(), CliError> {
        let r = writeln!(self.w, "{s}").and_then(|_| if self.flush_each { self.w.flush() } else { Ok(()) });
        r.map_err(stdout_error)
    }

    pub fn flush(&mut self) -> Result<(), CliError> {
        self.w.flush().map_err(stdout_error)
    }
}

fn stdout_error(e: io::Error) -> CliError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CliError::new("broken_pipe", "stdout was closed").exit(0)
    } else {
        CliError::io("cannot write to stdout", &e)
    }
}

/// EXPR: the expression, or `-` to read it from stdin (one trailing newline is dropped).
fn read_expr(arg: OsString, engine: &Engine) -> Result<String, CliError> {
    if arg != "-" {
        return utf8(arg, "EXPR");
    }
    // Past the engine's limit it reports `too_long` itself; this only bounds memory.
    let cap = engine.config().limits.max_expr_bytes.saturating_mul(4);
    let bytes = input::read_capped(Path::new("-"), cap, "too_long")?;
    let mut s = String::from_utf8(bytes).map_err(|_| CliError::new("invalid_utf8", "the expression on stdin is not valid UTF-8"))?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// check

pub fn check(g: &Global, expr: OsString, trigger: Option<&Path>) -> Status {
    if let Some(t) = trigger {
        let (expr_p, trig_p) = (std::path::PathBuf::from(&expr), t.to_path_buf());
        input::one_stdin(&[("EXPR", &expr_p), ("trigger", &trig_p)])?;
    }
    let engine = engine(g)?;
    let expr = read_expr(expr, &engine)?;
    let explained = match trigger {
        None => engine.explain_expr(&expr).map_err(|e| CliError::compile(e, &expr))?,
        Some(t) => {
            let trigger = read_event_doc(&engine, t, "trigger", "invalid_trigger")?;
            explain_bound(&engine, &expr, trigger)?
        }
    };
    let mut out = Stdout::new(false);
    if g.json {
        out.line(&explained.to_string())?;
    } else {
        out.line(&format!("ok: {expr}"))?;
        out.line(crate::render::expr(&explained).trim_end())?;
    }
    out.flush()?;
    Ok(0)
}

/// `explain_expr` for a condition with a trigger. The engine has no such call, so this adds
/// the condition as a subscription to a scratch engine and explains that, keeping the fields
/// `explain_expr` has.
fn explain_bound(engine: &Engine, expr: &str, trigger: Json) -> Result<Json, CliError> {
    const ID: &str = "celmatch-check";
    let sub = Subscription::wait(ID, "celmatch.check").when(expr).with_trigger(trigger);
    engine.add(sub).map_err(|e| CliError::engine(&e, Some(expr)))?;
    let x = engine.explain(ID, None).unwrap_or(Json::Null);
    let mut m = Map::new();
    m.insert("shape".into(), x.get("shape").cloned().unwrap_or(Json::Null));
    m.insert("params".into(), x.get("params").cloned().unwrap_or(json!([])));
    // Without a shape the condition folded to `true`.
    m.insert("constant".into(), if x.get("shape").is_some() { Json::Null } else { json!(true) });
    m.insert("conjunctions".into(), x.get("conjunctions").cloned().unwrap_or(json!([])));
    Ok(Json::Object(m))
}

// ---------------------------------------------------------------------------------------------
// eval

pub fn eval(g: &Global, expr: OsString, event: &Path, trigger: Option<&Path>, key: bool) -> Status {
    let expr_p = std::path::PathBuf::from(&expr);
    let event_p = event.to_path_buf();
    let trig_p = trigger.map(Path::to_path_buf);
    let mut ins = vec![("event", &event_p), ("EXPR", &expr_p)];
    if let Some(t) = &trig_p {
        ins.push(("trigger", t));
    }
    input::one_stdin(&ins)?;
    let engine = engine(g)?;
    let expr = read_expr(expr, &engine)?;
    let event = read_event_doc(&engine, event, "event", "invalid_event")?;
    let trigger = match trigger {
        Some(t) => Some(read_event_doc(&engine, t, "trigger", "invalid_trigger")?),
        None => None,
    };
    let value = if key {
        match engine.key(&expr, &event) {
            Ok(k) => json!(k),
            Err(e) => return Err(CliError::engine(&e, Some(&expr))),
        }
    } else {
        engine.eval(&expr, &event, trigger.as_ref()).map_err(|e| CliError::engine(&e, Some(&expr)))?
    };
    let mut out = Stdout::new(false);
    let text = if !g.json && io::stdout().is_terminal() {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    };
    out.line(&text.map_err(|e| CliError::new("internal", e.to_string()))?)?;
    out.flush()?;
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// subscriptions (match, explain)

/// One subscription line and what became of it.
pub struct Loaded {
    pub line: usize,
    pub id: Option<String>,
    pub error: Option<CliError>,
}

/// Places an error at line `n` of an input file. A compile error's position in the expression
/// moves to `"expr": {"line","column","start","end"}`.
fn at_line(mut e: CliError, file: &str, path: &Path, n: usize) -> CliError {
    if e.compile.is_some() {
        let start = e.extra.remove("start");
        let end = e.extra.remove("end");
        e.extra.insert("expr".into(), json!({"line": e.line, "column": e.column, "start": start, "end": end}));
        e.column = None;
    }
    e.line = Some(n);
    e.extra.insert("input".into(), json!(file));
    e.context.get_or_insert_with(|| format!("{}:{n}", input::describe(path)));
    e
}

fn read_error(path: &Path, e: io::Error) -> CliError {
    CliError::io(&format!("cannot read {}", input::describe(path)), &e)
}

/// Adds every subscription of an NDJSON file; lines that fail are returned with their error.
pub fn load_subscriptions(engine: &Engine, path: &Path) -> Result<Vec<Loaded>, CliError> {
    let cap = subscription_line_cap(&engine.config().limits);
    let mut lines = Lines::new(input::open(path)?, cap);
    let mut loaded = Vec::new();
    while let Some((n, line)) = lines.next_line().map_err(|e| read_error(path, e))? {
        let fail = |e: CliError, id: Option<String>| {
            let mut e = at_line(e, "subscriptions", path, n);
            if let Some(id) = &id {
                e.extra.insert("id".into(), json!(id));
                e.context = Some(format!("{}:{n}: subscription {id:?} skipped", input::describe(path)));
            } else {
                e.context = Some(format!("{}:{n}: subscription skipped", input::describe(path)));
            }
            Loaded { line: n, id, error: Some(e) }
        };
        let text = match line {
            Line::TooLong(len) => {
                let e = CliError::new("limit_exceeded", format!("the line is {len} bytes, over the limit of {cap}"));
                loaded.push(fail(e, None));
                continue;
            }
            Line::Text(t) if input::is_blank(&t) => continue,
            Line::Text(t) => t,
        };
        let record: Json = match serde_json::from_slice(&text) {
            Ok(v) => v,
            Err(e) => {
                loaded.push(fail(input::json_error(&e, "the line", "invalid_subscription"), None));
                continue;
            }
        };
        let id = record.get("id").and_then(Json::as_str).map(str::to_string);
        let sub = match Subscription::from_record(&record) {
            Ok(s) => s,
            Err(e) => {
                loaded.push(fail(CliError::engine(&e, None), id));
                continue;
            }
        };
        let condition = sub.condition.clone();
        match engine.add(sub) {
            Ok(_) => loaded.push(Loaded { line: n, id, error: None }),
            Err(e) => loaded.push(fail(CliError::engine(&e, condition.as_deref()), id)),
        }
    }
    Ok(loaded)
}

// ---------------------------------------------------------------------------------------------
// match

pub fn run_match(g: &Global, subscriptions: Option<&Path>, events: &Path, state: Option<&Path>) -> Status {
    let ep = events.to_path_buf();
    let sp = subscriptions.map(Path::to_path_buf);
    let mut inputs = vec![("events", &ep)];
    if let Some(sp) = &sp {
        inputs.insert(0, ("subscriptions", sp));
    }
    input::one_stdin(&inputs)?;
    let out_mode = Out { json: g.json };
    let engine = match state {
        None => engine(g)?,
        Some(path) => open_store(g, path)?,
    };
    let mut status = 0;
    if let Some(subscriptions) = subscriptions {
        for l in load_subscriptions(&engine, subscriptions)? {
            if let Some(e) = l.error {
                out_mode.warn(&e);
                status = EXIT_USAGE;
            }
        }
    }

    let cap = engine.config().limits.max_event_bytes;
    let mut lines = Lines::new(input::open(events)?, cap);
    // Streaming from stdin: answer each event as it arrives.
    let mut out = Stdout::new(input::is_stdin(events));
    let mut index = 0usize;
    while let Some((n, line)) = lines.next_line().map_err(|e| read_error(events, e))? {
        let result = match line {
            Line::TooLong(len) => Err(CliError::new(
                "limit_exceeded",
                format!("the event is {len} bytes, over the limit of {cap} (max_event_bytes)"),
            )),
            Line::Text(t) if input::is_blank(&t) => continue,
            Line::Text(t) => engine.process_bytes(&t).map_err(|e| CliError::new(e.code(), e.message())),
        };
        let record = match result {
            Ok(fired) => json!({"event": index, "fired": fired}),
            Err(e) => {
                let mut e = at_line(e, "events", events, n).with("event", json!(index));
                e.context = Some(format!("{}:{n}: event {index}", input::describe(events)));
                out_mode.warn(&e);
                status = EXIT_USAGE;
                json!({"event": index, "fired": [], "error": {"code": e.code, "message": e.message}})
            }
        };
        out.line(&record.to_string())?;
        index += 1;
    }
    out.flush()?;
    Ok(status)
}

/// A durable engine on `path` (the CLI's configuration), or the store's error.
fn open_store(g: &Global, path: &Path) -> Result<Engine, CliError> {
    Engine::open(path, config(g)?).map_err(|e| CliError::new(e.code(), e.message()))
}

// ---------------------------------------------------------------------------------------------
// inspect

pub fn inspect(g: &Global, store: &Path) -> Status {
    if !store.exists() {
        return Err(CliError::new("io_error", format!("{}: no such file", store.display())));
    }
    let engine = open_store(g, store)?;
    let mut by_name: std::collections::BTreeMap<String, (u64, u64)> = std::collections::BTreeMap::new();
    for s in engine.subscriptions() {
        let counts = by_name.entry(s.event).or_default();
        match s.kind {
            celmatch::Kind::Wait => counts.0 += 1,
            celmatch::Kind::Cancel => counts.1 += 1,
        }
    }
    let stats = engine.stats();
    let report = json!({
        "store": store.display().to_string(),
        "schema_version": celmatch::SCHEMA_VERSION,
        "subscriptions": stats.subscriptions,
        "waits": stats.waits,
        "cancels": stats.cancels,
        "owners": stats.owners,
        "pending_deadlines": stats.pending_deadlines,
        "claims": stats.claims,
        "lookback_events": stats.lookback_events,
        "by_event": by_name.iter().map(|(n, (w, c))| json!({"event": n, "waits": w, "cancels": c})).collect::<Vec<_>>(),
    });
    engine.close().map_err(|e| CliError::new(e.code(), e.message()))?;
    let mut out = Stdout::new(false);
    if g.json {
        out.line(&report.to_string())?;
    } else {
        out.line(&format!("store {} (schema version {})", store.display(), celmatch::SCHEMA_VERSION))?;
        out.line(&format!(
            "{} subscriptions ({} waits, {} cancels), {} owners, {} with a deadline, {} claims, {} buffered events",
            stats.subscriptions, stats.waits, stats.cancels, stats.owners, stats.pending_deadlines, stats.claims, stats.lookback_events
        ))?;
        for (n, (w, c)) in &by_name {
            out.line(&format!("  {n}: {w} waits, {c} cancels"))?;
        }
    }
    out.flush()?;
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// explain

pub fn explain(g: &Global, subscriptions: &Path, event: &Path, id: Option<OsString>) -> Status {
    let (sp, ep) = (subscriptions.to_path_buf(), event.to_path_buf());
    input::one_stdin(&[("subscriptions", &sp), ("event", &ep)])?;
    let id = id.map(|i| utf8(i, "--id")).transpose()?;
    let out_mode = Out { json: g.json };
    let engine = engine(g)?;
    let event = read_event_doc(&engine, event, "event", "invalid_event")?;
    let loaded = load_subscriptions(&engine, subscriptions)?;

    let mut out = Stdout::new(false);
    let mut status = 0;
    let mut shown = 0;
    let mut unreadable = 0;
    for l in &loaded {
        if let Some(want) = &id {
            match &l.id {
                Some(have) if have == want => {}
                Some(_) => continue,
                None => {
                    // Its id is unknown: it might be the one asked for.
                    unreadable += 1;
                    if let Some(e) = &l.error {
                        out_mode.warn(e);
                    }
                    continue;
                }
            }
        }
        shown += 1;
        let name = l.id.as_deref().map_or_else(|| "(no id)".to_string(), |s| format!("{s:?}"));
        match &l.error {
            Some(e) => {
                status = EXIT_USAGE;
                if g.json {
                    out.line(&json!({"line": l.line, "id": l.id, "loaded": false, "error": e.to_json()}).to_string())?;
                } else {
                    out.line(&format!("subscription {name} (line {}): NOT LOADED, so it can never fire", l.line))?;
                    let text = CliError { context: None, ..e.clone() }.to_text(false);
                    for t in text.lines() {
                        out.line(&format!("  {t}"))?;
                    }
                    out.line("")?;
                }
            }
            None => {
                let sid = l.id.as_deref().unwrap_or_default();
                let explained = engine.explain(sid, Some(&event)).unwrap_or(Json::Null);
                if g.json {
                    let mut m = Map::new();
                    m.insert("line".into(), json!(l.line));
                    m.insert("id".into(), json!(sid));
                    m.insert("loaded".into(), json!(true));
                    match explained {
                        Json::Object(o) => {
                            for (k, v) in o {
                                m.entry(k).or_insert(v);
                            }
                        }
                        other => {
                            m.insert("explain".into(), other);
                        }
                    }
                    out.line(&Json::Object(m).to_string())?;
                } else {
                    out.line(crate::render::subscription(&explained, l.line).trim_end())?;
                    out.line("")?;
                }
            }
        }
    }
    out.flush()?;
    if let Some(want) = id {
        if shown == 0 {
            let mut msg = format!("no subscription has the id {want:?}");
            if unreadable > 0 {
                msg.push_str(&format!(" ({unreadable} line(s) could not be read; it may be one of them)"));
            }
            return Err(CliError::new("unknown_id", msg));
        }
    }
    Ok(status)
}
