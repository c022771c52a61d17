//! Negation normal form: `!` is pushed through `&&` and `||` (De Morgan) down to the atoms,
//! where `!(a == b)` becomes `a != b` and `!!x` becomes `x`. Other negated atoms (`!(a < b)`,
//! `!(x in l)`, `!s.startsWith(p)`) stay as they are: `!(a < b)` is not `a >= b` for NaN or,
//! in the lenient dialect, for null.
//!
//! The rewrite keeps the meaning under CEL's error semantics: errors behave as "unknown" in
//! Kleene logic, for which De Morgan's laws hold.

use super::ast::{CmpOp, Expr};
use crate::eval::Value;

pub(crate) fn nnf(e: Expr) -> Expr {
    match e {
        Expr::Not(x) => negate(*x),
        Expr::And(a, b) => Expr::And(nnf(*a).bx(), nnf(*b).bx()),
        Expr::Or(a, b) => Expr::Or(nnf(*a).bx(), nnf(*b).bx()),
        other => other,
    }
}

/// The NNF of `!e`.
fn negate(e: Expr) -> Expr {
    match e {
        Expr::And(a, b) => Expr::Or(negate(*a).bx(), negate(*b).bx()),
        Expr::Or(a, b) => Expr::And(negate(*a).bx(), negate(*b).bx()),
        Expr::Not(x) if x.is_boolean() => nnf(*x),
        Expr::Cmp(CmpOp::Eq, a, b) => Expr::Cmp(CmpOp::Ne, a, b),
        Expr::Cmp(CmpOp::Ne, a, b) => Expr::Cmp(CmpOp::Eq, a, b),
        Expr::Lit(Value::Bool(b)) => Expr::Lit(Value::Bool(!b)),
        other => Expr::Not(other.bx()),
    }
}
