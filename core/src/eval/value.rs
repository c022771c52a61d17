//! CEL values. A value borrows from the event view (`'a`) where it can, so reading
//! `async.data.id` copies nothing: lists and maps of the event stay in the view until iterated.

use crate::event::{entry, sorted_keys, Node};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Str<'a>),
    Bytes(Arc<[u8]>),
    List(List<'a>),
    Map(Map<'a>),
    Timestamp(DateTime<Utc>),
    Duration(TimeDelta),
    Type(&'static str),
    /// An optional value: `optional.of(x)` or `optional.none()`. Never read from an event.
    Optional(Option<Box<Value<'a>>>),
    /// An IP address (`ip("10.0.0.1")`, the network extension).
    Ip(IpAddr),
    /// A network, address and prefix length (`cidr("10.0.0.0/8")`); the address is kept as
    /// written, `masked()` clears its host bits.
    Cidr(IpAddr, u8),
}

/// A string borrowed from the event or shared with a literal.
#[derive(Clone, Debug)]
pub enum Str<'a> {
    Borrowed(&'a str),
    Shared(Arc<str>),
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Shared(s) => s,
        }
    }
}

#[derive(Clone, Debug)]
pub enum List<'a> {
    Event(&'a [Node<'a>]),
    Owned(Arc<Vec<Value<'a>>>),
}

#[derive(Clone, Debug)]
pub enum Map<'a> {
    Event(&'a [(Cow<'a, str>, Node<'a>)]),
    /// Map literals are small; a vector keeps insertion order and needs no hashing.
    Owned(Arc<Vec<(Value<'a>, Value<'a>)>>),
}

impl<'a> List<'a> {
    pub fn len(&self) -> usize {
        match self {
            List::Event(l) => l.len(),
            List::Owned(l) => l.len(),
        }
    }
    pub fn get(&self, i: usize) -> Option<Value<'a>> {
        match self {
            List::Event(l) => l.get(i).map(Value::from_node),
            List::Owned(l) => l.get(i).cloned(),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + '_ {
        (0..self.len()).map(move |i| self.get(i).expect("index in range"))
    }
}

impl<'a> Map<'a> {
    pub fn len(&self) -> usize {
        match self {
            // A key written twice is one entry (the last).
            Map::Event(m) => sorted_keys(m).len(),
            Map::Owned(m) => m.len(),
        }
    }
    pub fn get(&self, key: &Value<'_>) -> Option<Value<'a>> {
        match self {
            Map::Event(m) => match key {
                Value::Str(s) => entry(m, s).map(Value::from_node),
                _ => None,
            },
            Map::Owned(m) => m.iter().find(|(k, _)| k.equals(key)).map(|(_, v)| v.clone()),
        }
    }
    pub fn get_str(&self, key: &str) -> Option<Value<'a>> {
        match self {
            Map::Event(m) => entry(m, key).map(Value::from_node),
            Map::Owned(m) => m.iter().find(|(k, _)| matches!(k, Value::Str(s) if &**s == key)).map(|(_, v)| v.clone()),
        }
    }
    pub fn keys(&self) -> Vec<Value<'a>> {
        match self {
            Map::Event(m) => sorted_keys(m).into_iter().map(|k| Value::Str(Str::Borrowed(k))).collect(),
            Map::Owned(m) => m.iter().map(|(k, _)| k.clone()).collect(),
        }
    }
}

impl<'a> Value<'a> {
    /// JSON integers that fit in i64 are `int`, every other number is `double`.
    pub fn from_node(n: &'a Node<'a>) -> Value<'a> {
        match n {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Int(*i),
            Node::Double(d) => Value::Double(*d),
            Node::Str(s) => Value::Str(Str::Borrowed(s)),
            Node::List(l) => Value::List(List::Event(l)),
            Node::Map(m) => Value::Map(Map::Event(m)),
        }
    }

    /// An owned copy that borrows nothing (used to store literals and trigger values).
    pub fn from_json_owned(j: &Json) -> Value<'static> {
        match j {
            Json::String(s) => Value::Str(Str::Shared(Arc::from(s.as_str()))),
            Json::Array(l) => Value::List(List::Owned(Arc::new(l.iter().map(Value::from_json_owned).collect()))),
            Json::Object(m) => Value::Map(Map::Owned(Arc::new(
                m.iter().map(|(k, v)| (Value::string(k), Value::from_json_owned(v))).collect(),
            ))),
            other => Value::from_node(&Node::from_json(other)).into_owned(),
        }
    }

    pub fn string(s: &str) -> Value<'static> {
        Value::Str(Str::Shared(Arc::from(s)))
    }

    /// Detaches the value from the event it borrows from.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::UInt(u) => Value::UInt(u),
            Value::Double(d) => Value::Double(d),
            Value::Str(Str::Borrowed(s)) => Value::string(s),
            Value::Str(Str::Shared(s)) => Value::Str(Str::Shared(s)),
            Value::Bytes(b) => Value::Bytes(b),
            Value::List(List::Event(l)) => Value::List(List::Owned(Arc::new(l.iter().map(|n| Value::from_node(n).into_owned()).collect()))),
            Value::List(List::Owned(l)) => Value::List(List::Owned(Arc::new(l.iter().cloned().map(Value::into_owned).collect()))),
            Value::Map(Map::Event(m)) => Value::Map(Map::Owned(Arc::new(
                sorted_keys(m).into_iter().map(|k| (Value::string(k), entry(m, k).map_or(Value::Null, |n| Value::from_node(n).into_owned()))).collect(),
            ))),
            Value::Map(Map::Owned(m)) => Value::Map(Map::Owned(Arc::new(
                m.iter().map(|(k, v)| (k.clone().into_owned(), v.clone().into_owned())).collect(),
            ))),
            Value::Timestamp(t) => Value::Timestamp(t),
            Value::Duration(d) => Value::Duration(d),
            Value::Type(t) => Value::Type(t),
            Value::Optional(o) => Value::Optional(o.map(|v| Box::new(v.into_owned()))),
            Value::Ip(a) => Value::Ip(a),
            Value::Cidr(a, n) => Value::Cidr(a, n),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null_type",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Timestamp(_) => "google.protobuf.Timestamp",
            Value::Duration(_) => "google.protobuf.Duration",
            Value::Type(_) => "type",
            Value::Optional(_) => "optional_type",
            Value::Ip(_) => "net.IP",
            Value::Cidr(..) => "net.CIDR",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::UInt(_) | Value::Double(_))
    }

    /// CEL equality: numbers compare across int, uint and double; other types differ from
    /// each other (false, not an error).
    pub fn equals(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => **a == **b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.equals(&y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.keys().iter().all(|k| match (a.get(k), b.get(k)) {
                        (Some(x), Some(y)) => x.equals(&y),
                        _ => false,
                    })
            }
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Type(a), Value::Type(b)) => a == b,
            (Value::Ip(a), Value::Ip(b)) => a == b,
            (Value::Cidr(a, n), Value::Cidr(b, m)) => a == b && n == m,
            (Value::Optional(a), Value::Optional(b)) => match (a, b) {
                (None, None) => true,
                (Some(x), Some(y)) => x.equals(y),
                _ => false,
            },
            (a, b) if a.is_number() && b.is_number() => numbers_equal(a, b),
            _ => false,
        }
    }

    /// CEL ordering. `Err(())` when the types have no order between them; `Ok(None)` when
    /// they do but these values are unordered (NaN).
    pub fn compare(&self, other: &Value<'_>) -> Result<Option<Ordering>, ()> {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => Ok(Some(a.cmp(b))),
            (Value::Str(a), Value::Str(b)) => Ok(Some((**a).cmp(&**b))),
            (Value::Bytes(a), Value::Bytes(b)) => Ok(Some(a.cmp(b))),
            (Value::Timestamp(a), Value::Timestamp(b)) => Ok(Some(a.cmp(b))),
            (Value::Duration(a), Value::Duration(b)) => Ok(Some(a.cmp(b))),
            (a, b) if a.is_number() && b.is_number() => Ok(compare_numbers(a, b)),
            _ => Err(()),
        }
    }
}

/// Numeric order across int, uint and double, as CEL specifies it (the cel-spec tests
/// `comparisons/*_big_lossy_double`): int and uint order exactly among themselves, and an
/// integer meets a double by being converted to double. So `9223372036854775807 <
/// 9223372036854775808.0` is false: 2^63 - 1 rounds to 2^63. The range index maps every
/// number to `f64` the same way, so its probe agrees with this order by construction.
pub fn compare_numbers(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::UInt(x), Value::UInt(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::UInt(y)) => Some((*x as i128).cmp(&(*y as i128))),
        (Value::UInt(x), Value::Int(y)) => Some((*x as i128).cmp(&(*y as i128))),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Double(y)) => (*x as f64).partial_cmp(y),
        (Value::UInt(x), Value::Double(y)) => (*x as f64).partial_cmp(y),
        (Value::Double(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Double(x), Value::UInt(y)) => x.partial_cmp(&(*y as f64)),
        _ => None,
    }
}

/// Numeric equality across int, uint and double, exact: `9223372036854775807 ==
/// 9223372036854775808.0` is false, although neither orders before the other. No cel-spec
/// test decides this corner, exact is the mathematical answer, and the equality index
/// hashes an integral double as the integer it equals (`1.0` as `1`), which only exact
/// equality keeps free of false negatives.
fn numbers_equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Double(y)) | (Value::Double(y), Value::Int(x)) => exact_int_double(*x as i128, *y),
        (Value::UInt(x), Value::Double(y)) | (Value::Double(y), Value::UInt(x)) => exact_int_double(*x as i128, *y),
        _ => compare_numbers(a, b) == Some(Ordering::Equal),
    }
}

fn exact_int_double(i: i128, d: f64) -> bool {
    // Every i64/u64 lies strictly inside ±2^65, where `as i128` is exact for integral doubles.
    d.fract() == 0.0 && d.abs() < 36893488147419103232.0 && d as i128 == i
}

impl fmt::Display for Value<'_> {
    /// The string form used by `string()` and by lenient concatenation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Double(d) => f.write_str(&format_double(*d)),
            Value::Str(s) => f.write_str(s),
            Value::Timestamp(t) => f.write_str(&format_timestamp(t)),
            Value::Duration(d) => f.write_str(&format_duration(d)),
            Value::Type(t) => f.write_str(t),
            Value::Optional(None) => f.write_str("optional.none()"),
            Value::Optional(Some(v)) => write!(f, "optional.of({v})"),
            Value::Ip(a) => write!(f, "{a}"),
            Value::Cidr(a, n) => write!(f, "{a}/{n}"),
            other => f.write_str(&other.to_json().to_string()),
        }
    }
}

pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{d}")
    }
}

pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub fn format_duration(d: &TimeDelta) -> String {
    // Seconds and nanoseconds, not one nanosecond count: CEL durations reach ±10,000 years,
    // past the ±292 years of nanoseconds in an `i64`.
    let (secs, nanos) = (d.num_seconds(), d.subsec_nanos());
    if nanos == 0 {
        return format!("{secs}s");
    }
    let sign = if secs < 0 || nanos < 0 { "-" } else { "" };
    let frac = format!("{:09}", nanos.unsigned_abs());
    format!("{sign}{}.{}s", secs.unsigned_abs(), frac.trim_end_matches('0'))
}

impl Value<'_> {
    /// The JSON rendering used for outputs and canonical keys (see tests/cases/README.md).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::UInt(u) => Json::from(*u),
            Value::Double(d) => serde_json::Number::from_f64(*d).map_or_else(|| Json::String(format_double(*d)), Json::Number),
            Value::Str(s) => Json::String(s.to_string()),
            Value::Bytes(b) => Json::String(base64_encode(b)),
            Value::List(List::Event(l)) => Json::Array(l.iter().map(Node::to_json).collect()),
            Value::List(l) => Json::Array(l.iter().map(|v| v.to_json()).collect()),
            Value::Map(Map::Event(m)) => Json::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
            Value::Map(Map::Owned(m)) => Json::Object(
                m.iter()
                    .map(|(k, v)| (k.as_str().map_or_else(|| k.to_string(), str::to_owned), v.to_json()))
                    .collect(),
            ),
            Value::Timestamp(t) => Json::String(format_timestamp(t)),
            Value::Duration(d) => Json::String(format_duration(d)),
            Value::Type(t) => Json::String((*t).to_owned()),
            Value::Optional(o) => o.as_ref().map_or(Json::Null, |v| v.to_json()),
            Value::Ip(_) | Value::Cidr(..) => Json::String(self.to_string()),
        }
    }
}

impl Value<'_> {
    /// A rendering that keeps the CEL type of every value (`{"uint": "1"}`, `{"double":
    /// "1.0"}`, `{"bytes": [0, 255]}`, maps as lists of entries), for the conformance runner,
    /// which must tell `1` from `1u` and `1.0`, and strings from bytes. Numbers are strings
    /// so that no JSON reader rounds them; doubles use Rust's shortest round-trip form.
    pub fn to_tagged_json(&self) -> Json {
        let tag = |t: &str, v: Json| Json::Object([(t.to_owned(), v)].into_iter().collect());
        match self {
            Value::Null => tag("null", Json::Null),
            Value::Bool(b) => tag("bool", Json::Bool(*b)),
            Value::Int(i) => tag("int", Json::String(i.to_string())),
            Value::UInt(u) => tag("uint", Json::String(u.to_string())),
            Value::Double(d) => tag("double", Json::String(format!("{d:?}"))),
            Value::Str(s) => tag("string", Json::String(s.to_string())),
            Value::Bytes(b) => tag("bytes", Json::Array(b.iter().map(|x| Json::from(*x)).collect())),
            Value::List(l) => tag("list", Json::Array(l.iter().map(|v| v.to_tagged_json()).collect())),
            Value::Map(m) => tag(
                "map",
                Json::Array(m.keys().iter().map(|k| Json::Array(vec![k.to_tagged_json(), m.get(k).unwrap_or(Value::Null).to_tagged_json()])).collect()),
            ),
            Value::Timestamp(t) => tag("timestamp", Json::String(t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))),
            Value::Duration(d) => tag("duration", Json::String(format!("{}ns", d.num_seconds() as i128 * 1_000_000_000 + d.subsec_nanos() as i128))),
            Value::Type(t) => tag("type", Json::String((*t).to_owned())),
            Value::Optional(o) => tag("optional", o.as_ref().map_or(Json::Null, |v| v.to_tagged_json())),
            Value::Ip(_) | Value::Cidr(..) => tag(self.type_name(), Json::String(self.to_string())),
        }
    }
}

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
