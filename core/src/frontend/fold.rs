//! Constant folding. A subtree that reads nothing from the event is evaluated once at compile
//! time; boolean operators with a constant side simplify (`false && x` is `false` in CEL even
//! when `x` errors). Subtrees whose evaluation fails are kept, so the error shows at run time.

use super::ast::{Expr, Func, Opt};
use super::bind::for_each_child_mut;
use crate::eval::{eval, Ctx, Value};
use crate::Dialect;

pub(crate) fn fold(e: &mut Expr, dialect: Dialect) {
    for_each_child_mut(e, &mut |c| fold(c, dialect));
    // `[?x]` and `{?k: x}` mark `x` as an optional element: the mark must outlive folding
    // (its list or map, folded whole, still reads it).
    if matches!(e, Expr::Call(Func::Opt(Opt::Elem), _)) {
        return;
    }
    let decides = matches!(e, Expr::Or(..));
    let replacement = match e {
        Expr::Lit(_) => return,
        Expr::And(a, b) | Expr::Or(a, b) => {
            match (lit_bool(a), lit_bool(b)) {
                (Some(x), _) | (_, Some(x)) if x == decides => Some(Expr::Lit(Value::Bool(decides))),
                (Some(_), _) if b.is_boolean() => Some(std::mem::replace(&mut **b, Expr::Lit(Value::Null))),
                (_, Some(_)) if a.is_boolean() => Some(std::mem::replace(&mut **a, Expr::Lit(Value::Null))),
                _ => None,
            }
        }
        Expr::Cond(c, a, b) => match lit_bool(c) {
            Some(true) => Some(std::mem::replace(&mut **a, Expr::Lit(Value::Null))),
            Some(false) => Some(std::mem::replace(&mut **b, Expr::Lit(Value::Null))),
            None => None,
        },
        Expr::Not(x) => match &mut **x {
            Expr::Not(y) if y.is_boolean() => Some(std::mem::replace(&mut **y, Expr::Lit(Value::Null))),
            _ => None,
        },
        _ => None,
    };
    if let Some(r) = replacement {
        *e = r;
        return fold(e, dialect);
    }
    if e.is_constant() {
        let input = crate::event::Node::Null;
        let mut cx = Ctx::new(&input, &[], dialect);
        if let Ok(v) = eval(e, &mut cx) {
            let v = v.into_owned();
            *e = Expr::Lit(v);
        }
    }
}

fn lit_bool(e: &Expr) -> Option<bool> {
    match e {
        Expr::Lit(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}
