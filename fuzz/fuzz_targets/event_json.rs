//! Arbitrary bytes as event JSON through `Engine::parse_event` and `Engine::process_bytes`,
//! with the default limits and with tiny ones (so the size and depth limits are reached by
//! short inputs), and the lookback buffer on.
//!
//! Checked: nothing panics; every error is `limit_exceeded` or `invalid_event`; input over
//! the byte limit is `limit_exceeded`; input that parses is within the depth limit; and
//! `process_bytes` agrees with `parse_event` followed by `process` (on a twin engine holding
//! the same subscriptions, since processing consumes them).
#![no_main]

use celmatch::{Config, Dialect, Engine, Error, Fired, Limits, Subscription};
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::OnceLock;

const CONDS: &[Option<&str>] = &[
    None,
    Some("async.data.k == 1"),
    Some("async.data.s.startsWith('a')"),
    Some("async.data.n > 2 && async.data.n <= 10"),
    Some("'vip' in async.data.tags"),
    Some("has(async.data.obj.x)"),
    Some("async.data.s == 'a' || async.data.k in [1, 2, 'x']"),
    Some("async.data.tags.exists(t, t.contains('b'))"),
    Some("size(async.data) > 1"),
    Some("async.id == 'e1'"),
    Some("async.data.d.endsWith('z') || !async.data.flag"),
];

/// An engine holding one wait per pool condition, under three event names.
struct Loaded {
    engine: Engine,
    subs: HashMap<String, Subscription>,
}

impl Loaded {
    fn new(dialect: Dialect, limits: Limits) -> Loaded {
        let engine = Engine::new(Config { dialect, limits, lookback_max_events: 4, ..Config::default() });
        let mut subs = HashMap::new();
        for (i, c) in CONDS.iter().enumerate() {
            for name in ["app/e", "e", "x"] {
                let mut s = Subscription::wait(format!("{name}{i}"), name);
                if let Some(c) = c {
                    s = s.when(*c);
                }
                engine.add(s.clone()).expect("pool condition");
                subs.insert(s.id.clone(), s);
            }
        }
        Loaded { engine, subs }
    }

    /// Puts back what an event consumed, so every input meets the same subscriptions.
    fn restore(&self, fired: &Result<Vec<Fired>, Error>) {
        for f in fired.iter().flatten() {
            assert_eq!(self.engine.add(self.subs[&f.id].clone()).expect("re-add"), None);
        }
        assert_eq!(self.engine.len(), self.subs.len());
    }
}

/// The engines are built once (compiling the pool per input would dominate the run) and
/// restored after every input; only the lookback buffer and error counts carry over, and
/// neither changes what `process` returns here.
fn engines() -> &'static [(Loaded, Loaded, Limits); 4] {
    static ENGINES: OnceLock<[(Loaded, Loaded, Limits); 4]> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let tiny = Limits { max_event_bytes: 64, max_event_depth: 3, ..Limits::default() };
        [(Dialect::Strict, Limits::default()), (Dialect::Lenient, Limits::default()), (Dialect::Strict, tiny.clone()), (Dialect::Lenient, tiny)]
            .map(|(d, l)| (Loaded::new(d, l.clone()), Loaded::new(d, l.clone()), l))
    })
}

/// Deepest nesting of arrays and objects in a parsed value.
fn depth(v: &Json) -> usize {
    match v {
        Json::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Json::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn run(data: &[u8], a: &Loaded, b: &Loaded, limits: &Limits) {
    let parsed = a.engine.parse_event(data);
    match &parsed {
        Ok(v) => assert!(depth(v) <= limits.max_event_depth, "parsed an event deeper than the limit"),
        Err(e) => {
            assert!(matches!(e.code(), "limit_exceeded" | "invalid_event"), "parse_event error code {:?}: {e}", e.code());
            if data.len() > limits.max_event_bytes {
                assert_eq!(e.code(), "limit_exceeded", "{} bytes over the {}-byte limit: {e}", data.len(), limits.max_event_bytes);
            }
        }
    }
    let by_bytes = a.engine.process_bytes(data);
    if let Err(e) = &by_bytes {
        assert!(matches!(e.code(), "limit_exceeded" | "invalid_event"), "process_bytes error code {:?}: {e}", e.code());
    }
    let by_value = match &parsed {
        Ok(v) => b.engine.process(v),
        Err(e) => Err(e.clone()),
    };
    match (&by_bytes, &by_value) {
        (Ok(x), Ok(y)) => assert_eq!(x, y, "process_bytes and process disagree"),
        (Err(x), Err(y)) => assert_eq!(x.code(), y.code(), "process_bytes and process disagree: {x} / {y}"),
        _ => panic!("process_bytes {by_bytes:?} but parse_event + process {by_value:?}"),
    }
    if let Ok(v) = &parsed {
        let _ = a.engine.explain("app/e1", Some(v));
        let _ = a.engine.claim_event_id(v, 1000);
        a.engine.expire(Some(i64::MAX)).unwrap(); // drops the claim again
    }
    a.restore(&by_bytes);
    b.restore(&by_value);
}

fuzz_target!(|data: &[u8]| {
    for (a, b, limits) in engines() {
        run(data, a, b, limits);
    }
});
