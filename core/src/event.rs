//! The event view: a JSON document parsed once into a small tree that borrows from the input.
//!
//! Strings point into the input bytes (copied only when they hold escapes), objects are vectors
//! of entries searched linearly (events are small; no hashing, no sorting), numbers are typed
//! by CEL's rule (integers that fit in i64 are `int`, every other number is `double`). The
//! depth limit is enforced while parsing, so no second walk is needed. A `serde_json::Value`
//! the caller already holds is viewed the same way ([`Node::from_json`]) without copying its
//! strings: the index and the evaluator read only this one representation.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::fmt;

/// One value of an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Cow<'a, str>),
    List(Vec<Node<'a>>),
    /// Entries in document order; a key given twice keeps its last value (as serde_json does).
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// Why an event did not parse.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON; the message names what and where (line and column).
    Syntax(String),
    /// Arrays and objects nest deeper than the limit.
    TooDeep,
}

impl<'a> Node<'a> {
    /// Parses JSON text, refusing nesting deeper than `max_depth` arrays and objects.
    pub fn parse(json: &'a [u8], max_depth: usize) -> Result<Node<'a>, ParseError> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let node = NodeSeed { depth_left: max_depth }.deserialize(&mut de).map_err(classify)?;
        de.end().map_err(classify)?;
        Ok(node)
    }

    /// Views a JSON tree the caller holds: strings are borrowed, not copied.
    pub fn from_json(j: &'a Json) -> Node<'a> {
        match j {
            Json::Null => Node::Null,
            Json::Bool(b) => Node::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => Node::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Node::Str(Cow::Borrowed(s)),
            Json::Array(l) => Node::List(l.iter().map(Node::from_json).collect()),
            Json::Object(m) => Node::Map(m.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::from_json(v))).collect()),
        }
    }

    /// An owned JSON tree of the same value (for explanations and other cold paths).
    pub fn to_json(&self) -> Json {
        match self {
            Node::Null => Json::Null,
            Node::Bool(b) => Json::Bool(*b),
            Node::Int(i) => Json::from(*i),
            Node::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
            Node::Str(s) => Json::String(s.to_string()),
            Node::List(l) => Json::Array(l.iter().map(Node::to_json).collect()),
            Node::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
        }
    }

    /// The value of `key` when this is an object holding it.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map(m) => entry(m, key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The last entry named `key` (JSON's duplicate keys: the last one counts).
pub(crate) fn entry<'n, 'a>(m: &'n [(Cow<'a, str>, Node<'a>)], key: &str) -> Option<&'n Node<'a>> {
    m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Object keys in sorted order without repeats: the order CEL map iteration has always had
/// here (serde_json's map), so results do not depend on how the event was written.
pub(crate) fn sorted_keys<'n, 'a>(m: &'n [(Cow<'a, str>, Node<'a>)]) -> Vec<&'n str> {
    let mut keys: Vec<&str> = m.iter().map(|(k, _)| &**k).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn classify(e: serde_json::Error) -> ParseError {
    let text = e.to_string();
    // serde_json's own recursion limit (128) and ours read the same to the caller.
    if text.starts_with(TOO_DEEP) || text.starts_with("recursion limit exceeded") {
        ParseError::TooDeep
    } else {
        ParseError::Syntax(text)
    }
}

const TOO_DEEP: &str = "nesting over the depth limit";

/// Deserialises one value with a budget of nested arrays and objects.
struct NodeSeed {
    depth_left: usize,
}

impl NodeSeed {
    fn nested<E: de::Error>(&self) -> Result<NodeSeed, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(NodeSeed { depth_left }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Node<'de>, E> {
        Ok(Node::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Node<'de>, E> {
        Ok(i64::try_from(u).map_or(Node::Double(u as f64), Node::Int))
    }
    fn visit_f64<E>(self, d: f64) -> Result<Node<'de>, E> {
        Ok(Node::Double(d))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(NodeSeed { depth_left: inner.depth_left })? {
            items.push(item);
        }
        Ok(Node::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let inner = self.nested()?;
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(NodeSeed { depth_left: inner.depth_left })?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// An object key, borrowed unless it holds escapes. (`Cow<str>`'s own `Deserialize` always
/// copies.)
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Node<'_> {
        Node::parse(text.as_bytes(), 64).unwrap()
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let n = parse(r#"{"a": "plain", "b\u0041": "esc\"aped"}"#);
        let Node::Map(m) = &n else { panic!() };
        assert!(matches!(m[0].0, Cow::Borrowed("a")));
        assert!(matches!(m[0].1, Node::Str(Cow::Borrowed("plain"))));
        assert!(matches!(&m[1].0, Cow::Owned(k) if k == "bA"));
        assert_eq!(m[1].1, Node::Str(Cow::Owned("esc\"aped".into())));
    }

    #[test]
    fn numbers_follow_the_int_rule() {
        let n = parse(r#"[1, -1, 9223372036854775807, 9223372036854775808, 1.0, 1e2, -0.5]"#);
        assert_eq!(
            n,
            Node::List(vec![
                Node::Int(1),
                Node::Int(-1),
                Node::Int(i64::MAX),
                Node::Double(9223372036854775808.0),
                Node::Double(1.0),
                Node::Double(100.0),
                Node::Double(-0.5),
            ])
        );
    }

    #[test]
    fn agrees_with_serde_json() {
        let texts = [
            r#"{"name": "app/x", "data": {"a": [1, 2.5, "s", null, true, {"k": []}], "b": {}}, "ts": 1}"#,
            r#"{"dup": 1, "dup": 2}"#,
            r#""\ud83d\ude00 \n""#,
            "[]",
            "-0",
        ];
        for t in texts {
            let json: Json = serde_json::from_str(t).unwrap();
            assert_eq!(parse(t).to_json(), json, "{t}");
            assert_eq!(Node::from_json(&json).to_json(), json, "{t}");
        }
        assert_eq!(parse(r#"{"dup": 1, "dup": 2}"#).get("dup"), Some(&Node::Int(2)));
    }

    #[test]
    fn depth_is_limited_while_parsing() {
        assert_eq!(Node::parse(b"[[[1]]]", 3).unwrap().to_json(), json!([[[1]]]));
        assert_eq!(Node::parse(b"[[[1]]]", 2), Err(ParseError::TooDeep));
        assert_eq!(Node::parse(br#"{"a": {"b": 1}}"#, 1), Err(ParseError::TooDeep));
        assert_eq!(Node::parse(b"1", 0).unwrap(), Node::Int(1));
        // Far deeper than serde_json's own limit: still an error, never a stack overflow.
        let deep = "[".repeat(100_000);
        assert_eq!(Node::parse(deep.as_bytes(), 64), Err(ParseError::TooDeep));
        assert_eq!(Node::parse(deep.as_bytes(), 1_000), Err(ParseError::TooDeep));
    }

    #[test]
    fn syntax_errors_say_where() {
        let Err(ParseError::Syntax(m)) = Node::parse(br#"{"a": }"#, 64) else { panic!() };
        assert!(m.contains("line 1"), "{m}");
        assert!(matches!(Node::parse(b"{} x", 64), Err(ParseError::Syntax(_))));
        assert!(matches!(Node::parse(b"", 64), Err(ParseError::Syntax(_))));
    }
}
