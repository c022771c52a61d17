//! Slot routing: which of 16,384 slots a subscription or an event belongs to, so that a
//! cluster of engines can each hold some slots and see only the events that can fire them.
//!
//! A [`Routes`] table names, per event name, one *routing path* (`app/order.paid` →
//! `data.orderId`). An event routes to the slot of its value at that path. A subscription
//! routes to the slots of the values its condition pins that path to: every conjunction of
//! its condition (after binding `event.*` from the trigger) must hold an atom `path == v` or
//! `path in [v, …]` on the routing path; the atom analysis is the index's own
//! ([`crate::index::access`]), so routing never disagrees with what the index files. Anything
//! else (no condition, a path not pinned in some conjunction, an event name with no route) is
//! [`Route::Broadcast`]: tested by every engine that holds the event name.
//!
//! **Slot** = CRC16-XMODEM (polynomial 0x1021, initial value 0, the CRC Redis Cluster uses
//! for `CLUSTER KEYSLOT`) of the value's canonical bytes, modulo 16,384. So the slot of a
//! string value is the Redis Cluster slot of a key equal to that string (without hash tags).
//!
//! **Canonical bytes** of a scalar, chosen so that values CEL calls equal (`1 == 1.0`) get
//! the same bytes:
//! - a string: its UTF-8 bytes;
//! - an int, a uint, or a double with no fractional part and magnitude below 2^64: the
//!   integer in decimal ASCII, `-` for negatives, no leading zeros (`42`, `-7`; `1.0` → `1`,
//!   `-0.0` → `0`);
//! - any other finite double: Rust's `{:e}` form, the shortest digits that read back as the
//!   same double (`0.5` → `5e-1`, `1e300` → `1e300`, `-2.5e-7` → `-2.5e-7`); `inf`, `-inf`;
//! - `true`, `false`, `null` as those words.
//!
//! JSON numbers are read as the engine reads them: integers that fit in i64 are ints, all
//! others doubles. NaN equals nothing, so it has no slot. In an event, a missing routing path (or one that
//! runs through a non-object) reads as `null` (as in the lenient dialect; in the strict one
//! nothing pinned can match it, so any slot is right); a list or object there can only
//! satisfy broadcast subscriptions.

use crate::error::Error;
use crate::eval::Value;
use crate::event::Node;
use crate::frontend::ast::Path;
use crate::index::access::{self, Pred};
use crate::{Engine, Subscription};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The number of slots (as in Redis Cluster).
pub const SLOTS: u16 = 16384;

/// CRC16-XMODEM: polynomial 0x1021, initial value 0, no reflection, no final xor.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The slot of some bytes: `crc16(bytes) mod 16384`.
pub fn slot_of(bytes: &[u8]) -> u16 {
    crc16(bytes) % SLOTS
}

/// Where a subscription or an event goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// These slots, ascending and distinct (one for an event).
    Slots(Vec<u16>),
    /// Every engine holding the event name tests it.
    Broadcast,
}

/// Event name → routing path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    paths: BTreeMap<String, Path>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes events named `event` by the value at `path`, a dotted field path from the root
    /// of the event (`data.orderId`). An empty path, or one with an empty field, is the
    /// error `invalid_subscription`.
    pub fn with(mut self, event: impl Into<String>, path: &str) -> Result<Self, Error> {
        self.insert(event, path)?;
        Ok(self)
    }

    pub fn insert(&mut self, event: impl Into<String>, path: &str) -> Result<(), Error> {
        let fields: Vec<Arc<str>> = path.split('.').map(Arc::from).collect();
        if path.is_empty() || fields.iter().any(|f| f.is_empty()) {
            return Err(Error::invalid_subscription(format!("the routing path {path:?} is not a dotted field path")));
        }
        self.paths.insert(event.into(), fields.into());
        Ok(())
    }

    /// Reads `{"event name": "dotted.path", …}`.
    pub fn from_json(table: &Json) -> Result<Self, Error> {
        let obj = table.as_object().ok_or_else(|| Error::invalid_subscription("a routing table must be a JSON object"))?;
        let mut routes = Routes::new();
        for (event, path) in obj {
            let path = path.as_str().ok_or_else(|| Error::invalid_subscription(format!("the routing path of {event:?} must be a string")))?;
            routes.insert(event.clone(), path)?;
        }
        Ok(routes)
    }

    /// The table as `{"event name": "dotted.path", …}`.
    pub fn to_json(&self) -> Json {
        Json::Object(self.paths.iter().map(|(e, p)| (e.clone(), Json::from(p.join(".")))).collect())
    }

    /// The routing path of an event name, dotted.
    pub fn path(&self, event: &str) -> Option<String> {
        self.paths.get(event).map(|p| p.join("."))
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// The canonical bytes of a scalar (see the module docs), or `None` for NaN and non-scalars.
pub(crate) fn canonical_bytes(v: &Value<'_>) -> Option<Vec<u8>> {
    Some(match v {
        Value::Null => b"null".to_vec(),
        Value::Bool(b) => if *b { b"true".to_vec() } else { b"false".to_vec() },
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::UInt(u) => u.to_string().into_bytes(),
        Value::Double(d) if d.is_nan() => return None,
        Value::Double(d) => match crate::index::integral(*d) {
            Some(i) => i.to_string().into_bytes(),
            None => format!("{d:e}").into_bytes(),
        },
        _ => return None,
    })
}

/// The canonical bytes of a JSON scalar, or `None` for arrays and objects. Exposed so that
/// clients computing slots outside the engine use the same bytes.
pub fn canonical_json_bytes(v: &Json) -> Option<Vec<u8>> {
    match v {
        Json::Array(_) | Json::Object(_) => None,
        // A scalar reads as the engine reads event values (ints that fit i64, else doubles).
        scalar => canonical_bytes(&Value::from_node(&Node::from_json(scalar))),
    }
}

impl Engine {
    /// Where a subscription goes under `routes` (see [`crate::routing`]). Fails as
    /// [`Engine::add`] would for a subscription that does not compile.
    pub fn route(&self, routes: &Routes, sub: &Subscription) -> Result<Route, Error> {
        let Some(path) = routes.paths.get(&sub.event) else { return Ok(Route::Broadcast) };
        let Some(condition) = &sub.condition else { return Ok(Route::Broadcast) };
        let compiled = match &sub.trigger {
            Some(t) => self.compile_bound(condition, t)?,
            None => self.compile(condition)?,
        };
        let Some(conjunctions) = compiled.shape.conjunctions.as_ref() else { return Ok(Route::Broadcast) };
        if conjunctions.is_empty() {
            return Ok(Route::Broadcast);
        }
        let mut slots = BTreeSet::new();
        for atoms in conjunctions {
            // The values this conjunction pins the path to: from one pinning atom (with two,
            // `x == 1 && x == 2`, either set is a superset of the truth, so the first will do).
            let pinned = atoms.iter().find_map(|a| match access::access(a, &compiled.params) {
                Some((p, Pred::Eq(values))) if p == *path => Some(values),
                _ => None,
            });
            let Some(values) = pinned else { return Ok(Route::Broadcast) };
            let bytes: Vec<Vec<u8>> = values.iter().filter_map(canonical_bytes).collect();
            // Only NaN: the conjunction can never hold; keep the subscription reachable (it
            // still has to expire) rather than route it nowhere.
            if bytes.is_empty() {
                return Ok(Route::Broadcast);
            }
            slots.extend(bytes.iter().map(|b| slot_of(b)));
        }
        Ok(Route::Slots(slots.into_iter().collect()))
    }

    /// Where an event goes under `routes`: the slot of its value at the routing path of its
    /// name, or [`Route::Broadcast`] (no route for the name, or a list or object there).
    /// Fails for an event without a name, as [`Engine::process`] would.
    pub fn route_event(&self, routes: &Routes, event: &Json) -> Result<Route, Error> {
        let event = Node::from_json(event);
        let Some(path) = routes.paths.get(self.event_name(&event)?) else { return Ok(Route::Broadcast) };
        // A missing field (or a path through a non-object) reads as null.
        let value = crate::eval::lookup_path(&event, path).map_or(Value::Null, Value::from_node);
        Ok(match canonical_bytes(&value) {
            Some(bytes) => Route::Slots(vec![slot_of(&bytes)]),
            None => Route::Broadcast,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use serde_json::json;

    #[test]
    fn crc16_matches_redis_cluster() {
        // The check value of CRC16-XMODEM, and slots from Redis `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"123456789"), 12739);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b""), 0);
    }

    #[test]
    fn canonical_bytes_make_equal_numbers_alike() {
        let b = |j: Json| String::from_utf8(canonical_json_bytes(&j).unwrap()).unwrap();
        assert_eq!(b(json!(1)), "1");
        assert_eq!(b(json!(1.0)), "1");
        assert_eq!(b(json!(-0.0)), "0");
        assert_eq!(b(json!(-7)), "-7");
        // JSON integers beyond i64 are doubles to the engine: 2^64 - 1 reads as 2^64.
        assert_eq!(b(json!(18446744073709551615u64)), "1.8446744073709552e19");
        assert_eq!(b(json!(9007199254740993i64)), "9007199254740993");
        assert_eq!(b(json!(0.5)), "5e-1");
        assert_eq!(b(json!(1e300)), "1e300");
        assert_eq!(b(json!("ord_1")), "ord_1");
        assert_eq!(b(json!(true)), "true");
        assert_eq!(b(json!(null)), "null");
        assert_eq!(canonical_json_bytes(&json!([1])), None);
        assert_eq!(canonical_bytes(&Value::Double(f64::NAN)), None);
    }

    fn routes() -> Routes {
        Routes::new().with("app/order.paid", "data.orderId").unwrap()
    }

    fn route(cond: &str, trigger: Option<Json>) -> Route {
        let mut s = Subscription::wait("w", "app/order.paid").when(cond);
        s.trigger = trigger;
        Engine::new(Config::default()).route(&routes(), &s).unwrap()
    }

    fn slots(values: &[&str]) -> Route {
        let mut v: Vec<u16> = values.iter().map(|s| slot_of(s.as_bytes())).collect();
        v.sort_unstable();
        v.dedup();
        Route::Slots(v)
    }

    #[test]
    fn pinned_subscriptions_route_to_their_values() {
        assert_eq!(route("async.data.orderId == 'o1'", None), slots(&["o1"]));
        assert_eq!(route("'o1' == async.data.orderId && async.data.amount > 3", None), slots(&["o1"]));
        assert_eq!(route("async.data.orderId in ['o1', 'o2']", None), slots(&["o1", "o2"]));
        assert_eq!(route("async.data.orderId == 'o1' || async.data.orderId == 'o3'", None), slots(&["o1", "o3"]));
        let t = json!({"name": "app/order.created", "data": {"id": "o9"}});
        assert_eq!(route("async.data.orderId == event.data.id", Some(t)), slots(&["o9"]));
        assert_eq!(route("async.data.orderId == 12", None), slots(&["12"]));
    }

    #[test]
    fn unpinned_subscriptions_broadcast() {
        assert_eq!(route("async.data.amount > 3", None), Route::Broadcast);
        assert_eq!(route("async.data.orderId == 'o1' || async.data.amount > 3", None), Route::Broadcast);
        assert_eq!(route("async.data.orderId != 'o1'", None), Route::Broadcast);
        assert_eq!(route("async.data.orderId.startsWith('o')", None), Route::Broadcast);
        let e = Engine::default();
        assert_eq!(e.route(&routes(), &Subscription::wait("w", "app/order.paid")).unwrap(), Route::Broadcast);
        let other = Subscription::wait("w", "app/other").when("async.data.orderId == 'o1'");
        assert_eq!(e.route(&routes(), &other).unwrap(), Route::Broadcast);
    }

    #[test]
    fn events_route_to_the_slot_of_their_value() {
        let e = Engine::default();
        let ev = |data: Json| e.route_event(&routes(), &json!({"name": "app/order.paid", "data": data})).unwrap();
        assert_eq!(ev(json!({"orderId": "o1"})), slots(&["o1"]));
        assert_eq!(ev(json!({"orderId": 12.0})), slots(&["12"]));
        assert_eq!(ev(json!({})), slots(&["null"]));
        assert_eq!(ev(json!({"orderId": ["o1"]})), Route::Broadcast);
        assert_eq!(e.route_event(&routes(), &json!({"name": "app/x"})).unwrap(), Route::Broadcast);
        assert_eq!(e.route_event(&routes(), &json!({"data": 1})).unwrap_err().code(), "invalid_event");
    }

    #[test]
    fn a_subscription_that_does_not_compile_is_an_error() {
        let s = Subscription::wait("w", "app/order.paid").when("async.data.orderId ==");
        assert_eq!(Engine::default().route(&routes(), &s).unwrap_err().code(), "parse_error");
        assert_eq!(Routes::new().with("e", "a..b").unwrap_err().code(), "invalid_subscription");
    }
}
