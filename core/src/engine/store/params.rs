//! The bytes a record keeps in the arena: its id, then its parameter values, in a compact
//! tagged encoding. Decoding borrows strings from the arena, so verifying a candidate
//! allocates nothing for scalar and string parameters.
//!
//! Layout: `varint(id length) id varint(count) value*`, where a value is one tag byte and
//! its payload: integers and doubles as 8 little-endian bytes, strings and bytes as
//! `varint(length) bytes`, lists as `varint(n) value*`, maps as `varint(n) (key value)*`,
//! timestamps and durations as seconds (8 bytes) and nanoseconds (4 bytes).

use crate::eval::{List, Map, Value};
use chrono::{DateTime, TimeDelta};
use smallvec::SmallVec;
use std::sync::Arc;

/// Parameter lists this long or shorter decode without a heap allocation.
pub(crate) type Params<'a> = SmallVec<[Value<'a>; 4]>;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const UINT: u8 = 4;
const DOUBLE: u8 = 5;
const STR: u8 = 6;
const BYTES: u8 = 7;
const LIST: u8 = 8;
const MAP: u8 = 9;
const TIMESTAMP: u8 = 10;
const DURATION: u8 = 11;
const TYPE: u8 = 12;
const OPTIONAL_NONE: u8 = 13;
const OPTIONAL_SOME: u8 = 14;
const IP: u8 = 15;
const CIDR: u8 = 16;

/// Type values come from `type_name` (and the `net.IP`/`net.CIDR` type literals), a fixed set:
/// store an index, read back the name. (Type literals are never lifted into parameters, so
/// these only travel inside lists and maps.)
const TYPE_NAMES: [&str; 15] = [
    "null_type",
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "type",
    "optional_type",
    "net.IP",
    "net.CIDR",
];

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len());
    out.extend_from_slice(b);
}

/// Encodes a record's id and parameters.
pub(crate) fn encode(id: &str, params: &[Value<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + id.len() + params.len() * 10);
    put_bytes(&mut out, id.as_bytes());
    put_varint(&mut out, params.len());
    for p in params {
        put_value(&mut out, p);
    }
    out
}

fn put_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => {
            out.push(INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::UInt(u) => {
            out.push(UINT);
            out.extend_from_slice(&u.to_le_bytes());
        }
        Value::Double(d) => {
            out.push(DOUBLE);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(STR);
            put_bytes(out, s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            put_bytes(out, b);
        }
        Value::List(l) => {
            out.push(LIST);
            put_varint(out, l.len());
            l.iter().for_each(|x| put_value(out, &x));
        }
        Value::Map(m) => {
            out.push(MAP);
            put_varint(out, m.len());
            for k in m.keys() {
                put_value(out, &k);
                put_value(out, &m.get(&k).expect("a key of the map"));
            }
        }
        Value::Timestamp(t) => {
            out.push(TIMESTAMP);
            out.extend_from_slice(&t.timestamp().to_le_bytes());
            out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
        }
        Value::Duration(d) => {
            out.push(DURATION);
            out.extend_from_slice(&d.num_seconds().to_le_bytes());
            out.extend_from_slice(&d.subsec_nanos().to_le_bytes()); // i32, signed like the seconds
        }
        Value::Type(t) => {
            out.push(TYPE);
            let i = TYPE_NAMES.iter().position(|n| n == t);
            debug_assert!(i.is_some(), "type {t} missing from TYPE_NAMES");
            out.push(i.unwrap_or(TYPE_NAMES.iter().position(|n| *n == "type").expect("listed")) as u8);
        }
        Value::Optional(None) => out.push(OPTIONAL_NONE),
        Value::Optional(Some(v)) => {
            out.push(OPTIONAL_SOME);
            put_value(out, v);
        }
        Value::Ip(a) => {
            out.push(IP);
            put_ip(out, a);
        }
        Value::Cidr(a, n) => {
            out.push(CIDR);
            put_ip(out, a);
            out.push(*n);
        }
    }
}

fn put_ip(out: &mut Vec<u8>, a: &std::net::IpAddr) {
    match a {
        std::net::IpAddr::V4(v) => {
            out.push(4);
            out.extend_from_slice(&v.octets());
        }
        std::net::IpAddr::V6(v) => {
            out.push(6);
            out.extend_from_slice(&v.octets());
        }
    }
}

/// A reader over encoded bytes. The bytes were written by [`encode`] and never change, so a
/// malformed read is a bug: it panics rather than invent a value.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let (x, rest) = self.b.split_first().expect("encoded value");
        self.b = rest;
        *x
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (x, rest) = self.b.split_at(n);
        self.b = rest;
        x
    }
    fn varint(&mut self) -> usize {
        let (mut n, mut shift) = (0usize, 0);
        loop {
            let b = self.byte();
            n |= ((b & 0x7f) as usize) << shift;
            if b < 0x80 {
                return n;
            }
            shift += 7;
        }
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    fn ip(&mut self) -> std::net::IpAddr {
        match self.byte() {
            4 => std::net::IpAddr::from(<[u8; 4]>::try_from(self.take(4)).expect("4 bytes")),
            _ => std::net::IpAddr::from(<[u8; 16]>::try_from(self.take(16)).expect("16 bytes")),
        }
    }
    fn str(&mut self) -> &'a str {
        let n = self.varint();
        std::str::from_utf8(self.take(n)).expect("encoded from a str")
    }
    fn value(&mut self) -> Value<'a> {
        match self.byte() {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::Int(self.u64() as i64),
            UINT => Value::UInt(self.u64()),
            DOUBLE => Value::Double(f64::from_bits(self.u64())),
            STR => Value::Str(crate::eval::Str::Borrowed(self.str())),
            BYTES => {
                let n = self.varint();
                Value::Bytes(Arc::from(self.take(n)))
            }
            LIST => {
                let n = self.varint();
                Value::List(List::Owned(Arc::new((0..n).map(|_| self.value()).collect())))
            }
            MAP => {
                let n = self.varint();
                Value::Map(Map::Owned(Arc::new((0..n).map(|_| (self.value(), self.value())).collect())))
            }
            TIMESTAMP => {
                let (s, ns) = (self.u64() as i64, self.u32());
                Value::Timestamp(DateTime::from_timestamp(s, ns).expect("encoded from a timestamp"))
            }
            DURATION => {
                // Seconds and signed nanoseconds, as chrono splits a negative duration.
                let (s, ns) = (self.u64() as i64, self.u32() as i32);
                let secs = TimeDelta::new(s, 0).expect("encoded from a duration");
                Value::Duration(secs + TimeDelta::nanoseconds(ns as i64))
            }
            TYPE => Value::Type(TYPE_NAMES[self.byte() as usize]),
            OPTIONAL_NONE => Value::Optional(None),
            OPTIONAL_SOME => Value::Optional(Some(Box::new(self.value()))),
            IP => Value::Ip(self.ip()),
            CIDR => {
                let a = self.ip();
                Value::Cidr(a, self.byte())
            }
            tag => unreachable!("unknown parameter tag {tag}"),
        }
    }
}

/// The id stored in encoded bytes.
pub(crate) fn id(bytes: &[u8]) -> &str {
    Reader { b: bytes }.str()
}

/// The id's bytes, unchecked: for hashing and comparing ids, where the UTF-8 check of
/// [`id`] is wasted work.
pub(crate) fn id_bytes(bytes: &[u8]) -> &[u8] {
    let mut r = Reader { b: bytes };
    let n = r.varint();
    r.take(n)
}

/// Decodes the parameters, borrowing strings from `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Params<'_> {
    let mut r = Reader { b: bytes };
    let n = r.varint();
    r.take(n);
    let count = r.varint();
    (0..count).map(|_| r.value()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_value_round_trips() {
        let params = vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Double(-0.5),
            Value::Double(f64::NAN),
            Value::string(""),
            Value::string("é ünïcode"),
            Value::Bytes(Arc::from(&b"\x00\xff"[..])),
            Value::from_json_owned(&json!([1, "a", [null], {"k": 2.5}])),
            Value::from_json_owned(&json!({"a": {"b": [true]}, "": 1})),
            Value::Timestamp(DateTime::from_timestamp(-62_135_596_800, 999_999_999).unwrap()),
            Value::Duration(TimeDelta::new(-5, 7).unwrap()),
            Value::Type("google.protobuf.Duration"),
            Value::Type("net.CIDR"),
            Value::Optional(None),
            Value::Optional(Some(Box::new(Value::string("inside")))),
            Value::Ip("10.1.2.3".parse().unwrap()),
            Value::Ip("2001:db8::1".parse().unwrap()),
            Value::Cidr("192.168.0.0".parse().unwrap(), 16),
        ];
        let bytes = encode("wait-1", &params);
        assert_eq!(id(&bytes), "wait-1");
        let back = decode(&bytes);
        assert_eq!(back.len(), params.len());
        for (a, b) in params.iter().zip(back.iter()) {
            assert_eq!(a.to_json(), b.to_json(), "{a:?} vs {b:?}");
            assert_eq!(a.type_name(), b.type_name());
        }
        if let Value::Double(d) = back[6] {
            assert!(d.is_nan());
        }
    }

    #[test]
    fn long_ids_use_multi_byte_lengths() {
        let long = "x".repeat(100_000);
        let bytes = encode(&long, &[Value::string(&long)]);
        assert_eq!(id(&bytes), long);
        assert_eq!(decode(&bytes)[0].as_str(), Some(long.as_str()));
    }
}
