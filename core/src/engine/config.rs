//! Engine configuration.

use super::clock::{Clock, ManualClock, SystemClock};
use super::durable::Durability;
use super::record::{check_keys, field};
use super::subscription::{parse_duration_ms, parse_time_ms};
use crate::{Dialect, Error, Limits};
use serde_json::{Map, Value as Json};
use std::fmt;
use std::sync::Arc;

/// Which event fields carry the name, the id and the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFields {
    pub name: String,
    pub id: String,
    /// Epoch milliseconds or an RFC 3339 string.
    pub time: String,
}

impl EventFields {
    /// Inngest-style events: `{name, data, id, ts, v, user}`.
    pub fn inngest() -> Self {
        EventFields { name: "name".into(), id: "id".into(), time: "ts".into() }
    }
    /// CloudEvents: `{type, source, id, time, data}`.
    pub fn cloudevents() -> Self {
        EventFields { name: "type".into(), id: "id".into(), time: "time".into() }
    }
}

impl Default for EventFields {
    fn default() -> Self {
        Self::inngest()
    }
}

/// `lookback_max_events` when a binding's lookback settings turn the buffer on without a
/// count: one default for every binding.
pub const DEFAULT_LOOKBACK_EVENTS: usize = 10_000;

/// How an [`Engine`](crate::Engine) reads events, what it keeps and what it accepts.
#[derive(Clone)]
pub struct Config {
    pub dialect: Dialect,
    pub limits: Limits,
    pub fields: EventFields,
    /// Lookback buffer, per event name: events older than this are dropped…
    pub lookback_max_age_ms: i64,
    /// …as are the oldest past this count (0 turns lookback off)…
    pub lookback_max_events: usize,
    /// …or past this many bytes of event JSON.
    pub lookback_max_bytes: usize,
    /// Most idempotency claims held at once; past it, expired ones are reclaimed and then
    /// new claims fail with `limit_exceeded`.
    pub max_claims: usize,
    /// When a cancellation fires, also remove every other subscription of its owner.
    pub cancel_removes_owner: bool,
    /// What a commit of a durable engine ([`Engine::open`](crate::Engine::open)) survives.
    pub durability: Durability,
    pub clock: Arc<dyn Clock>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dialect: Dialect::Strict,
            limits: Limits::default(),
            fields: EventFields::default(),
            lookback_max_age_ms: 5 * 60 * 1000,
            lookback_max_events: 0,
            lookback_max_bytes: 16 << 20,
            max_claims: 10_000_000,
            cancel_removes_owner: false,
            durability: Durability::Process,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("dialect", &self.dialect)
            .field("limits", &self.limits)
            .field("fields", &self.fields)
            .field("lookback_max_age_ms", &self.lookback_max_age_ms)
            .field("lookback_max_events", &self.lookback_max_events)
            .field("lookback_max_bytes", &self.lookback_max_bytes)
            .field("max_claims", &self.max_claims)
            .field("cancel_removes_owner", &self.cancel_removes_owner)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// The keys of a configuration record, each with its other accepted spellings (the first is
/// the canonical one; camelCase is what the Node binding documents).
const CONFIG_KEYS: [&[&str]; 8] = [
    &["dialect"],
    &["lookback"],
    &["limits"],
    &["event_fields", "eventFields"],
    &["cancel_removes_owner", "cancelRemovesOwner"],
    &["max_claims", "maxClaims"],
    &["durability"],
    &["now"],
];

const LOOKBACK_KEYS: [&[&str]; 3] = [&["max_age", "maxAgeMs"], &["max_events", "maxEvents"], &["max_bytes", "maxBytes"]];

const LIMIT_KEYS: [&[&str]; 5] = [
    &["max_expr_bytes", "maxExprBytes"],
    &["max_depth", "maxDepth"],
    &["max_conjunctions", "maxConjunctions"],
    &["max_event_bytes", "maxEventBytes"],
    &["max_event_depth", "maxEventDepth"],
];

const EVENT_FIELD_KEYS: [&[&str]; 3] = [&["name"], &["id"], &["time"]];

/// A configuration record read by [`Config::read_record`]: the configuration, and what a
/// binding needs to know of how it was given.
#[derive(Clone, Debug)]
pub struct ConfigRecord {
    /// Every setting, the record's or the default.
    pub config: Config,
    /// The manual clock started at the record's `now`, if it had one (`config.clock` is it).
    pub clock: Option<Arc<ManualClock>>,
    /// Whether the record named a `durability` (which only a durable engine uses).
    pub durability_given: bool,
}

impl Config {
    /// Reads a configuration record: the one place where every binding's engine options are
    /// parsed, validated and given their defaults. The shape (every key optional; `null` is
    /// absent; camelCase spellings such as `eventFields` are accepted too):
    ///
    /// ```json
    /// {"dialect": "strict" | "lenient",
    ///  "lookback": {"max_age": 300000, "max_events": 10000, "max_bytes": 16777216},
    ///  "limits": {"max_expr_bytes": 16384, "max_depth": 64, "max_conjunctions": 64,
    ///             "max_event_bytes": 1048576, "max_event_depth": 64},
    ///  "event_fields": "inngest" | "cloudevents" | {"name": "name", "id": "id", "time": "ts"},
    ///  "cancel_removes_owner": false, "max_claims": 10000000,
    ///  "durability": "process" | "power", "now": 1700000000000}
    /// ```
    ///
    /// Durations follow the rule of subscription records: milliseconds (a non-negative
    /// number) or a duration string (`"5m"`); `now` (which starts a [`ManualClock`]) is epoch
    /// milliseconds or an RFC 3339 time. Giving `lookback` (even `{}`) turns the buffer on,
    /// with the defaults of [`Config::default`] and [`DEFAULT_LOOKBACK_EVENTS`] events;
    /// `max_events: 0` turns it off. Counts and sizes are non-negative integers.
    ///
    /// Nothing is silently accepted: an unknown key (with "did you mean" for a near miss), a
    /// key given in two spellings, or a value of the wrong type or range is the error
    /// `invalid_config`, naming the key.
    pub fn from_record(record: &Json) -> Result<Config, Error> {
        Config::read_record(record).map(|r| r.config)
    }

    /// [`Config::from_record`], also telling whether the record started a manual clock
    /// (`now`) and named a durability.
    pub fn read_record(record: &Json) -> Result<ConfigRecord, Error> {
        let obj = object(record, "the engine configuration")?;
        check_keys(obj, &CONFIG_KEYS, "the engine configuration").map_err(Error::invalid_config)?;
        let mut config = Config::default();
        let mut clock = None;
        if let Some((key, v)) = field(obj, &["dialect"]) {
            config.dialect = match v.as_str() {
                Some("strict") => Dialect::Strict,
                Some("lenient") => Dialect::Lenient,
                _ => return Err(bad(key, v, "\"strict\" or \"lenient\"")),
            };
        }
        if let Some((key, v)) = field(obj, &["lookback"]) {
            let lb = object(v, key)?;
            check_keys(lb, &LOOKBACK_KEYS, key).map_err(Error::invalid_config)?;
            config.lookback_max_events = DEFAULT_LOOKBACK_EVENTS;
            if let Some((k, v)) = field(lb, LOOKBACK_KEYS[0]) {
                config.lookback_max_age_ms = duration(&format!("{key}.{k}"), v)?;
            }
            if let Some((k, v)) = field(lb, LOOKBACK_KEYS[1]) {
                config.lookback_max_events = count(&format!("{key}.{k}"), v)?;
            }
            if let Some((k, v)) = field(lb, LOOKBACK_KEYS[2]) {
                config.lookback_max_bytes = count(&format!("{key}.{k}"), v)?;
            }
        }
        if let Some((key, v)) = field(obj, &["limits"]) {
            let l = object(v, key)?;
            check_keys(l, &LIMIT_KEYS, key).map_err(Error::invalid_config)?;
            let slots = [
                &mut config.limits.max_expr_bytes,
                &mut config.limits.max_depth,
                &mut config.limits.max_conjunctions,
                &mut config.limits.max_event_bytes,
                &mut config.limits.max_event_depth,
            ];
            for (names, slot) in LIMIT_KEYS.iter().zip(slots) {
                if let Some((k, v)) = field(l, names) {
                    *slot = count(&format!("{key}.{k}"), v)?;
                }
            }
        }
        if let Some((key, v)) = field(obj, CONFIG_KEYS[3]) {
            config.fields = match v {
                Json::String(s) if s == "inngest" => EventFields::inngest(),
                Json::String(s) if s == "cloudevents" => EventFields::cloudevents(),
                Json::Object(m) => {
                    check_keys(m, &EVENT_FIELD_KEYS, key).map_err(Error::invalid_config)?;
                    let mut f = EventFields::inngest();
                    for (names, slot) in EVENT_FIELD_KEYS.iter().zip([&mut f.name, &mut f.id, &mut f.time]) {
                        if let Some((k, v)) = field(m, names) {
                            *slot = v.as_str().filter(|s| !s.is_empty()).ok_or_else(|| bad(&format!("{key}.{k}"), v, "a non-empty string"))?.to_owned();
                        }
                    }
                    f
                }
                _ => return Err(bad(key, v, "\"inngest\", \"cloudevents\" or an object {name, id, time}")),
            };
        }
        if let Some((key, v)) = field(obj, CONFIG_KEYS[4]) {
            config.cancel_removes_owner = v.as_bool().ok_or_else(|| bad(key, v, "a boolean"))?;
        }
        if let Some((key, v)) = field(obj, CONFIG_KEYS[5]) {
            config.max_claims = count(key, v)?;
        }
        let durability = field(obj, &["durability"]);
        if let Some((key, v)) = durability {
            config.durability = match v.as_str() {
                Some("process") => Durability::Process,
                Some("power") => Durability::Power,
                _ => return Err(bad(key, v, "\"process\" or \"power\"")),
            };
        }
        if let Some((key, v)) = field(obj, &["now"]) {
            let t = parse_time_ms(v).ok_or_else(|| bad(key, v, "epoch milliseconds or an RFC 3339 time"))?;
            let c = Arc::new(ManualClock::new(t));
            config.clock = c.clone();
            clock = Some(c);
        }
        Ok(ConfigRecord { config, clock, durability_given: durability.is_some() })
    }
}

/// A `Config` deserializes from a configuration record (any serde format: JSON, TOML, …) by
/// [`Config::from_record`], so unknown keys are refused the same way (the serde error's text
/// is the `invalid_config` message).
impl<'de> serde::Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let record = Json::deserialize(d)?;
        Config::from_record(&record).map_err(|e| serde::de::Error::custom(format!("invalid_config: {}", e.message())))
    }
}

fn object<'a>(v: &'a Json, what: &str) -> Result<&'a Map<String, Json>, Error> {
    v.as_object().ok_or_else(|| bad(what, v, "an object"))
}

/// `"<key>" must be <expected>, not <value>`.
fn bad(key: &str, v: &Json, expected: &str) -> Error {
    let mut shown = v.to_string();
    if shown.chars().count() > 60 {
        shown = format!("{}…", shown.chars().take(60).collect::<String>());
    }
    Error::invalid_config(format!("{key:?} must be {expected}, not {shown}"))
}

/// A count or size: a non-negative integer.
fn count(key: &str, v: &Json) -> Result<usize, Error> {
    v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| bad(key, v, "a non-negative integer"))
}

/// A duration: non-negative milliseconds or a duration string such as `"5m"`.
fn duration(key: &str, v: &Json) -> Result<i64, Error> {
    match v {
        Json::Number(n) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.2e18).map(|f| f.round() as i64),
        Json::String(s) => parse_duration_ms(s),
        _ => None,
    }
    .ok_or_else(|| bad(key, v, "non-negative milliseconds or a duration such as \"5m\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Json) -> Error {
        Config::from_record(&v).unwrap_err()
    }

    #[test]
    fn empty_record_is_the_default() {
        let c = Config::from_record(&json!({})).unwrap();
        let d = Config::default();
        assert_eq!((c.dialect, &c.limits, &c.fields, c.lookback_max_events, c.max_claims), (d.dialect, &d.limits, &d.fields, d.lookback_max_events, d.max_claims));
        assert_eq!((c.lookback_max_age_ms, c.lookback_max_bytes, c.cancel_removes_owner, c.durability), (d.lookback_max_age_ms, d.lookback_max_bytes, d.cancel_removes_owner, d.durability));
        // Nulls are absent keys.
        let n = Config::read_record(&json!({"dialect": null, "lookback": null, "now": null})).unwrap();
        assert_eq!(n.config.lookback_max_events, 0);
        assert!(n.clock.is_none() && !n.durability_given);
    }

    #[test]
    fn every_key_in_both_spellings() {
        let snake = json!({
            "dialect": "lenient",
            "lookback": {"max_age": "90s", "max_events": 5, "max_bytes": 1000},
            "limits": {"max_expr_bytes": 1, "max_depth": 2, "max_conjunctions": 3, "max_event_bytes": 4, "max_event_depth": 5},
            "event_fields": {"name": "topic", "time": "at"},
            "cancel_removes_owner": true,
            "max_claims": 7,
            "durability": "power",
            "now": "2023-11-14T22:13:20Z",
        });
        let camel = json!({
            "dialect": "lenient",
            "lookback": {"maxAgeMs": 90000, "maxEvents": 5, "maxBytes": 1000},
            "limits": {"maxExprBytes": 1, "maxDepth": 2, "maxConjunctions": 3, "maxEventBytes": 4, "maxEventDepth": 5},
            "eventFields": {"name": "topic", "time": "at"},
            "cancelRemovesOwner": true,
            "maxClaims": 7,
            "durability": "power",
            "now": 1_700_000_000_000i64,
        });
        for record in [snake, camel] {
            let r = Config::read_record(&record).unwrap();
            let c = &r.config;
            assert_eq!(c.dialect, Dialect::Lenient);
            assert_eq!((c.lookback_max_age_ms, c.lookback_max_events, c.lookback_max_bytes), (90_000, 5, 1000));
            assert_eq!(c.limits, Limits { max_expr_bytes: 1, max_depth: 2, max_conjunctions: 3, max_event_bytes: 4, max_event_depth: 5 });
            assert_eq!(c.fields, EventFields { name: "topic".into(), id: "id".into(), time: "at".into() });
            assert!(c.cancel_removes_owner);
            assert_eq!(c.max_claims, 7);
            assert_eq!(c.durability, Durability::Power);
            assert!(r.durability_given);
            assert_eq!(r.clock.as_ref().map(|k| k.now_ms()), Some(1_700_000_000_000));
            assert_eq!(c.clock.now_ms(), 1_700_000_000_000);
        }
    }

    #[test]
    fn deserializes_through_the_same_path() {
        let c: Config = serde_json::from_str(r#"{"dialect": "lenient", "lookback": {"max_age": "2m"}}"#).unwrap();
        assert_eq!((c.dialect, c.lookback_max_age_ms, c.lookback_max_events), (Dialect::Lenient, 120_000, DEFAULT_LOOKBACK_EVENTS));
        let e = serde_json::from_str::<Config>(r#"{"limits": {"max_dpeth": 3}}"#).unwrap_err().to_string();
        assert!(e.contains("invalid_config") && e.contains("did you mean \"max_depth\""), "{e}");
    }

    #[test]
    fn lookback_turns_the_buffer_on_with_one_set_of_defaults() {
        let c = Config::from_record(&json!({"lookback": {}})).unwrap();
        assert_eq!(c.lookback_max_events, DEFAULT_LOOKBACK_EVENTS);
        assert_eq!((c.lookback_max_age_ms, c.lookback_max_bytes), (Config::default().lookback_max_age_ms, Config::default().lookback_max_bytes));
        assert_eq!(Config::from_record(&json!({"lookback": {"max_events": 0}})).unwrap().lookback_max_events, 0);
        assert_eq!(Config::from_record(&json!({"lookback": {"max_age": 1500.4}})).unwrap().lookback_max_age_ms, 1500);
        assert_eq!(Config::from_record(&json!({"event_fields": "cloudevents"})).unwrap().fields, EventFields::cloudevents());
    }

    #[test]
    fn unknown_keys_are_invalid_config_naming_the_key() {
        let e = err(json!({"dialcet": "strict"}));
        assert_eq!(e.code(), "invalid_config");
        assert!(e.message().contains("\"dialcet\"") && e.message().contains("did you mean \"dialect\""), "{}", e.message());
        let e = err(json!({"lookback": {"max_event": 3}}));
        assert!(e.message().contains("\"max_event\" in lookback") && e.message().contains("did you mean \"max_events\""), "{}", e.message());
        let e = err(json!({"limits": {"maxDepht": 3}}));
        assert!(e.message().contains("\"maxDepht\" in limits") && e.message().contains("did you mean \"maxDepth\""), "{}", e.message());
        let e = err(json!({"eventFields": {"nmae": "x"}}));
        assert!(e.message().contains("did you mean \"name\""), "{}", e.message());
        let e = err(json!({"typo": true}));
        assert!(!e.message().contains("did you mean") && e.message().contains("known: dialect, lookback"), "{}", e.message());
        let e = err(json!({"max_claims": 1, "maxClaims": 2}));
        assert_eq!(e.code(), "invalid_config");
        assert!(e.message().contains("max_claims / maxClaims"), "{}", e.message());
    }

    #[test]
    fn bad_values_are_invalid_config_naming_the_key() {
        for (record, key) in [
            (json!("strict"), "the engine configuration"),
            (json!({"dialect": "loose"}), "dialect"),
            (json!({"dialect": 1}), "dialect"),
            (json!({"lookback": 60}), "lookback"),
            (json!({"lookback": {"max_age": -1}}), "lookback.max_age"),
            (json!({"lookback": {"maxAgeMs": "ages"}}), "lookback.maxAgeMs"),
            (json!({"lookback": {"max_events": -1}}), "lookback.max_events"),
            (json!({"lookback": {"max_bytes": 1.5}}), "lookback.max_bytes"),
            (json!({"limits": {"max_depth": "deep"}}), "limits.max_depth"),
            (json!({"limits": [1]}), "limits"),
            (json!({"event_fields": "kafka"}), "event_fields"),
            (json!({"eventFields": {"name": 1}}), "eventFields.name"),
            (json!({"event_fields": {"name": ""}}), "event_fields.name"),
            (json!({"cancel_removes_owner": "yes"}), "cancel_removes_owner"),
            (json!({"maxClaims": -5}), "maxClaims"),
            (json!({"durability": "sometimes"}), "durability"),
            (json!({"now": "yesterday"}), "now"),
        ] {
            let e = err(record.clone());
            assert_eq!(e.code(), "invalid_config", "{record}");
            assert!(e.message().starts_with(&format!("{key:?} must be")), "{record}: {}", e.message());
        }
    }
}
