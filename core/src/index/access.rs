//! Choosing the access predicate of a conjunction: the one atom whose truth the index can test
//! cheaply and that narrows candidates the most. Every access predicate is a **necessary**
//! condition of its atom (the atom cannot be true unless the predicate holds); none is
//! sufficient, so every candidate is verified.
//!
//! Negations (`!=`, `!in`, `!startsWith` …) never drive candidate generation: they are true
//! for almost every event.

use super::range::{Bound, Side};
use crate::eval::{Str, Value};
use crate::frontend::ast::{CmpOp, Expr, Func, Path};
use smallvec::SmallVec;

/// What the index tests for one conjunction. It borrows the parameters it was chosen from
/// (`'v`): removal recomputes it from a record's encoded parameters without copying them.
#[derive(Clone, Debug)]
pub(crate) enum Pred<'v> {
    /// The value at the path equals one of these scalars (`==`, `in [..]`).
    Eq(Vec<Value<'v>>),
    /// The value at the path is a list containing this scalar, or a map with this key.
    Elem(Value<'v>),
    Prefix(Str<'v>),
    Suffix(Str<'v>),
    Contains(Str<'v>),
    Range(Side, Bound),
    /// Numeric `lo <= value <= hi` (order-preserving encodings), from a lower and an upper
    /// bound on one path in one conjunction.
    Interval(u64, u64),
    /// The path exists in the event.
    Presence,
}

impl Pred<'_> {
    /// Lower is more selective. Equality before affixes before substrings before ranges
    /// before presence, so a predicate that every subscription shares
    /// (`async.data.amount > 100`) never hides a selective one.
    pub fn rank(&self) -> u8 {
        match self {
            Pred::Eq(_) | Pred::Elem(_) => 0,
            Pred::Prefix(_) | Pred::Suffix(_) => 1,
            Pred::Contains(_) => 2,
            Pred::Interval(..) => 3,
            Pred::Range(..) => 4,
            Pred::Presence => 5,
        }
    }

    pub fn class(&self) -> &'static str {
        match self {
            Pred::Eq(_) => "eq",
            Pred::Elem(_) => "elem",
            Pred::Prefix(_) => "prefix",
            Pred::Suffix(_) => "suffix",
            Pred::Contains(_) => "contains",
            Pred::Range(..) => "range",
            Pred::Interval(..) => "interval",
            Pred::Presence => "presence",
        }
    }
}

/// A readable form for `explain`: what the index tests of the value at the path.
impl std::fmt::Display for Pred<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lit = |v: &Value<'_>| v.to_json().to_string();
        match self {
            Pred::Eq(vs) if vs.len() == 1 => write!(f, "== {}", lit(&vs[0])),
            Pred::Eq(vs) => write!(f, "in [{}]", vs.iter().map(lit).collect::<Vec<_>>().join(", ")),
            Pred::Elem(v) => write!(f, "holds {}", lit(v)),
            Pred::Prefix(s) => write!(f, "startsWith({:?})", &**s),
            Pred::Suffix(s) => write!(f, "endsWith({:?})", &**s),
            Pred::Contains(s) => write!(f, "contains({:?})", &**s),
            Pred::Range(Side::Lower, b) => write!(f, ">= {b}"),
            Pred::Range(Side::Upper, b) => write!(f, "<= {b}"),
            Pred::Interval(lo, hi) => write!(f, "in [{}, {}]", super::range::unordered(*lo), super::range::unordered(*hi)),
            Pred::Presence => f.write_str("is present"),
        }
    }
}

/// The access predicate of the most selective indexable atom, or `None` (scan).
pub(crate) fn choose<'v>(atoms: &[Expr], params: &[Value<'v>]) -> Option<(Path, Pred<'v>)> {
    let mut preds: SmallVec<[(Path, Pred<'v>); 4]> = atoms.iter().filter_map(|a| access(a, params)).collect();
    // The first of the most selective.
    let best = (0..preds.len()).min_by_key(|&i| preds[i].1.rank())?;
    if preds[best].1.rank() < Pred::Interval(0, 0).rank() {
        return Some(preds.swap_remove(best));
    }
    // Two numeric bounds on one path make an interval, far more selective than either.
    for (path, p) in &preds {
        if let Pred::Range(Side::Lower, Bound::Num(lo)) = p {
            let hi = preds.iter().filter_map(|(q, r)| match r {
                Pred::Range(Side::Upper, Bound::Num(hi)) if q == path && hi >= lo => Some(*hi),
                _ => None,
            });
            if let Some(hi) = hi.min() {
                return Some((path.clone(), Pred::Interval(*lo, hi)));
            }
        }
    }
    Some(preds.swap_remove(best))
}

fn value<'p, 'v>(e: &'p Expr, params: &'p [Value<'v>]) -> Option<Value<'v>> {
    match e {
        Expr::Lit(v) => Some(v.clone()),
        Expr::Param(i) => params.get(*i as usize).cloned(),
        _ => None,
    }
}

fn is_scalar(v: &Value<'_>) -> bool {
    matches!(v, Value::Null | Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Double(_) | Value::Str(_))
}

/// A necessary condition of one atom, if the index can test it.
pub(crate) fn access<'v>(atom: &Expr, params: &[Value<'v>]) -> Option<(Path, Pred<'v>)> {
    match atom {
        // A bare boolean field: `async.data.flag`.
        Expr::Path(p) if !p.is_empty() => Some((p.clone(), Pred::Eq(vec![Value::Bool(true)]))),
        Expr::Cmp(op, a, b) => {
            let (path, v, op) = match (&**a, &**b) {
                (Expr::Path(p), other) => (p, value(other, params)?, *op),
                (other, Expr::Path(p)) => (p, value(other, params)?, op.flip()),
                _ => return None,
            };
            match op {
                CmpOp::Eq if is_scalar(&v) => Some((path.clone(), Pred::Eq(vec![v]))),
                CmpOp::Eq => Some((path.clone(), Pred::Presence)),
                CmpOp::Ne => None,
                CmpOp::Lt | CmpOp::Le => Some((path.clone(), Bound::of(&v).map_or(Pred::Presence, |b| Pred::Range(Side::Upper, b)))),
                CmpOp::Gt | CmpOp::Ge => Some((path.clone(), Bound::of(&v).map_or(Pred::Presence, |b| Pred::Range(Side::Lower, b)))),
            }
        }
        Expr::In(a, b) => match (&**a, &**b) {
            (Expr::Path(p), coll) => {
                let items: Vec<Value<'v>> = match coll {
                    Expr::List(items) => items.iter().map(|i| value(i, params)).collect::<Option<_>>()?,
                    other => match value(other, params)? {
                        Value::List(l) => l.iter().collect(),
                        Value::Map(m) => m.keys(),
                        _ => return None,
                    },
                };
                // A list or map among the items could equal a list or map in the event: no key
                // stands for that, so leave the atom to verification.
                items.iter().all(is_scalar).then(|| (p.clone(), Pred::Eq(items)))
            }
            (elem, Expr::Path(p)) => match value(elem, params) {
                Some(v) if is_scalar(&v) => Some((p.clone(), Pred::Elem(v))),
                _ => Some((p.clone(), Pred::Presence)),
            },
            _ => None,
        },
        Expr::Call(f @ (Func::StartsWith | Func::EndsWith | Func::Contains), args) => {
            let Expr::Path(p) = &args[0] else { return None };
            let needle = match value(&args[1], params) {
                Some(Value::Str(s)) if !s.is_empty() => s,
                _ => return Some((p.clone(), Pred::Presence)),
            };
            Some((
                p.clone(),
                match f {
                    Func::StartsWith => Pred::Prefix(needle),
                    Func::EndsWith => Pred::Suffix(needle),
                    _ => Pred::Contains(needle),
                },
            ))
        }
        Expr::Call(Func::Matches, args) => match &args[0] {
            Expr::Path(p) => Some((p.clone(), Pred::Presence)),
            _ => None,
        },
        Expr::Has(operand, field) => match &**operand {
            Expr::Path(p) => {
                let mut v = p.to_vec();
                v.push(field.clone());
                Some((v.into(), Pred::Presence))
            }
            _ => None,
        },
        _ => None,
    }
}
