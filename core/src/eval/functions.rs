//! Arithmetic and the built-in functions.

use super::value::{format_double, Value};
use super::{no_overload, EvalResult};
use crate::error::{EvalError, EvalErrorKind as K};
use crate::frontend::ast::{ArithOp, Func, Opt, TimePart};
use chrono::{DateTime, Datelike, FixedOffset, Offset, TimeDelta, TimeZone, Timelike, Utc};
use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;
use parking_lot::RwLock;
use std::sync::{Arc, LazyLock};

fn overflow() -> EvalError {
    EvalError::new(K::Overflow, "integer overflow")
}

fn invalid(msg: impl Into<String>) -> EvalError {
    EvalError::new(K::InvalidArgument, msg)
}

pub(super) fn arith<'a>(op: ArithOp, a: Value<'a>, b: Value<'a>, lenient: bool) -> EvalResult<'a> {
    use ArithOp::*;
    use Value::*;
    let name = match op {
        Add => "_+_",
        Sub => "_-_",
        Mul => "_*_",
        Div => "_/_",
        Rem => "_%_",
    };
    Ok(match (op, &a, &b) {
        (_, Int(x), Int(y)) => Int(match op {
            Add => x.checked_add(*y),
            Sub => x.checked_sub(*y),
            Mul => x.checked_mul(*y),
            Div | Rem if *y == 0 => return Err(EvalError::new(K::DivisionByZero, "division by zero")),
            Div => x.checked_div(*y),
            Rem => x.checked_rem(*y),
        }
        .ok_or_else(overflow)?),
        (_, UInt(x), UInt(y)) => UInt(match op {
            Add => x.checked_add(*y),
            Sub => x.checked_sub(*y),
            Mul => x.checked_mul(*y),
            Div | Rem if *y == 0 => return Err(EvalError::new(K::DivisionByZero, "division by zero")),
            Div => x.checked_div(*y),
            Rem => x.checked_rem(*y),
        }
        .ok_or_else(overflow)?),
        (Add | Sub | Mul | Div, Double(x), Double(y)) => Double(float(op, *x, *y)),
        (Add | Sub | Mul | Div, x, y) if lenient && x.is_number() && y.is_number() => Double(float(op, as_f64(x), as_f64(y))),
        (Rem, x, y) if lenient && x.is_number() && y.is_number() => Double(as_f64(x) % as_f64(y)),
        (Add, Str(x), Str(y)) => Value::string(&[&**x, &**y].concat()),
        (Add, Str(x), y) if lenient && is_scalar(y) => Value::string(&format!("{}{y}", &**x)),
        (Add, x, Str(y)) if lenient && is_scalar(x) => Value::string(&format!("{x}{}", &**y)),
        (Add, Bytes(x), Bytes(y)) => Bytes(x.iter().chain(y.iter()).copied().collect::<Vec<u8>>().into()),
        (Add, List(x), List(y)) => {
            let mut out: Vec<Value<'a>> = x.iter().collect();
            out.extend(y.iter());
            List(super::List::Owned(Arc::new(out)))
        }
        (Add, Timestamp(t), Duration(d)) | (Add, Duration(d), Timestamp(t)) => Timestamp(in_range(t.checked_add_signed(*d))?),
        (Sub, Timestamp(t), Duration(d)) => Timestamp(in_range(t.checked_sub_signed(*d))?),
        (Sub, Timestamp(x), Timestamp(y)) => Duration(duration_in_range(Some(x.signed_duration_since(*y)))?),
        (Add, Duration(x), Duration(y)) => Duration(duration_in_range(x.checked_add(y))?),
        (Sub, Duration(x), Duration(y)) => Duration(duration_in_range(x.checked_sub(y))?),
        _ => return Err(no_overload(name, &[&a, &b])),
    })
}

/// CEL timestamps run from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z (the
/// range of RFC 3339 and of `google.protobuf.Timestamp`); chrono's reach much further, so
/// every way of making a timestamp goes through this check.
const MIN_TIMESTAMP_SECS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECS: i64 = 253_402_300_799;

/// CEL durations span ±315,576,000,000.999999999 s (10,000 years, as
/// `google.protobuf.Duration`), wider than the ±292 years of a count of nanoseconds in an
/// `i64`: durations are kept as seconds and nanoseconds, never as one nanosecond count.
const MAX_DURATION_SECS: i64 = 315_576_000_000;

pub(crate) fn in_range(t: Option<DateTime<Utc>>) -> Result<DateTime<Utc>, EvalError> {
    match t {
        Some(t) if (MIN_TIMESTAMP_SECS..=MAX_TIMESTAMP_SECS).contains(&t.timestamp()) => Ok(t),
        _ => Err(EvalError::new(K::Overflow, "timestamp out of range (0001-01-01 to 9999-12-31)")),
    }
}

pub(crate) fn duration_in_range(d: Option<TimeDelta>) -> Result<TimeDelta, EvalError> {
    match d {
        // `num_seconds` rounds toward zero, so the fraction past the last second is allowed.
        Some(d) if d.num_seconds().abs() <= MAX_DURATION_SECS => Ok(d),
        _ => Err(EvalError::new(K::Overflow, "duration out of range (±315576000000 s)")),
    }
}

fn is_scalar(v: &Value<'_>) -> bool {
    matches!(v, Value::Null | Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Double(_) | Value::Str(_))
}

fn float(op: ArithOp, x: f64, y: f64) -> f64 {
    match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Rem => x % y,
    }
}

fn as_f64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::UInt(u) => *u as f64,
        Value::Double(d) => *d,
        _ => f64::NAN,
    }
}

pub(super) fn call<'a>(f: Func, mut args: Vec<Value<'a>>) -> EvalResult<'a> {
    let bad = |args: &[Value<'_>]| no_overload(f.name(), &args.iter().collect::<Vec<_>>());
    match f {
        Func::Size => Ok(Value::Int(match &args[0] {
            Value::Str(s) => s.chars().count(),
            Value::Bytes(b) => b.len(),
            Value::List(l) => l.len(),
            Value::Map(m) => m.len(),
            _ => return Err(bad(&args)),
        } as i64)),
        Func::Contains | Func::StartsWith | Func::EndsWith => match (&args[0], &args[1]) {
            (Value::Str(s), Value::Str(n)) => Ok(Value::Bool(match f {
                Func::Contains => s.contains(&**n),
                Func::StartsWith => s.starts_with(&**n),
                _ => s.ends_with(&**n),
            })),
            _ => Err(bad(&args)),
        },
        Func::Matches => match (&args[0], &args[1]) {
            (Value::Str(s), Value::Str(re)) => Ok(Value::Bool(regex(re)?.is_match(s))),
            _ => Err(bad(&args)),
        },
        Func::LowerAscii | Func::UpperAscii => match &args[0] {
            Value::Str(s) => Ok(Value::string(&if f == Func::LowerAscii { s.to_ascii_lowercase() } else { s.to_ascii_uppercase() })),
            _ => Err(bad(&args)),
        },
        Func::Dyn => Ok(args.swap_remove(0)),
        Func::Type => Ok(Value::Type(args[0].type_name())),
        Func::Int => match to_int(&args[0]) {
            Some(r) => r.map(Value::Int),
            None => Err(bad(&args)),
        },
        Func::UInt => match &args[0] {
            Value::UInt(u) => Ok(Value::UInt(*u)),
            Value::Int(i) => u64::try_from(*i).map(Value::UInt).map_err(|_| overflow()),
            Value::Double(d) => {
                if d.is_finite() && *d > -1.0 && *d < 18446744073709551616.0 {
                    Ok(Value::UInt(*d as u64))
                } else {
                    Err(overflow())
                }
            }
            Value::Str(s) => s.parse().map(Value::UInt).map_err(|_| invalid(format!("cannot convert {:?} to uint", &**s))),
            _ => Err(bad(&args)),
        },
        Func::Double => match &args[0] {
            Value::Double(d) => Ok(Value::Double(*d)),
            Value::Int(i) => Ok(Value::Double(*i as f64)),
            Value::UInt(u) => Ok(Value::Double(*u as f64)),
            Value::Str(s) => parse_double(s).map(Value::Double).ok_or_else(|| invalid(format!("cannot convert {:?} to double", &**s))),
            _ => Err(bad(&args)),
        },
        Func::String => match &args[0] {
            Value::Str(_) => Ok(args.swap_remove(0)),
            Value::Bytes(b) => std::str::from_utf8(b).map(Value::string).map_err(|_| invalid("bytes are not valid UTF-8")),
            Value::Double(d) => Ok(Value::string(&format_double(*d))),
            v @ (Value::Int(_) | Value::UInt(_) | Value::Bool(_) | Value::Timestamp(_) | Value::Duration(_) | Value::Ip(_) | Value::Cidr(..)) => {
                Ok(Value::string(&v.to_string()))
            }
            _ => Err(bad(&args)),
        },
        Func::Bool => match &args[0] {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Str(s) => match &**s {
                "1" | "t" | "true" | "TRUE" | "True" => Ok(Value::Bool(true)),
                "0" | "f" | "false" | "FALSE" | "False" => Ok(Value::Bool(false)),
                _ => Err(invalid(format!("cannot convert {:?} to bool", &**s))),
            },
            _ => Err(bad(&args)),
        },
        Func::Bytes => match &args[0] {
            Value::Bytes(b) => Ok(Value::Bytes(b.clone())),
            Value::Str(s) => Ok(Value::Bytes(Arc::from(s.as_bytes()))),
            _ => Err(bad(&args)),
        },
        Func::Timestamp => match &args[0] {
            Value::Timestamp(t) => Ok(Value::Timestamp(*t)),
            Value::Str(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => in_range(Some(t.with_timezone(&Utc))).map(Value::Timestamp),
                Err(e) => Err(invalid(format!("invalid timestamp {:?}: {e}", &**s))),
            },
            Value::Int(i) => in_range(DateTime::from_timestamp(*i, 0)).map(Value::Timestamp),
            _ => Err(bad(&args)),
        },
        Func::Duration => match &args[0] {
            Value::Duration(d) => Ok(Value::Duration(*d)),
            Value::Str(s) => parse_duration(s).map(Value::Duration).ok_or_else(|| invalid(format!("invalid duration {:?}", &**s))),
            _ => Err(bad(&args)),
        },
        Func::TimePart(part) => time_part(part, &args[0], args.get(1)).unwrap_or_else(|| Err(bad(&args))),
        // `eval` decides this one before evaluating its argument (an error counts as true).
        Func::NotStrictlyFalse => Ok(Value::Bool(!matches!(args[0], Value::Bool(false)))),
        Func::MapInsert => map_insert(args),
        Func::Opt(o) => optional(o, args),
        Func::Ext(x) => super::ext::call(x, args),
    }
}

fn optional<'a>(o: Opt, mut args: Vec<Value<'a>>) -> EvalResult<'a> {
    let bad = |args: &[Value<'_>]| no_overload(o.name(), &args.iter().collect::<Vec<_>>());
    Ok(match (o, args.as_mut_slice()) {
        (Opt::Of, [v]) => Value::Optional(Some(Box::new(std::mem::replace(v, Value::Null)))),
        (Opt::None, []) => Value::Optional(None),
        (Opt::OfNonZeroValue, [v]) => Value::Optional((!is_zero(v)).then(|| Box::new(std::mem::replace(v, Value::Null)))),
        (Opt::HasValue, [Value::Optional(x)]) => Value::Bool(x.is_some()),
        (Opt::Value, [Value::Optional(x)]) => match x.take() {
            Some(v) => *v,
            None => return Err(invalid("optional.none() dereference")),
        },
        (Opt::OrValue, [Value::Optional(x), other]) => match x.take() {
            Some(v) => *v,
            None => std::mem::replace(other, Value::Null),
        },
        (Opt::Or, [Value::Optional(x), other @ Value::Optional(_)]) => match x.take() {
            Some(v) => Value::Optional(Some(v)),
            None => std::mem::replace(other, Value::Null),
        },
        (Opt::Select, [v, Value::Str(field)]) => {
            let field = field.to_string();
            return super::opt_select(std::mem::replace(v, Value::Null), &field, false);
        }
        (Opt::Index, [v, k]) => {
            let k = k.clone();
            return super::opt_index(std::mem::replace(v, Value::Null), &k, false);
        }
        (Opt::Elem, [v]) => std::mem::replace(v, Value::Null),
        _ => return Err(bad(&args)),
    })
}

/// The zero value of a type (`optional.ofNonZeroValue` gives none for it).
fn is_zero(v: &Value<'_>) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::UInt(u) => *u == 0,
        Value::Double(d) => *d == 0.0,
        Value::Str(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::List(l) => l.len() == 0,
        Value::Map(m) => m.len() == 0,
        Value::Timestamp(t) => t.timestamp() == 0 && t.timestamp_subsec_nanos() == 0,
        Value::Duration(d) => d.is_zero(),
        Value::Type(_) => false,
        Value::Optional(o) => o.is_none(),
        Value::Ip(_) | Value::Cidr(..) => false,
    }
}

/// `@mapInsert(map, key, value)` / `@mapInsert(map, entries)`: a new map with the entries
/// added. Keys follow the rules of map literals; one already present is an error.
fn map_insert<'a>(args: Vec<Value<'a>>) -> EvalResult<'a> {
    let (Value::Map(m), new): (&Value<'a>, Vec<(Value<'a>, Value<'a>)>) = (&args[0], match &args[1..] {
        [k, v] => vec![(k.clone(), v.clone())],
        [Value::Map(e)] => e.keys().into_iter().map(|k| (k.clone(), e.get(&k).unwrap_or(Value::Null))).collect(),
        _ => return Err(no_overload("@mapInsert", &args.iter().collect::<Vec<_>>())),
    }) else {
        return Err(no_overload("@mapInsert", &args.iter().collect::<Vec<_>>()));
    };
    let mut out: Vec<(Value<'a>, Value<'a>)> = m.keys().into_iter().map(|k| (k.clone(), m.get(&k).unwrap_or(Value::Null))).collect();
    for (k, v) in new {
        if !matches!(k, Value::Str(_) | Value::Int(_) | Value::UInt(_) | Value::Bool(_)) {
            return Err(invalid(format!("unsupported map key type {}", k.type_name())));
        }
        if out.iter().any(|(x, _)| x.equals(&k)) {
            return Err(invalid(format!("duplicate map key {k}")));
        }
        out.push((k, v));
    }
    Ok(Value::Map(super::Map::Owned(Arc::new(out))))
}

fn to_int(v: &Value<'_>) -> Option<Result<i64, EvalError>> {
    Some(match v {
        Value::Int(i) => Ok(*i),
        Value::UInt(u) => i64::try_from(*u).map_err(|_| overflow()),
        Value::Double(d) => {
            if d.is_finite() && *d > -9223372036854775809.0 && *d < 9223372036854775808.0 {
                Ok(*d as i64)
            } else {
                Err(overflow())
            }
        }
        Value::Str(s) => s.parse().map_err(|_| invalid(format!("cannot convert {:?} to int", &**s))),
        Value::Timestamp(t) => Ok(t.timestamp()),
        _ => return None,
    })
}

fn parse_double(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|d: &f64| d.is_finite()),
    }
}

/// Go-style durations, as CEL uses: `"90s"`, `"1h30m"`, `"1.5s"`, `"-2m"`, `"300ms"`.
pub(crate) fn parse_duration(s: &str) -> Option<TimeDelta> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(TimeDelta::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let nanos_per: i128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            _ => return None,
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut frac_nanos: i128 = 0;
        let mut scale = nanos_per;
        for d in frac.bytes().take(18) {
            scale /= 10;
            frac_nanos += (d - b'0') as i128 * scale;
        }
        total = total.checked_add(int.checked_mul(nanos_per)?.checked_add(frac_nanos)?)?;
        rest = tail;
    }
    let total = if neg { -total } else { total };
    let secs = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
    let d = TimeDelta::new(secs, total.rem_euclid(1_000_000_000) as u32)?;
    duration_in_range(Some(d)).ok()
}

fn time_part<'a>(part: TimePart, v: &Value<'_>, tz: Option<&Value<'_>>) -> Option<EvalResult<'a>> {
    match v {
        Value::Timestamp(t) => {
            let offset = match tz {
                None => FixedOffset::east_opt(0)?,
                Some(Value::Str(s)) => match parse_offset(s, t) {
                    Some(o) => o,
                    None => return Some(Err(invalid(format!("unknown time zone {:?} (use an IANA name, UTC or ±HH:MM)", &**s)))),
                },
                Some(_) => return None,
            };
            let t = t.with_timezone(&offset);
            Some(Ok(Value::Int(match part {
                TimePart::FullYear => t.year() as i64,
                TimePart::Month => t.month0() as i64,
                TimePart::DayOfYear => t.ordinal0() as i64,
                TimePart::DayOfMonth => t.day0() as i64,
                TimePart::Date => t.day() as i64,
                TimePart::DayOfWeek => t.weekday().num_days_from_sunday() as i64,
                TimePart::Hours => t.hour() as i64,
                TimePart::Minutes => t.minute() as i64,
                TimePart::Seconds => t.second() as i64,
                TimePart::Milliseconds => (t.nanosecond() / 1_000_000) as i64,
            })))
        }
        Value::Duration(d) if tz.is_none() => Some(Ok(Value::Int(match part {
            TimePart::Hours => d.num_hours(),
            TimePart::Minutes => d.num_minutes(),
            TimePart::Seconds => d.num_seconds(),
            TimePart::Milliseconds => d.num_milliseconds(),
            _ => return None,
        }))),
        _ => None,
    }
}

/// The UTC offset that time zone `s` has at instant `t`: an IANA name (`"Australia/Sydney"`,
/// daylight saving time included), `"UTC"`, or a fixed offset `±HH:MM`, where the sign may
/// be left out (`"02:00"` is `+02:00`, as cel-go reads it).
fn parse_offset(s: &str, t: &DateTime<Utc>) -> Option<FixedOffset> {
    if s == "UTC" || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        b'0'..=b'9' => (1, s),
        _ => {
            let tz: chrono_tz::Tz = s.parse().ok()?;
            return Some(tz.offset_from_utc_datetime(&t.naive_utc()).fix());
        }
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    FixedOffset::east_opt(sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60))
}

type Compiled = Result<Arc<Regex>, String>;

/// Registered patterns, compiled once and shared by every thread: matching never compiles a
/// registered pattern again (until the table is cleared at its bound). Patterns read from
/// events stay out of it: they cannot crowd out the registered ones.
static REGISTERED: LazyLock<RwLock<HashMap<Box<str>, Compiled>>> = LazyLock::new(RwLock::default);

const REGISTERED_MAX: usize = 100_000;

thread_local! {
    /// Each thread's recent patterns, in front of the shared table: a hit takes no lock.
    static RECENT: RefCell<HashMap<Box<str>, Compiled>> = RefCell::new(HashMap::new());
}

const RECENT_MAX: usize = 512;

fn compile_regex(pattern: &str) -> Compiled {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map(Arc::new)
        .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

/// Compiles a pattern of a subscription being registered into the shared table; an invalid
/// pattern is `invalid_argument` (the compiler reports it as `invalid_regex`).
pub(crate) fn register_regex(pattern: &str) -> Result<(), EvalError> {
    if let Some(r) = REGISTERED.read().get(pattern) {
        return r.as_ref().map(|_| ()).map_err(|e| invalid(e.clone()));
    }
    let compiled = compile_regex(pattern);
    let result = compiled.as_ref().map(|_| ()).map_err(|e| invalid(e.clone()));
    if compiled.is_ok() {
        let mut table = REGISTERED.write();
        if table.len() >= REGISTERED_MAX {
            table.clear();
        }
        table.insert(pattern.into(), compiled);
    }
    result
}

/// The compiled pattern; an invalid pattern is `invalid_argument`.
fn regex(pattern: &str) -> Result<Arc<Regex>, EvalError> {
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some(r) = recent.get(pattern) {
            return r.clone().map_err(invalid);
        }
        let registered = REGISTERED.read().get(pattern).cloned();
        let compiled = registered.unwrap_or_else(|| compile_regex(pattern));
        if recent.len() >= RECENT_MAX {
            recent.clear();
        }
        recent.insert(pattern.into(), compiled.clone());
        compiled.map_err(invalid)
    })
}


#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn registered_patterns_are_compiled_once_and_shared() {
        // More than a thread's recent cache holds: matching still finds every pattern compiled.
        let patterns: Vec<String> = (0..RECENT_MAX + 100).map(|i| format!("^shared-{i}-[a-z]+$")).collect();
        patterns.iter().for_each(|p| register_regex(p).unwrap());
        let from_another_thread = std::thread::spawn({
            let patterns = patterns.clone();
            move || patterns.iter().map(|p| regex(p).unwrap()).collect::<Vec<_>>()
        });
        for (p, theirs) in patterns.iter().zip(from_another_thread.join().unwrap()) {
            let registered = REGISTERED.read().get(p.as_str()).cloned().unwrap().unwrap();
            assert!(Arc::ptr_eq(&registered, &theirs), "{p} was compiled again");
            assert!(Arc::ptr_eq(&registered, &regex(p).unwrap()), "{p} was compiled again");
        }
        assert!(register_regex("(unclosed").is_err());
        assert!(!REGISTERED.read().contains_key("(unclosed"), "invalid patterns are not kept");
    }
}
