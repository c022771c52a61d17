//! The standard extension functions: strings, math and base64, with cel-go's semantics (the
//! cel-spec tests `string_ext`, `math_ext` and `encoders_ext` pin them down).
//!
//! String positions are counted in code points, not bytes, as everywhere in CEL: `'héllo'
//! .indexOf('l')` is 2.

use super::value::{format_double, format_duration, format_timestamp, Value};
use super::{no_overload, EvalResult, List};
use crate::error::{EvalError, EvalErrorKind as K};
use crate::frontend::ast::Ext;
use std::cmp::Ordering;
use std::sync::Arc;

fn invalid(msg: impl Into<String>) -> EvalError {
    EvalError::new(K::InvalidArgument, msg)
}

fn out_of_range(i: i64) -> EvalError {
    EvalError::new(K::IndexOutOfRange, format!("index out of range: {i}"))
}

fn string(s: String) -> Value<'static> {
    Value::string(&s)
}

fn list<'a>(items: Vec<Value<'a>>) -> Value<'a> {
    Value::List(List::Owned(Arc::new(items)))
}

pub(super) fn call<'a>(f: Ext, args: Vec<Value<'a>>) -> EvalResult<'a> {
    let bad = || no_overload(f.name(), &args.iter().collect::<Vec<_>>());
    use Value::{Bool, Double, Int, Str, UInt};
    Ok(match (f, args.as_slice()) {
        (Ext::CharAt, [Str(s), Int(i)]) => {
            let chars: Vec<char> = s.chars().collect();
            match usize::try_from(*i).ok().filter(|&i| i <= chars.len()) {
                Some(i) => string(chars.get(i).map(|c| c.to_string()).unwrap_or_default()),
                None => return Err(out_of_range(*i)),
            }
        }
        (Ext::IndexOf, [Str(s), Str(sub)]) => Int(index_of(s, sub, None)?),
        (Ext::IndexOf, [Str(s), Str(sub), Int(from)]) => Int(index_of(s, sub, Some(*from))?),
        (Ext::LastIndexOf, [Str(s), Str(sub)]) => Int(last_index_of(s, sub, None)?),
        (Ext::LastIndexOf, [Str(s), Str(sub), Int(from)]) => Int(last_index_of(s, sub, Some(*from))?),
        (Ext::Join, [Value::List(l), rest @ ..]) => {
            let sep = match rest {
                [] => "",
                [Str(sep)] => sep,
                _ => return Err(bad()),
            };
            let mut parts = Vec::with_capacity(l.len());
            for v in l.iter() {
                match v {
                    Str(s) => parts.push(s.to_string()),
                    v => return Err(no_overload("join", &[&v])),
                }
            }
            string(parts.join(sep))
        }
        (Ext::Replace, [Str(s), Str(from), Str(to), rest @ ..]) => {
            let limit = match rest {
                [] => usize::MAX,
                [Int(n)] if *n < 0 => usize::MAX,
                [Int(n)] => *n as usize,
                _ => return Err(bad()),
            };
            // `s.replace("", s)` would square the length of `s`: bound the result first.
            let matches = if from.is_empty() { s.chars().count() + 1 } else { s.matches(&**from).count() }.min(limit);
            if s.len().saturating_add(matches.saturating_mul(to.len())) > MAX_STRING_BYTES {
                return Err(invalid(format!("replace: the result would exceed {MAX_STRING_BYTES} bytes")));
            }
            string(if limit == usize::MAX { s.replace(&**from, to) } else { s.replacen(&**from, to, limit) })
        }
        (Ext::Split, [Str(s), Str(sep), rest @ ..]) => {
            let n = match rest {
                [] => -1,
                [Int(n)] => *n,
                _ => return Err(bad()),
            };
            list(split(s, sep, n).into_iter().map(|p| Value::string(p)).collect())
        }
        (Ext::Substring, [Str(s), Int(start), rest @ ..]) => {
            let chars: Vec<char> = s.chars().collect();
            let end = match rest {
                [] => chars.len() as i64,
                [Int(e)] => *e,
                _ => return Err(bad()),
            };
            let len = chars.len() as i64;
            if *start < 0 || *start > len {
                return Err(out_of_range(*start));
            }
            if end < 0 || end > len {
                return Err(out_of_range(end));
            }
            if *start > end {
                return Err(invalid(format!("invalid substring range. start: {start}, end: {end}")));
            }
            string(chars[*start as usize..end as usize].iter().collect())
        }
        // Unicode white space, as Go's `strings.TrimSpace`.
        (Ext::Trim, [Str(s)]) => Value::string(s.trim()),
        (Ext::Reverse, [Str(s)]) => string(s.chars().rev().collect()),
        (Ext::Reverse, [Value::List(l)]) => list(l.iter().collect::<Vec<_>>().into_iter().rev().collect()),
        (Ext::Format, [Str(s), Value::List(l)]) => string(format(s, &l.iter().collect::<Vec<_>>())?),
        (Ext::Quote, [Str(s)]) => string(quote(s)),
        (Ext::Greatest | Ext::Least, _) => extreme(f, args)?,
        (Ext::Abs, [Int(i)]) => Int(i.checked_abs().ok_or_else(|| EvalError::new(K::Overflow, "integer overflow in abs"))?),
        (Ext::Abs, [UInt(u)]) => UInt(*u),
        (Ext::Abs, [Double(d)]) => Double(d.abs()),
        (Ext::Sign, [Int(i)]) => Int(i.signum()),
        (Ext::Sign, [UInt(u)]) => UInt((*u > 0) as u64),
        (Ext::Sign, [Double(d)]) => Double(if d.is_nan() || *d == 0.0 { *d } else { d.signum() }),
        (Ext::Ceil, [Double(d)]) => Double(d.ceil()),
        (Ext::Floor, [Double(d)]) => Double(d.floor()),
        // Half away from zero, as Go's `math.Round`.
        (Ext::Round, [Double(d)]) => Double(d.round()),
        (Ext::Trunc, [Double(d)]) => Double(d.trunc()),
        (Ext::Sqrt, [Int(i)]) => Double((*i as f64).sqrt()),
        (Ext::Sqrt, [UInt(u)]) => Double((*u as f64).sqrt()),
        (Ext::Sqrt, [Double(d)]) => Double(d.sqrt()),
        (Ext::IsNaN, [Double(d)]) => Bool(d.is_nan()),
        (Ext::IsInf, [Double(d)]) => Bool(d.is_infinite()),
        (Ext::IsFinite, [Double(d)]) => Bool(d.is_finite()),
        (Ext::BitAnd, [Int(a), Int(b)]) => Int(a & b),
        (Ext::BitAnd, [UInt(a), UInt(b)]) => UInt(a & b),
        (Ext::BitOr, [Int(a), Int(b)]) => Int(a | b),
        (Ext::BitOr, [UInt(a), UInt(b)]) => UInt(a | b),
        (Ext::BitXor, [Int(a), Int(b)]) => Int(a ^ b),
        (Ext::BitXor, [UInt(a), UInt(b)]) => UInt(a ^ b),
        (Ext::BitNot, [Int(a)]) => Int(!a),
        (Ext::BitNot, [UInt(a)]) => UInt(!a),
        // Shifts of 64 bits or more clear every bit; a right shift of an int is logical (its
        // bits move as a uint's), as in cel-go.
        (Ext::BitShiftLeft | Ext::BitShiftRight, [_, Int(n)]) if *n < 0 => {
            return Err(invalid(format!("{}: negative offset {n}", f.name())))
        }
        (Ext::BitShiftLeft, [Int(a), Int(n)]) => Int(if *n >= 64 { 0 } else { ((*a as u64) << n) as i64 }),
        (Ext::BitShiftLeft, [UInt(a), Int(n)]) => UInt(if *n >= 64 { 0 } else { a << n }),
        (Ext::BitShiftRight, [Int(a), Int(n)]) => Int(if *n >= 64 { 0 } else { ((*a as u64) >> n) as i64 }),
        (Ext::BitShiftRight, [UInt(a), Int(n)]) => UInt(if *n >= 64 { 0 } else { a >> n }),
        (Ext::Base64Encode, [Value::Bytes(b)]) => string(super::value::base64_encode(b)),
        (Ext::Base64Decode, [Str(s)]) => Value::Bytes(base64_decode(s).ok_or_else(|| invalid("invalid base64 input"))?.into()),
        (Ext::Slice, [Value::List(l), Int(start), Int(end)]) => {
            let len = l.len() as i64;
            if *start < 0 || *end < 0 || start > end || *end > len {
                return Err(EvalError::new(K::IndexOutOfRange, format!("cannot slice({start}, {end}) a list of size {len}")));
            }
            list((*start..*end).filter_map(|i| l.get(i as usize)).collect())
        }
        (Ext::Flatten, [Value::List(l), rest @ ..]) => {
            let depth = match rest {
                [] => 1,
                [Int(d)] if *d >= 0 => *d,
                [Int(d)] => return Err(invalid(format!("flatten: negative depth {d}"))),
                _ => return Err(bad()),
            };
            let mut out = Vec::new();
            flatten(l.iter(), depth, &mut out);
            list(out)
        }
        (Ext::Distinct, [Value::List(l)]) => {
            let mut out: Vec<Value<'a>> = Vec::new();
            for v in l.iter() {
                if !out.iter().any(|x| x.equals(&v)) {
                    out.push(v);
                }
            }
            list(out)
        }
        (Ext::Range, [Int(n)]) => match *n {
            0..=RANGE_MAX => list((0..*n).map(Int).collect()),
            _ => return Err(invalid(format!("lists.range({n}): the length must lie in 0..={RANGE_MAX}"))),
        },
        (Ext::Sort, [Value::List(l)]) => list(sorted(l.iter().collect(), |v| v.clone())?),
        (Ext::SortByKeys, [Value::List(l), Value::List(keys)]) if l.len() == keys.len() => {
            let pairs: Vec<(Value<'a>, Value<'a>)> = keys.iter().zip(l.iter()).collect();
            list(sorted(pairs, |(k, _)| k.clone())?.into_iter().map(|(_, v)| v).collect())
        }
        (Ext::SetsContains, [Value::List(a), Value::List(b)]) => Bool(b.iter().all(|x| a.iter().any(|y| y.equals(&x)))),
        (Ext::SetsEquivalent, [Value::List(a), Value::List(b)]) => {
            Bool(b.iter().all(|x| a.iter().any(|y| y.equals(&x))) && a.iter().all(|x| b.iter().any(|y| y.equals(&x))))
        }
        (Ext::SetsIntersects, [Value::List(a), Value::List(b)]) => Bool(a.iter().any(|x| b.iter().any(|y| y.equals(&x)))),
        (Ext::Ip, [Str(s)]) => Value::Ip(super::net::parse_ip(s)?),
        (Ext::Cidr, [Str(s)]) => {
            let (a, n) = super::net::parse_cidr(s)?;
            Value::Cidr(a, n)
        }
        (Ext::IsIp, [Str(s)]) => Bool(super::net::parse_ip(s).is_ok()),
        (Ext::IpIsCanonical, [Str(s)]) => Bool(super::net::parse_ip(s)?.to_string() == **s),
        (Ext::Family, [Value::Ip(a)]) => Int(if a.is_ipv4() { 4 } else { 6 }),
        (Ext::IsUnspecified, [Value::Ip(a)]) => Bool(a.is_unspecified()),
        (Ext::IsLoopback, [Value::Ip(a)]) => Bool(a.is_loopback()),
        (Ext::IsGlobalUnicast, [Value::Ip(a)]) => Bool(super::net::is_global_unicast(a)),
        (Ext::IsLinkLocalMulticast, [Value::Ip(a)]) => Bool(super::net::is_link_local_multicast(a)),
        (Ext::IsLinkLocalUnicast, [Value::Ip(a)]) => Bool(super::net::is_link_local_unicast(a)),
        (Ext::ContainsIp, [Value::Cidr(net, n), ip]) => {
            let ip = match ip {
                Value::Ip(a) => *a,
                Str(s) => super::net::parse_ip(s)?,
                _ => return Err(bad()),
            };
            Bool(super::net::contains(net, *n, &ip))
        }
        (Ext::ContainsCidr, [Value::Cidr(net, n), other]) => {
            let (a, m) = match other {
                Value::Cidr(a, m) => (*a, *m),
                Str(s) => super::net::parse_cidr(s)?,
                _ => return Err(bad()),
            };
            Bool(m >= *n && super::net::contains(net, *n, &a))
        }
        (Ext::CidrIp, [Value::Cidr(a, _)]) => Value::Ip(*a),
        (Ext::Masked, [Value::Cidr(a, n)]) => Value::Cidr(super::net::mask(a, *n), *n),
        (Ext::PrefixLength, [Value::Cidr(_, n)]) => Int(*n as i64),
        _ => return Err(bad()),
    })
}

/// `items` in the order of their keys (stable); every key must be orderable against the
/// others (no `"b"` among ints, no lists).
fn sorted<'a, T>(mut items: Vec<T>, key: impl Fn(&T) -> Value<'a>) -> Result<Vec<T>, EvalError> {
    use Value::*;
    let keys: Vec<Value<'a>> = items.iter().map(&key).collect();
    let orderable = |v: &Value<'_>| matches!(v, Bool(_) | Int(_) | UInt(_) | Double(_) | Str(_) | Bytes(_) | Timestamp(_) | Duration(_));
    if let Some(v) = keys.iter().find(|v| !orderable(v)) {
        return Err(no_overload("sort", &[v]));
    }
    if let Some(first) = keys.first() {
        if let Some(v) = keys.iter().find(|v| first.compare(v).is_err()) {
            return Err(no_overload("sort", &[first, v]));
        }
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| keys[a].compare(&keys[b]).ok().flatten().unwrap_or(Ordering::Equal));
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    Ok(order.into_iter().map(|i| slots[i].take().expect("each index once")).collect())
}

/// The longest string `replace` builds: a bound on the memory one evaluation can take.
const MAX_STRING_BYTES: usize = 16 << 20;

/// The largest precision of a `format` clause (`%.1000000000f` would allocate a gigabyte).
const MAX_PRECISION: usize = 100;

/// The longest list `lists.range` builds: a bound on the memory one evaluation can take.
const RANGE_MAX: i64 = 1_000_000;

fn flatten<'a>(items: impl Iterator<Item = Value<'a>>, depth: i64, out: &mut Vec<Value<'a>>) {
    for v in items {
        match v {
            Value::List(inner) if depth > 0 => flatten(inner.iter().collect::<Vec<_>>().into_iter(), depth - 1, out),
            v => out.push(v),
        }
    }
}

/// Code-point index of the first `sub` at or after `from` (cel-go: an empty `sub` is found
/// at `from`, before any range check; `from` must lie inside the string).
fn index_of(s: &str, sub: &str, from: Option<i64>) -> Result<i64, EvalError> {
    if sub.is_empty() {
        return Ok(from.unwrap_or(0));
    }
    let hay: Vec<char> = s.chars().collect();
    let needle: Vec<char> = sub.chars().collect();
    let start = match from {
        Some(f) if f < 0 || f as usize >= hay.len() => return Err(out_of_range(f)),
        Some(f) => f as usize,
        None => 0,
    };
    Ok((start..=hay.len().saturating_sub(needle.len()))
        .find(|&i| hay.len() >= needle.len() && hay[i..i + needle.len()] == needle[..])
        .map_or(-1, |i| i as i64))
}

/// Code-point index of the last `sub` starting at or before `from` (default: the end).
fn last_index_of(s: &str, sub: &str, from: Option<i64>) -> Result<i64, EvalError> {
    let hay: Vec<char> = s.chars().collect();
    if sub.is_empty() {
        return Ok(from.unwrap_or(hay.len() as i64));
    }
    let needle: Vec<char> = sub.chars().collect();
    let last = match from {
        Some(f) if f < 0 || f as usize >= hay.len() => return Err(out_of_range(f)),
        Some(f) => f as usize,
        None => hay.len(),
    };
    if hay.len() < needle.len() {
        return Ok(-1);
    }
    let last = last.min(hay.len() - needle.len());
    Ok((0..=last).rev().find(|&i| hay[i..i + needle.len()] == needle[..]).map_or(-1, |i| i as i64))
}

/// Go's `strings.SplitN`: `n == 0` gives no parts, `n < 0` all of them, `n > 0` at most `n`
/// (the last holds the rest); an empty separator splits between code points.
fn split<'s>(s: &'s str, sep: &str, n: i64) -> Vec<&'s str> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
        let count = if n < 0 { bounds.len() } else { bounds.len().min(n as usize) };
        let mut out = Vec::with_capacity(count);
        for k in 0..count {
            let end = if k + 1 == count { s.len() } else { bounds[k + 1] };
            out.push(&s[bounds[k]..end]);
        }
        return out;
    }
    if n < 0 {
        s.split(sep).collect()
    } else {
        s.splitn(n as usize, sep).collect()
    }
}

/// `strings.quote`: the string in double quotes with `\a \b \f \n \r \t \v \\ \"` escaped
/// and everything else as it is.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `math.greatest` / `math.least` over numbers given as arguments or as one list. The result
/// keeps its own type (`math.greatest(1, 2.5)` is the double `2.5`); ties keep the first.
fn extreme<'a>(f: Ext, args: Vec<Value<'a>>) -> EvalResult<'a> {
    let items: Vec<Value<'a>> = match args.as_slice() {
        [Value::List(l)] => l.iter().collect(),
        _ => args,
    };
    let want = if f == Ext::Greatest { Ordering::Greater } else { Ordering::Less };
    let mut best: Option<Value<'a>> = None;
    for v in items {
        if !v.is_number() {
            return Err(no_overload(f.name(), &[&v]));
        }
        best = Some(match best {
            None => v,
            Some(b) => match v.compare(&b) {
                Ok(Some(o)) if o == want => v,
                // NaN wins: it is neither greater nor less than anything.
                Ok(None) if matches!(v, Value::Double(d) if d.is_nan()) => v,
                _ => b,
            },
        });
    }
    best.ok_or_else(|| invalid(format!("{}: no arguments", f.name())))
}

/// The standard base64 alphabet, with or without padding.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone trailing character carries fewer than 8 bits: not base64.
    (bits < 6).then_some(out)
}

/// `"…".format([args])`: cel-go's clauses `%s %d %f %e %b %o %x %X %%`, with an optional
/// precision (`%.3f`).
fn format(template: &str, args: &[Value<'_>]) -> Result<String, EvalError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            precision = Some(
                digits
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p <= MAX_PRECISION)
                    .ok_or_else(|| invalid(format!("could not parse formatting clause: precision must lie in 0..={MAX_PRECISION}")))?,
            );
        }
        let verb = chars.next().ok_or_else(|| invalid("could not parse formatting clause: missing verb"))?;
        if !"sdfebox X".contains(verb) || verb == ' ' {
            return Err(invalid(format!("could not parse formatting clause: unrecognized formatting clause {verb:?}")));
        }
        let arg = args.get(next).ok_or_else(|| EvalError::new(K::IndexOutOfRange, format!("index {next} out of range")))?;
        next += 1;
        out.push_str(&format_clause(verb, precision, arg)?);
    }
    Ok(out)
}

fn format_clause(verb: char, precision: Option<usize>, v: &Value<'_>) -> Result<String, EvalError> {
    let wrong = |what: &str| invalid(format!("error during formatting: {what}, was given {}", v.type_name()));
    let special = |d: f64| {
        if d.is_nan() {
            Some("NaN".to_owned())
        } else if d.is_infinite() {
            Some(if d > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
        } else {
            None
        }
    };
    let as_double = |v: &Value<'_>| match v {
        Value::Double(d) => Some(*d),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        _ => None,
    };
    let signed = |neg: bool, digits: String| if neg { format!("-{digits}") } else { digits };
    Ok(match verb {
        's' => format_string(v)?,
        'd' => match v {
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Double(d) => special(*d).ok_or_else(|| wrong("decimal clause can only be used on integers"))?,
            _ => return Err(wrong("decimal clause can only be used on integers")),
        },
        'f' => {
            let d = as_double(v).ok_or_else(|| wrong("fixed-point clause can only be used on doubles"))?;
            special(d).unwrap_or_else(|| format!("{d:.*}", precision.unwrap_or(6)))
        }
        'e' => {
            let d = as_double(v).ok_or_else(|| wrong("scientific clause can only be used on doubles"))?;
            match special(d) {
                Some(s) => s,
                None => {
                    // Rust writes `2.718280e0`; Go (and so CEL) `2.718280e+00`.
                    let s = format!("{d:.*e}", precision.unwrap_or(6));
                    let (mantissa, exp) = s.split_once('e').expect("exponent");
                    let exp: i32 = exp.parse().expect("exponent");
                    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
                }
            }
        }
        'b' => match v {
            Value::Int(i) => signed(*i < 0, format!("{:b}", i.unsigned_abs())),
            Value::UInt(u) => format!("{u:b}"),
            Value::Bool(b) => (*b as u8).to_string(),
            _ => return Err(wrong("only integers and bools can be formatted as binary")),
        },
        'o' => match v {
            Value::Int(i) => signed(*i < 0, format!("{:o}", i.unsigned_abs())),
            Value::UInt(u) => format!("{u:o}"),
            _ => return Err(wrong("octal clause can only be used on integers")),
        },
        _ => {
            let hex = match v {
                Value::Int(i) => signed(*i < 0, format!("{:x}", i.unsigned_abs())),
                Value::UInt(u) => format!("{u:x}"),
                Value::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                Value::Bytes(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
                _ => return Err(wrong("only integers, byte buffers, and strings can be formatted as hex")),
            };
            if verb == 'X' {
                hex.to_ascii_uppercase()
            } else {
                hex
            }
        }
    })
}

/// `%s`: strings as they are, doubles as `string()` gives them (but `Infinity`), lists and
/// maps in brackets with their elements the same way, map entries sorted by key text.
fn format_string(v: &Value<'_>) -> Result<String, EvalError> {
    Ok(match v {
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Double(d) if d.is_infinite() => if *d > 0.0 { "Infinity" } else { "-Infinity" }.to_owned(),
        Value::Double(d) => format_double(*d),
        Value::Timestamp(t) => format_timestamp(t),
        Value::Duration(d) => format_duration(d),
        Value::List(l) => {
            let items = l.iter().map(|x| format_string(&x)).collect::<Result<Vec<_>, _>>()?;
            format!("[{}]", items.join(", "))
        }
        Value::Map(m) => {
            let mut entries = Vec::with_capacity(m.len());
            for k in m.keys() {
                let val = m.get(&k).unwrap_or(Value::Null);
                entries.push((format_string(&k)?, format_string(&val)?));
            }
            entries.sort();
            let items: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{{{}}}", items.join(", "))
        }
        v => v.to_string(),
    })
}
