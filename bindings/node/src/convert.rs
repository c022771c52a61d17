//! JavaScript values in: arguments, JSON documents, times and durations.
//!
//! Objects cross as JSON text: `JSON.stringify` on the JS side (fast, honours `toJSON`, turns
//! `Date`s into RFC 3339 strings and drops `undefined` properties) and serde on ours. Strings
//! passed where a document is expected are taken to be JSON text already.

use crate::error::{Failure, Outcome, INVALID_ARGUMENT};
use napi::bindgen_prelude::JsObjectValue;
use napi::JSON;
use napi::{Env, JsValue, Unknown, ValueType};
use serde_json::Value as Json;

fn type_of(v: &Unknown<'_>) -> ValueType {
    v.get_type().unwrap_or(ValueType::Unknown)
}

fn type_name(v: &Unknown<'_>) -> &'static str {
    match type_of(v) {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object if v.is_array().unwrap_or(false) => "an array",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        _ => "an unsupported value",
    }
}

/// `None` for a missing, `undefined` or `null` argument.
pub fn present<'a>(v: Option<Unknown<'a>>) -> Option<Unknown<'a>> {
    v.filter(|v| !matches!(type_of(v), ValueType::Undefined | ValueType::Null))
}

fn js_string(v: &Unknown<'_>) -> napi::Result<String> {
    unsafe { v.cast::<String>() }
}

pub fn string(v: Unknown<'_>, what: &str) -> Outcome<String> {
    if type_of(&v) != ValueType::String {
        return Err(Failure::argument(format!("{what} must be a string, got {}", type_name(&v))));
    }
    js_string(&v).map_err(|e| Failure::napi(INVALID_ARGUMENT, what, e))
}

pub fn opt_string(v: Option<Unknown<'_>>, what: &str) -> Outcome<Option<String>> {
    present(v).map(|v| string(v, what)).transpose()
}

/// `JSON.stringify(v)`, run by the JS engine itself.
fn stringify(env: &Env, v: Unknown<'_>) -> napi::Result<String> {
    let json: JSON = env.get_global()?.get_named_property_unchecked("JSON")?;
    json.stringify(v)
}

/// The JSON text of a document argument: a string is taken as JSON text, an object (or array)
/// is serialized. Anything else is a `code` error.
pub fn json_text(env: &Env, v: Unknown<'_>, code: &'static str, what: &str) -> Outcome<String> {
    match type_of(&v) {
        ValueType::String => js_string(&v).map_err(|e| Failure::napi(code, what, e)),
        ValueType::Object => stringify(env, v).map_err(|e| Failure::new(code, format!("{what} cannot be serialized as JSON: {}", e.reason))),
        _ => Err(Failure::new(code, format!("{what} must be an object or a JSON string, got {}", type_name(&v)))),
    }
}

/// A document argument parsed to JSON (no size limits: for records, triggers, options).
pub fn json(env: &Env, v: Unknown<'_>, code: &'static str, what: &str) -> Outcome<Json> {
    let text = json_text(env, v, code, what)?;
    serde_json::from_str(&text).map_err(|e| Failure::new(code, format!("{what} is not valid JSON: {e}")))
}

/// An event argument parsed under the engine's size and depth limits.
pub fn event(engine: &celmatch::Engine, env: &Env, v: Unknown<'_>, what: &str) -> Outcome<Json> {
    let text = json_text(env, v, "invalid_event", what)?;
    Ok(engine.parse_event(text.as_bytes())?)
}

/// The elements of a JS array argument.
pub fn elements<'a>(v: Unknown<'a>, what: &str) -> Outcome<Vec<Unknown<'a>>> {
    if !v.is_array().unwrap_or(false) {
        return Err(Failure::argument(format!("{what} must be an array, got {}", type_name(&v))));
    }
    let arr = unsafe { v.cast::<napi::bindgen_prelude::Array>() }.map_err(|e| Failure::napi(INVALID_ARGUMENT, what, e))?;
    (0..arr.len())
        .map(|i| arr.get::<Unknown>(i).map_err(|e| Failure::napi(INVALID_ARGUMENT, what, e)).map(|o| o.expect("index below length")))
        .collect()
}

fn finite_ms(f: f64, what: &str) -> Outcome<i64> {
    if f.is_finite() && f.abs() < 9.0e15 {
        Ok(f as i64)
    } else {
        Err(Failure::argument(format!("{what} must be a finite number of milliseconds, got {f}")))
    }
}

fn number(v: &Unknown<'_>, what: &str) -> Outcome<f64> {
    unsafe { v.cast::<f64>() }.map_err(|e| Failure::napi(INVALID_ARGUMENT, what, e))
}

/// A count: a non-negative whole number (absent, `undefined` or `null`: `None`).
pub fn opt_count(v: Option<Unknown<'_>>, what: &str) -> Outcome<Option<usize>> {
    let Some(v) = present(v) else { return Ok(None) };
    if type_of(&v) != ValueType::Number {
        return Err(Failure::argument(format!("{what} must be a number, got {}", type_name(&v))));
    }
    let n = number(&v, what)?;
    if !(n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0) {
        return Err(Failure::argument(format!("{what} must be a whole number >= 0, got {n}")));
    }
    Ok(Some(n as usize))
}

/// A point in time: epoch milliseconds, a `Date`, or an RFC 3339 string.
pub fn time(v: Option<Unknown<'_>>, what: &str) -> Outcome<Option<i64>> {
    let Some(v) = present(v) else { return Ok(None) };
    let ms = match type_of(&v) {
        ValueType::Number => finite_ms(number(&v, what)?, what)?,
        ValueType::String => {
            let s = string(v, what)?;
            celmatch::parse_time_ms(&Json::String(s.clone()))
                .ok_or_else(|| Failure::argument(format!("{what} {s:?} is not an RFC 3339 time")))?
        }
        ValueType::Object if v.is_date().unwrap_or(false) => {
            let t = v.coerce_to_number().and_then(|n| n.get_double()).map_err(|e| Failure::napi(INVALID_ARGUMENT, what, e))?;
            if t.is_nan() {
                return Err(Failure::argument(format!("{what} is an invalid Date")));
            }
            finite_ms(t, what)?
        }
        _ => return Err(Failure::argument(format!("{what} must be epoch milliseconds, a Date or an RFC 3339 string, got {}", type_name(&v)))),
    };
    Ok(Some(ms))
}

/// A span of time: milliseconds or a duration string such as `"30m"`, `"2.5d"`, `"7d"`.
pub fn duration(v: Unknown<'_>, what: &str) -> Outcome<i64> {
    match type_of(&v) {
        ValueType::Number => finite_ms(number(&v, what)?, what),
        ValueType::String => {
            let s = string(v, what)?;
            celmatch::parse_duration_ms(&s).ok_or_else(|| Failure::argument(format!("{what} {s:?} is not a duration like \"30m\" or \"2.5d\"")))
        }
        _ => Err(Failure::argument(format!("{what} must be milliseconds or a duration string, got {}", type_name(&v)))),
    }
}
