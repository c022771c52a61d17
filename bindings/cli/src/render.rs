//! Human-readable forms of the engine's `explain_expr` and `explain` JSON. Fields this module
//! does not know are still shown (as an indented tree), so a newer engine loses nothing.

use serde_json::{Map, Value as Json};
use std::fmt::Write;

/// `celmatch check`: how an expression is understood.
pub fn expr(x: &Json) -> String {
    let mut out = String::new();
    let Some(o) = x.as_object() else { return tree_string(x, 0) };
    let mut known = vec!["shape", "params", "constant", "conjunctions"];
    line(&mut out, 0, "shape", o.get("shape").map(text).unwrap_or_default());
    if let Some(p) = o.get("params") {
        line(&mut out, 0, "params", params(p));
    }
    if let Some(c) = o.get("constant").filter(|c| !c.is_null()) {
        line(&mut out, 0, "constant", format!("{c} (reads nothing from the event)"));
    }
    conjunctions(&mut out, 0, o.get("conjunctions"), None);
    known.push("verdict");
    rest(&mut out, 0, o, &known);
    out
}

/// `celmatch explain`: one subscription, and why the event did or did not fire it.
pub fn subscription(x: &Json, line_no: usize) -> String {
    let mut out = String::new();
    let Some(o) = x.as_object() else { return tree_string(x, 1) };
    let s = |k: &str| o.get(k).and_then(Json::as_str);
    let mut head = format!("subscription {:?} (line {line_no}): {} on {:?}", s("id").unwrap_or("?"), s("kind").unwrap_or("?"), s("event").unwrap_or("?"));
    if let Some(owner) = s("owner") {
        let _ = write!(head, ", owner {owner:?}");
    }
    out.push_str(&head);
    out.push('\n');
    let verdict = o.get("verdict");
    if let Some(v) = verdict {
        let fires = v.get("fires").and_then(Json::as_bool);
        let reason = v.get("reason").map(text).unwrap_or_default();
        let word = match fires {
            Some(true) => "FIRES",
            Some(false) => "does NOT fire",
            None => "?",
        };
        line(&mut out, 1, "this event", format!("{word}: {reason}"));
    }
    for (k, label) in [("deadline_ms", "deadline"), ("not_before_ms", "not before")] {
        if let Some(t) = o.get(k).and_then(Json::as_i64) {
            line(&mut out, 1, label, format!("{} ({t} ms)", time(t)));
        }
    }
    if let Some(c) = s("condition") {
        line(&mut out, 1, "condition", c.to_string());
    }
    if let Some(sh) = s("shape") {
        line(&mut out, 1, "shape", sh.to_string());
    }
    if let Some(p) = o.get("params") {
        line(&mut out, 1, "params", params(p));
    }
    if let Some(c) = o.get("classes").and_then(Json::as_array) {
        let names: Vec<String> = c.iter().map(text).collect();
        line(&mut out, 1, "indexed as", if names.is_empty() { "-".into() } else { names.join(", ") });
    }
    if o.contains_key("conjunctions") {
        conjunctions(&mut out, 1, o.get("conjunctions"), verdict.and_then(|v| v.get("conjunctions")));
    }
    if let Some(e) = o.get("eval_errors") {
        let n = e.get("count").map(text).unwrap_or_default();
        let last = e.get("last").map(|l| format!("{}: {}", text(&l["code"]), text(&l["message"]))).unwrap_or_default();
        line(&mut out, 1, "evaluation errors", format!("{n} so far; last: {last}"));
    }
    let known = [
        "id", "kind", "event", "owner", "deadline_ms", "not_before_ms", "classes", "condition", "shape", "params", "conjunctions",
        "eval_errors", "verdict", "line", "loaded",
    ];
    rest(&mut out, 1, o, &known);
    if let Some(Json::Object(v)) = verdict {
        rest(&mut out, 1, v, &["fires", "reason", "conjunctions"]);
    }
    out
}

/// The conjunctions, each with its access predicate and, given a verdict, its atoms' values.
fn conjunctions(out: &mut String, indent: usize, cs: Option<&Json>, values: Option<&Json>) {
    match cs {
        Some(Json::Array(cs)) => {
            let how = if cs.len() == 1 { "1 (every atom must hold)".to_string() } else { format!("{} (any one of them fires it)", cs.len()) };
            line(out, indent, "conjunctions", how);
            for (i, c) in cs.iter().enumerate() {
                let atoms: Vec<String> = c.get("atoms").and_then(Json::as_array).map(|a| a.iter().map(text).collect()).unwrap_or_default();
                let _ = writeln!(out, "{}{}. {}", pad(indent + 1), i + 1, atoms.join(" && "));
                let sub = indent + 2;
                match c.get("access") {
                    Some(a) if a.is_object() => {
                        let class = a.get("class").map(text).unwrap_or_default();
                        let path = a.get("path").map(text).unwrap_or_default();
                        line(out, sub, "candidates", format!("{class} index on `{path}`, then the condition is verified"));
                    }
                    _ => line(out, sub, "candidates", "not indexable: verified on every event of its name (scan list)".into()),
                }
                if let Some(vals) = values.and_then(|v| v.get(i)).and_then(Json::as_array) {
                    for v in vals {
                        let _ = writeln!(out, "{}{} => {}", pad(sub), v.get("atom").map(text).unwrap_or_default(), atom_value(v));
                    }
                }
            }
        }
        Some(Json::Object(whole)) => {
            let reason = whole.get("reason").map(text).unwrap_or_default();
            line(out, indent, "conjunctions", format!("none: the condition is verified whole ({reason})"));
            if let Some(v) = values.filter(|v| v.is_object()) {
                let _ = writeln!(out, "{}{} => {}", pad(indent + 1), v.get("atom").map(text).unwrap_or_default(), atom_value(v));
            }
        }
        Some(other) => line(out, indent, "conjunctions", other.to_string()),
        None => {}
    }
}

fn atom_value(v: &Json) -> String {
    match (v.get("value"), v.get("error")) {
        (Some(val), _) => val.to_string(),
        (None, Some(e)) => format!("error {}: {}", text(&e["code"]), text(&e["message"])),
        _ => "?".into(),
    }
}

fn params(p: &Json) -> String {
    match p.as_array() {
        Some(a) if a.is_empty() => "(none)".into(),
        Some(a) => a.iter().enumerate().map(|(i, v)| format!("${i} = {v}")).collect::<Vec<_>>().join(", "),
        None => p.to_string(),
    }
}

/// Epoch milliseconds as RFC 3339 (UTC).
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| "out of range".into(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn pad(indent: usize) -> String {
    "  ".repeat(indent)
}

fn line(out: &mut String, indent: usize, key: &str, value: String) {
    let _ = writeln!(out, "{}{key}: {value}", pad(indent));
}

/// A string without quotes; anything else as JSON.
fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fields not in `known`, as a tree.
fn rest(out: &mut String, indent: usize, o: &Map<String, Json>, known: &[&str]) {
    for (k, v) in o {
        if known.contains(&k.as_str()) {
            continue;
        }
        match scalar(v) {
            Some(s) => line(out, indent, &k.replace('_', " "), s),
            None => {
                let _ = writeln!(out, "{}{}:", pad(indent), k.replace('_', " "));
                tree(v, indent + 1, out);
            }
        }
    }
}

/// Indented `key: value` lines for any JSON value.
pub fn tree_string(v: &Json, indent: usize) -> String {
    let mut out = String::new();
    tree(v, indent, &mut out);
    out
}

fn scalar(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Null => Some("-".into()),
        Json::Array(a) if a.is_empty() => Some("(none)".into()),
        Json::Object(o) if o.is_empty() => Some("(none)".into()),
        Json::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
            let s = v.to_string();
            (s.len() <= 100 || a.len() <= 1).then_some(s)
        }
        Json::Array(_) | Json::Object(_) => None,
        other => Some(other.to_string()),
    }
}

fn tree(v: &Json, indent: usize, out: &mut String) {
    match v {
        Json::Object(o) => rest(out, indent, o, &[]),
        Json::Array(a) => {
            for x in a {
                match scalar(x) {
                    Some(s) => {
                        let _ = writeln!(out, "{}- {s}", pad(indent));
                    }
                    None => {
                        let _ = writeln!(out, "{}-", pad(indent));
                        tree(x, indent + 1, out);
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{}{}", pad(indent), scalar(other).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_kept() {
        let s = expr(&json!({"shape": "x", "params": [], "new_field": {"a": 1}}));
        assert!(s.contains("new field:") && s.contains("a: 1"), "{s}");
        let s = subscription(&json!({"id": "w", "kind": "wait", "event": "e", "future": true}), 3);
        assert!(s.contains("future: true"), "{s}");
    }

    #[test]
    fn times_render() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_500), "1970-01-01T00:00:01.500Z");
    }
}
