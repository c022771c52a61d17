//! Evaluation of compiled expressions against an event, in both dialects.
//!
//! The evaluator reads the event view ([`crate::event::Node`]) in place: a field path walks
//! the view and only the value at its end becomes a [`Value`] (borrowing, not copying,
//! strings, lists and maps).
//! Errors are values: they flow through `&&`/`||` with CEL's absorption rules and never panic.

mod ext;
mod functions;
pub(crate) use functions::register_regex;
mod net;
mod value;

pub use value::{List, Map, Str, Value};

use crate::error::{EvalError, EvalErrorKind as K};
use crate::event::Node;
use crate::frontend::ast::{CmpOp, Expr, Func, Opt};
use crate::Dialect;
use std::cmp::Ordering;
use std::sync::Arc;

pub(crate) type EvalResult<'a> = Result<Value<'a>, EvalError>;

/// What an expression is evaluated against.
pub(crate) struct Ctx<'a> {
    pub input: &'a Node<'a>,
    pub params: &'a [Value<'a>],
    pub dialect: Dialect,
    locals: Vec<EvalResult<'a>>,
}

impl<'a> Ctx<'a> {
    pub fn new(input: &'a Node<'a>, params: &'a [Value<'a>], dialect: Dialect) -> Self {
        Ctx { input, params, dialect, locals: Vec::new() }
    }

    fn lenient(&self) -> bool {
        self.dialect == Dialect::Lenient
    }
}

/// Walks a field path through the event. `None` when a key is missing (or a non-map is
/// crossed); the caller decides what that means in its dialect.
pub(crate) fn lookup_path<'n, 'a>(root: &'n Node<'a>, path: &[Arc<str>]) -> Result<&'n Node<'a>, PathMiss> {
    let mut cur = root;
    for seg in path {
        cur = match cur {
            Node::Map(m) => crate::event::entry(m, seg).ok_or(PathMiss::Missing)?,
            Node::Null => return Err(PathMiss::Missing),
            _ => return Err(PathMiss::NotAMap),
        };
    }
    Ok(cur)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathMiss {
    Missing,
    NotAMap,
}

fn no_such_key(field: &str) -> EvalError {
    EvalError::new(K::NoSuchKey, format!("no such key: {field}"))
}

pub(crate) fn no_overload(op: &str, args: &[&Value<'_>]) -> EvalError {
    let types: Vec<&str> = args.iter().map(|v| v.type_name()).collect();
    EvalError::new(K::NoSuchOverload, format!("no such overload: {op}({})", types.join(", ")))
}

pub(crate) fn eval<'a>(e: &'a Expr, cx: &mut Ctx<'a>) -> EvalResult<'a> {
    match e {
        Expr::Lit(v) => Ok(v.clone()),
        Expr::Param(i) => Ok(cx.params[*i as usize].clone()),
        Expr::Path(p) => match lookup_path(cx.input, p) {
            Ok(j) => Ok(Value::from_node(j)),
            Err(_) if cx.lenient() => Ok(Value::Null),
            Err(PathMiss::Missing) => Err(missing_path(cx.input, p)),
            Err(PathMiss::NotAMap) => Err(EvalError::new(K::NoSuchOverload, format!("cannot select a field of a non-map at {}", p.join(".")))),
        },
        Expr::Trigger(p, _) => Err(EvalError::new(K::NoSuchKey, format!("trigger field event.{} was not bound", p.join(".")))),
        Expr::Local(i) => cx.locals[*i as usize].clone(),
        Expr::Select(operand, field) => {
            let v = eval(operand, cx)?;
            select(v, field, cx.lenient())
        }
        Expr::Has(operand, field) => {
            let v = match eval(operand, cx) {
                Err(_) if cx.lenient() => return Ok(Value::Bool(false)),
                r => r?,
            };
            let v = match v {
                Value::Optional(None) => return Ok(Value::Bool(false)),
                Value::Optional(Some(inner)) => *inner,
                v => v,
            };
            match v {
                Value::Map(m) => Ok(Value::Bool(m.get_str(field).is_some())),
                _ if cx.lenient() => Ok(Value::Bool(false)),
                v => Err(no_overload("has", &[&v])),
            }
        }
        Expr::Index(a, b) => {
            let (a, b) = (eval(a, cx)?, eval(b, cx)?);
            index(a, &b, cx.lenient())
        }
        Expr::Not(x) => match eval(x, cx)? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            v => Err(no_overload("!_", &[&v])),
        },
        Expr::Neg(x) => match eval(x, cx)? {
            Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| EvalError::new(K::Overflow, "integer overflow in negation")),
            Value::Double(d) => Ok(Value::Double(-d)),
            Value::Duration(d) => Ok(Value::Duration(-d)),
            v => Err(no_overload("-_", &[&v])),
        },
        Expr::And(a, b) => logic(eval(a, cx), || eval(b, cx), false, "_&&_"),
        Expr::Or(a, b) => logic(eval(a, cx), || eval(b, cx), true, "_||_"),
        Expr::Cond(c, a, b) => match eval(c, cx)? {
            Value::Bool(true) => eval(a, cx),
            Value::Bool(false) => eval(b, cx),
            v => Err(no_overload("_?_:_", &[&v])),
        },
        Expr::Cmp(op, a, b) => {
            let (a, b) = (eval(a, cx)?, eval(b, cx)?);
            compare(*op, &a, &b, cx.lenient()).map(Value::Bool)
        }
        Expr::Arith(op, a, b) => {
            let (a, b) = (eval(a, cx)?, eval(b, cx)?);
            functions::arith(*op, a, b, cx.lenient())
        }
        Expr::In(a, b) => {
            let (a, b) = (eval(a, cx)?, eval(b, cx)?);
            contains_element(&b, &a, cx.lenient()).map(Value::Bool)
        }
        Expr::Call(Func::NotStrictlyFalse, args) => Ok(Value::Bool(!matches!(eval(&args[0], cx), Ok(Value::Bool(false))))),
        Expr::Call(f, args) => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, cx)?);
            }
            functions::call(*f, vals)
        }
        Expr::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                match x {
                    Expr::Call(Func::Opt(Opt::Elem), e) => {
                        if let Some(v) = optional_elem(eval(&e[0], cx)?)? {
                            out.push(v);
                        }
                    }
                    x => out.push(eval(x, cx)?),
                }
            }
            Ok(Value::List(List::Owned(Arc::new(out))))
        }
        Expr::Map(entries) => {
            let mut out: Vec<(Value<'a>, Value<'a>)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = eval(k, cx)?;
                if !matches!(k, Value::Str(_) | Value::Int(_) | Value::UInt(_) | Value::Bool(_)) {
                    return Err(EvalError::new(K::InvalidArgument, format!("unsupported map key type {}", k.type_name())));
                }
                if out.iter().any(|(x, _)| x.equals(&k)) {
                    return Err(EvalError::new(K::InvalidArgument, format!("duplicate map key {k}")));
                }
                let v = match v {
                    Expr::Call(Func::Opt(Opt::Elem), e) => match optional_elem(eval(&e[0], cx)?)? {
                        Some(v) => v,
                        None => continue,
                    },
                    v => eval(v, cx)?,
                };
                out.push((k, v));
            }
            Ok(Value::Map(Map::Owned(Arc::new(out))))
        }
        Expr::Comprehension(c) => {
            let range = eval(&c.range, cx)?;
            // (first variable, second variable): element and nothing, or with two variables
            // index and element (lists), key and value (maps).
            let items: Vec<(Value<'a>, Value<'a>)> = match (&range, c.two_vars) {
                (Value::List(l), false) => l.iter().map(|v| (v, Value::Null)).collect(),
                (Value::List(l), true) => l.iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v)).collect(),
                (Value::Map(m), false) => m.keys().into_iter().map(|k| (k, Value::Null)).collect(),
                (Value::Map(m), true) => m.keys().into_iter().map(|k| (k.clone(), m.get(&k).unwrap_or(Value::Null))).collect(),
                (v, _) => return Err(no_overload("comprehension", &[v])),
            };
            let accu = eval(&c.accu_init, cx);
            let base = c.base as usize;
            cx.locals.truncate(base);
            cx.locals.push(Ok(Value::Null));
            cx.locals.push(accu);
            if c.two_vars {
                cx.locals.push(Ok(Value::Null));
            }
            for (item, second) in items {
                cx.locals[base] = Ok(item);
                if c.two_vars {
                    cx.locals[base + 2] = Ok(second);
                }
                if matches!(eval(&c.loop_cond, cx), Ok(Value::Bool(false))) {
                    break;
                }
                let next = eval(&c.loop_step, cx);
                cx.locals[base + 1] = next;
            }
            let result = eval(&c.result, cx);
            cx.locals.truncate(base);
            result
        }
    }
}

/// CEL's commutative `&&` / `||`: the deciding value (`false` for and, `true` for or) wins
/// over an error on either side; otherwise the first error is the result.
fn logic<'a>(a: EvalResult<'a>, b: impl FnOnce() -> EvalResult<'a>, decides: bool, op: &str) -> EvalResult<'a> {
    let a = match a {
        Ok(Value::Bool(x)) if x == decides => return Ok(Value::Bool(decides)),
        Ok(Value::Bool(_)) => None,
        Ok(v) => Some(no_overload(op, &[&v])),
        Err(e) => Some(e),
    };
    match b() {
        Ok(Value::Bool(x)) if x == decides => Ok(Value::Bool(decides)),
        Ok(Value::Bool(x)) => match a {
            None => Ok(Value::Bool(x)),
            Some(e) => Err(e),
        },
        Ok(v) => Err(a.unwrap_or_else(|| no_overload(op, &[&v]))),
        Err(e) => Err(a.unwrap_or(e)),
    }
}

fn missing_path(root: &Node<'_>, p: &[Arc<str>]) -> EvalError {
    // Name the first missing segment: "no such key: data.userId".
    let mut cur = root;
    for (i, seg) in p.iter().enumerate() {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return no_such_key(&p[..=i].join(".")),
        }
    }
    no_such_key(&p.join("."))
}

/// An element of `[?x]` or value of `{?k: x}`: `Some` to keep, `None` to leave out.
fn optional_elem(v: Value<'_>) -> Result<Option<Value<'_>>, EvalError> {
    match v {
        Value::Optional(o) => Ok(o.map(|b| *b)),
        v => Err(no_overload("?_", &[&v])),
    }
}

/// `v.?field`, and `o.field` on an optional `o`: `optional.of(v.field)` when the field is
/// there, `optional.none()` when it is not (or `v` is none).
pub(crate) fn opt_select<'a>(v: Value<'a>, field: &str, lenient: bool) -> EvalResult<'a> {
    match v {
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => opt_select(*inner, field, lenient),
        Value::Map(m) => Ok(Value::Optional(m.get_str(field).map(Box::new))),
        _ if lenient => Ok(Value::Optional(None)),
        v => Err(no_overload(&format!("_.?{field}"), &[&v])),
    }
}

/// `v[?key]`, and `o[key]` on an optional `o`.
pub(crate) fn opt_index<'a>(v: Value<'a>, key: &Value<'_>, lenient: bool) -> EvalResult<'a> {
    match v {
        Value::Optional(None) => Ok(Value::Optional(None)),
        Value::Optional(Some(inner)) => opt_index(*inner, key, lenient),
        Value::List(_) | Value::Map(_) => match index(v, key, false) {
            Ok(x) => Ok(Value::Optional(Some(Box::new(x)))),
            Err(e) if matches!(e.kind(), K::NoSuchKey | K::IndexOutOfRange) => Ok(Value::Optional(None)),
            Err(e) => Err(e),
        },
        _ if lenient => Ok(Value::Optional(None)),
        v => Err(no_overload("_[?_]", &[&v, key])),
    }
}

pub(crate) fn select<'a>(v: Value<'a>, field: &str, lenient: bool) -> EvalResult<'a> {
    match v {
        v @ Value::Optional(_) => opt_select(v, field, lenient),
        Value::Map(m) => match m.get_str(field) {
            Some(x) => Ok(x),
            None if lenient => Ok(Value::Null),
            None => Err(no_such_key(field)),
        },
        _ if lenient => Ok(Value::Null),
        Value::Null => Err(no_such_key(field)),
        v => Err(no_overload(&format!("_.{field}"), &[&v])),
    }
}

fn index<'a>(a: Value<'a>, b: &Value<'_>, lenient: bool) -> EvalResult<'a> {
    if let Value::Optional(_) = a {
        return opt_index(a, b, lenient);
    }
    match (&a, b) {
        (Value::List(l), i) if i.is_number() => {
            let idx = match i {
                Value::Int(i) => Some(*i),
                Value::UInt(u) => i64::try_from(*u).ok(),
                Value::Double(d) if d.fract() == 0.0 => Some(*d as i64),
                _ => return Err(EvalError::new(K::InvalidArgument, "list index must be an integer")),
            };
            match idx.and_then(|i| usize::try_from(i).ok()).and_then(|i| l.get(i)) {
                Some(v) => Ok(v),
                None if lenient => Ok(Value::Null),
                None => Err(EvalError::new(K::IndexOutOfRange, format!("index {i} out of range for list of size {}", l.len()))),
            }
        }
        (Value::Map(m), k) => match m.get(k).or_else(|| numeric_key(m, k)) {
            Some(v) => Ok(v),
            None if lenient => Ok(Value::Null),
            None => Err(no_such_key(&k.to_string())),
        },
        _ if lenient => Ok(Value::Null),
        _ => Err(no_overload("_[_]", &[&a, b])),
    }
}

/// Map keys compare numerically across int/uint/double, as CEL equality does.
fn numeric_key<'a>(m: &Map<'a>, k: &Value<'_>) -> Option<Value<'a>> {
    if !k.is_number() {
        return None;
    }
    m.keys().into_iter().find(|x| x.equals(k)).and_then(|x| m.get(&x))
}

pub(crate) fn compare(op: CmpOp, a: &Value<'_>, b: &Value<'_>, lenient: bool) -> Result<bool, EvalError> {
    let ord = match op {
        CmpOp::Eq => return Ok(a.equals(b)),
        CmpOp::Ne => return Ok(!a.equals(b)),
        _ => match a.compare(b) {
            Ok(o) => o,
            Err(()) if lenient => return Ok(false),
            Err(()) => return Err(no_overload(&format!("{op:?}"), &[a, b])),
        },
    };
    Ok(match (op, ord) {
        (_, None) => false,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (CmpOp::Eq | CmpOp::Ne, _) => unreachable!("handled above"),
    })
}

/// `element in collection`: list membership or map key presence.
pub(crate) fn contains_element(collection: &Value<'_>, element: &Value<'_>, lenient: bool) -> Result<bool, EvalError> {
    match collection {
        Value::List(l) => Ok(l.iter().any(|x| x.equals(element))),
        Value::Map(m) => Ok(m.get(element).is_some() || numeric_key(m, element).is_some()),
        _ if lenient => Ok(false),
        c => Err(no_overload("@in", &[element, c])),
    }
}
