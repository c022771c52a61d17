//! Reading Redis replies into plain types. A reply of an unexpected form is a `Protocol`
//! error, never a panic.

use crate::error::Error;
use redis::Value;

pub(crate) fn string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn items(v: &Value) -> Result<&[Value], Error> {
    match v {
        Value::Array(a) | Value::Set(a) => Ok(a),
        other => Err(Error::protocol(format!("expected an array, got {other:?}"))),
    }
}

/// A stream entry: its id and its field/value pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl Entry {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == field).map(|(_, v)| v.as_str())
    }
}

/// `[[id, [field, value, …]], …]` (XRANGE, and inside XREADGROUP and XAUTOCLAIM replies).
/// Entries deleted while pending come back as nil in some versions: skipped.
pub(crate) fn entries(v: &Value) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    for e in items(v)? {
        let Value::Array(pair) = e else { continue };
        let [id, fields] = pair.as_slice() else { return Err(Error::protocol("a stream entry is not [id, fields]")) };
        let id = string(id).ok_or_else(|| Error::protocol("a stream entry id is not a string"))?;
        let flat = match fields {
            Value::Nil => Vec::new(),
            f => items(f)?.iter().map(|x| string(x).ok_or_else(|| Error::protocol("a stream field is not a string"))).collect::<Result<Vec<_>, _>>()?,
        };
        let fields = flat.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect();
        out.push(Entry { id, fields });
    }
    Ok(out)
}

/// XREADGROUP/XREAD: nil, or `[[key, entries], …]` (a map in RESP3); each key's entries.
pub(crate) fn read_reply(v: &Value) -> Result<Vec<(String, Vec<Entry>)>, Error> {
    let key = |k: &Value| string(k).ok_or_else(|| Error::protocol("a stream key is not a string"));
    let mut out = Vec::new();
    match v {
        Value::Nil => {}
        Value::Map(m) => {
            for (k, es) in m {
                out.push((key(k)?, entries(es)?));
            }
        }
        other => {
            for s in items(other)? {
                let pair = items(s)?;
                let (Some(k), Some(es)) = (pair.first(), pair.get(1)) else { return Err(Error::protocol("a stream reply is not [key, entries]")) };
                out.push((key(k)?, entries(es)?));
            }
        }
    }
    Ok(out)
}

/// XAUTOCLAIM: `[next cursor, entries, deleted ids]`.
pub(crate) fn autoclaim_reply(v: &Value) -> Result<(String, Vec<Entry>), Error> {
    let a = items(v)?;
    let cursor = a.first().and_then(string).ok_or_else(|| Error::protocol("XAUTOCLAIM reply without a cursor"))?;
    let es = a.get(1).ok_or_else(|| Error::protocol("XAUTOCLAIM reply without entries"))?;
    Ok((cursor, entries(es)?))
}

/// HSCAN: `[cursor, [field, value, …]]`.
pub(crate) fn scan_reply(v: &Value) -> Result<(String, Vec<(String, String)>), Error> {
    let a = items(v)?;
    let cursor = a.first().and_then(string).ok_or_else(|| Error::protocol("HSCAN reply without a cursor"))?;
    let flat: Vec<String> = match a.get(1) {
        Some(Value::Map(m)) => m.iter().flat_map(|(k, v)| [string(k), string(v)]).collect::<Option<_>>(),
        Some(x) => items(x)?.iter().map(string).collect::<Option<_>>(),
        None => None,
    }
    .ok_or_else(|| Error::protocol("HSCAN reply with non-string items"))?;
    Ok((cursor, flat.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect()))
}
