//! Subscriptions as callers describe them, and what firing one reports.

use super::record::{check_keys, field};
use crate::event::Node;
use crate::Error;
use serde::Serialize;
use serde_json::Value as Json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Wait-for-event: resumes a run.
    Wait,
    /// Cancellation rule: cancels a run.
    Cancel,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Wait => "wait",
            Kind::Cancel => "cancel",
        }
    }
}

/// A pending interest in an event.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub kind: Kind,
    /// The event name it waits for.
    pub event: String,
    /// A CEL condition: `async` is the incoming event, `event` the trigger.
    pub condition: Option<String>,
    /// The owner's trigger event; `event.*` in the condition is bound from it.
    pub trigger: Option<Json>,
    pub owner: Option<String>,
    /// Absolute deadline, epoch milliseconds.
    pub deadline_ms: Option<i64>,
    /// Deadline relative to the engine clock at the time of adding.
    pub timeout_ms: Option<i64>,
    /// Events whose time is before this do not fire it.
    pub not_before_ms: Option<i64>,
    /// An event with this id never fires it (a run is never resumed by its own trigger).
    pub exclude_event_id: Option<String>,
    /// Waits only: first test the buffered events of this many past milliseconds.
    pub lookback_ms: Option<i64>,
}

impl Subscription {
    fn new(id: impl Into<String>, kind: Kind, event: impl Into<String>) -> Self {
        Subscription {
            id: id.into(),
            kind,
            event: event.into(),
            condition: None,
            trigger: None,
            owner: None,
            deadline_ms: None,
            timeout_ms: None,
            not_before_ms: None,
            exclude_event_id: None,
            lookback_ms: None,
        }
    }
    pub fn wait(id: impl Into<String>, event: impl Into<String>) -> Self {
        Self::new(id, Kind::Wait, event)
    }
    pub fn cancel(id: impl Into<String>, event: impl Into<String>) -> Self {
        Self::new(id, Kind::Cancel, event)
    }
    pub fn when(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }
    pub fn with_trigger(mut self, trigger: Json) -> Self {
        self.trigger = Some(trigger);
        self
    }
    pub fn with_owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
    pub fn with_deadline_ms(mut self, t: i64) -> Self {
        self.deadline_ms = Some(t);
        self
    }
    pub fn with_timeout_ms(mut self, t: i64) -> Self {
        self.timeout_ms = Some(t);
        self
    }
    pub fn with_not_before_ms(mut self, t: i64) -> Self {
        self.not_before_ms = Some(t);
        self
    }
    pub fn with_exclude_event_id(mut self, id: impl Into<String>) -> Self {
        self.exclude_event_id = Some(id.into());
        self
    }
    pub fn with_lookback_ms(mut self, t: i64) -> Self {
        self.lookback_ms = Some(t);
        self
    }

    /// The record form of this subscription (the inverse of [`Subscription::from_record`]):
    /// `{"id", "kind", "event", "if", "trigger", "owner", "deadline", "timeout",
    /// "not_before", "exclude_event_id", "lookback"}` with absent fields left out, times in
    /// epoch milliseconds and spans in milliseconds.
    pub fn to_record(&self) -> Json {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("kind".into(), self.kind.as_str().into());
        m.insert("event".into(), self.event.clone().into());
        let mut put = |k: &str, v: Option<Json>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("if", self.condition.clone().map(Json::from));
        put("trigger", self.trigger.clone());
        put("owner", self.owner.clone().map(Json::from));
        put("deadline", self.deadline_ms.map(Json::from));
        put("timeout", self.timeout_ms.map(Json::from));
        put("not_before", self.not_before_ms.map(Json::from));
        put("exclude_event_id", self.exclude_event_id.clone().map(Json::from));
        put("lookback", self.lookback_ms.map(Json::from));
        Json::Object(m)
    }

    /// Reads the record shape shared by the CLI's NDJSON, Python's `add_many` and Node's
    /// `addMany`: `{"id", "kind": "wait"|"cancel", "event", "if", "trigger", "owner",
    /// "deadline", "not_before", "timeout", "lookback", "exclude_event_id"}`. Times are epoch
    /// milliseconds or RFC 3339 strings; `timeout` and `lookback` are milliseconds or duration
    /// strings (`"30m"`, `"2.5d"`). camelCase spellings (`notBefore`) are accepted too.
    ///
    /// Nothing is silently accepted: an unknown key (a typo such as `"iff"` would otherwise
    /// turn into "no condition: match everything"), a key given in both spellings, or a
    /// negative `timeout` or `lookback` is the error `invalid_subscription`.
    pub fn from_record(record: &Json) -> Result<Subscription, Error> {
        let obj = record.as_object().ok_or_else(|| Error::invalid_subscription("a subscription must be a JSON object"))?;
        check_keys(obj, &RECORD_KEYS, "a subscription record").map_err(Error::invalid_subscription)?;
        let get = |names: &[&str]| field(obj, names).map(|(_, v)| v);
        let string = |names: &[&str]| -> Result<Option<String>, Error> {
            match get(names) {
                None => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::invalid_subscription(format!("\"{}\" must be a string", names[0]))),
            }
        };
        let time = |names: &[&str]| -> Result<Option<i64>, Error> {
            get(names)
                .map(|v| parse_time_ms(v).ok_or_else(|| Error::invalid_subscription(format!("\"{}\" must be epoch milliseconds or an RFC 3339 time", names[0]))))
                .transpose()
        };
        let span = |names: &[&str]| -> Result<Option<i64>, Error> {
            get(names)
                .map(|v| {
                    match v {
                        Json::Number(n) => n.as_f64().map(|f| f as i64),
                        Json::String(s) => parse_duration_ms(s),
                        _ => None,
                    }
                    .ok_or_else(|| Error::invalid_subscription(format!("\"{}\" must be milliseconds or a duration like \"30m\"", names[0])))
                })
                .transpose()
        };
        let id = string(&["id"])?.ok_or_else(|| Error::invalid_subscription("missing \"id\""))?;
        let event = string(&["event"])?.ok_or_else(|| Error::invalid_subscription("missing \"event\""))?;
        let kind = match string(&["kind"])?.as_deref() {
            None | Some("wait") => Kind::Wait,
            Some("cancel") => Kind::Cancel,
            Some(k) => return Err(Error::invalid_subscription(format!("unknown kind {k:?} (wait or cancel)"))),
        };
        let trigger = match get(&["trigger"]) {
            None => None,
            Some(t @ Json::Object(_)) => Some(t.clone()),
            Some(_) => return Err(Error::invalid_subscription("\"trigger\" must be an object")),
        };
        Ok(Subscription {
            id,
            kind,
            event,
            condition: string(&["if", "condition"])?,
            trigger,
            owner: string(&["owner"])?,
            deadline_ms: time(&["deadline"])?,
            timeout_ms: span(&["timeout"])?,
            not_before_ms: time(&["not_before", "notBefore"])?,
            exclude_event_id: string(&["exclude_event_id", "excludeEventId"])?,
            lookback_ms: span(&["lookback"])?,
        })
    }
}

/// A `Subscription` deserializes from its record (any serde format) by
/// [`Subscription::from_record`], refusing unknown keys the same way (the serde error's text is
/// the `invalid_subscription` message).
impl<'de> serde::Deserialize<'de> for Subscription {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let record = Json::deserialize(d)?;
        Subscription::from_record(&record).map_err(|e| serde::de::Error::custom(format!("invalid_subscription: {}", e.message())))
    }
}

/// The keys of a subscription record, each with its other accepted spellings.
const RECORD_KEYS: [&[&str]; 11] = [
    &["id"],
    &["kind"],
    &["event"],
    &["if", "condition"],
    &["trigger"],
    &["owner"],
    &["deadline"],
    &["timeout"],
    &["not_before", "notBefore"],
    &["exclude_event_id", "excludeEventId"],
    &["lookback"],
];

/// A subscription that an event satisfied (or a lookback hit). It has been consumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fired {
    pub id: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Epoch milliseconds from a number (milliseconds) or an RFC 3339 string.
pub fn parse_time_ms(v: &Json) -> Option<i64> {
    node_time_ms(&Node::from_json(v))
}

/// [`parse_time_ms`] on the event view.
pub(crate) fn node_time_ms(v: &Node<'_>) -> Option<i64> {
    match v {
        Node::Int(i) => Some(*i),
        Node::Double(f) => Some(*f).filter(|f| f.is_finite()).map(|f| f as i64),
        Node::Str(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// Milliseconds in a duration string as workflow SDKs write them: `"500ms"`, `"90s"`, `"30m"`,
/// `"1h30m"`, `"2.5d"`, `"7d"`, `"1w"`.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ms" => 1.0,
            "s" | "sec" => 1e3,
            "m" | "min" => 60e3,
            "h" => 3600e3,
            "d" => 86400e3,
            "w" => 7.0 * 86400e3,
            _ => return None,
        };
        rest = &rest[u_end..];
        total += n * unit;
    }
    (total.is_finite() && total < 9.2e18).then_some(total.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_round_trip() {
        let s = Subscription::cancel("c1", "app/user.deleted")
            .when("async.data.userId == event.data.userId")
            .with_trigger(json!({"data": {"userId": "u1"}}))
            .with_owner("run-1")
            .with_deadline_ms(1_700_000_000_000)
            .with_not_before_ms(1_600_000_000_000)
            .with_exclude_event_id("e1");
        assert_eq!(Subscription::from_record(&s.to_record()).unwrap(), s);
        let w = Subscription::wait("w", "app/x").with_timeout_ms(5000).with_lookback_ms(60_000);
        assert_eq!(w.to_record(), json!({"id": "w", "kind": "wait", "event": "app/x", "timeout": 5000, "lookback": 60000}));
        assert_eq!(Subscription::from_record(&w.to_record()).unwrap(), w);
    }

    #[test]
    fn deserializes_through_from_record() {
        let s: Subscription = serde_json::from_str(r#"{"id": "w", "event": "app/x", "timeout": "30s"}"#).unwrap();
        assert_eq!(s, Subscription::wait("w", "app/x").with_timeout_ms(30_000));
        let e = serde_json::from_str::<Subscription>(r#"{"id": "w", "event": "app/x", "iff": "true"}"#).unwrap_err().to_string();
        assert!(e.contains("invalid_subscription") && e.contains("did you mean \"if\""), "{e}");
    }

    #[test]
    fn unknown_and_doubled_keys_are_errors() {
        let err = Subscription::from_record(&json!({"id": "w", "event": "app/x", "iff": "true"})).unwrap_err();
        assert_eq!(err.code(), "invalid_subscription");
        assert!(err.message().contains("\"iff\"") && err.message().contains("did you mean \"if\""), "{}", err.message());
        let err = Subscription::from_record(&json!({"id": "w", "event": "app/x", "Owner": "r"})).unwrap_err();
        assert!(err.message().contains("did you mean \"owner\""), "{}", err.message());
        let err = Subscription::from_record(&json!({"id": "w", "event": "app/x", "if": "true", "condition": "false"})).unwrap_err();
        assert!(err.message().contains("if / condition"), "{}", err.message());
        let err = Subscription::from_record(&json!({"id": "w", "event": "app/x", "zzz": 1})).unwrap_err();
        assert!(!err.message().contains("did you mean"), "{}", err.message());
    }
}
