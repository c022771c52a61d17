//! Binding: every `event.<path>` in a condition is replaced by the trigger's value at that path.

use super::ast::Expr;
use crate::error::{CompileError, CompileErrorKind};
use crate::eval::Value;
use crate::Dialect;
use serde_json::Value as Json;
use std::sync::Arc;

/// The trigger's value at `path`: strict dialect errors on a missing field, lenient gives null.
pub(crate) fn trigger_value(trigger: &Json, path: &[Arc<str>], dialect: Dialect) -> Option<Value<'static>> {
    match path.iter().try_fold(trigger, |j, seg| j.as_object()?.get(&**seg)) {
        Some(j) => Some(Value::from_json_owned(j)),
        None if dialect == Dialect::Lenient => Some(Value::Null),
        None => None,
    }
}

pub(crate) fn bind(e: &mut Expr, trigger: &Json, dialect: Dialect, src: &str) -> Result<(), CompileError> {
    if let Expr::Trigger(path, span) = e {
        *e = match trigger_value(trigger, path, dialect) {
            Some(v) => Expr::Lit(v),
            None => {
                return Err(CompileError::new(
                    CompileErrorKind::MissingTriggerField,
                    format!("the trigger has no field event.{}", path.join(".")),
                    src,
                    *span,
                ))
            }
        };
        return Ok(());
    }
    let mut result = Ok(());
    for_each_child_mut(e, &mut |c| {
        if result.is_ok() {
            result = bind(c, trigger, dialect, src);
        }
    });
    result
}

pub(crate) fn for_each_child_mut(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    match e {
        Expr::Lit(_) | Expr::Param(_) | Expr::Path(_) | Expr::Trigger(..) | Expr::Local(_) => {}
        Expr::Select(x, _) | Expr::Has(x, _) | Expr::Not(x) | Expr::Neg(x) => f(x),
        Expr::Index(a, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::Arith(_, a, b) | Expr::In(a, b) => {
            f(a);
            f(b)
        }
        Expr::Cond(a, b, c) => {
            f(a);
            f(b);
            f(c)
        }
        Expr::Call(_, args) | Expr::List(args) => args.iter_mut().for_each(f),
        Expr::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            f(k);
            f(v)
        }),
        Expr::Comprehension(c) => {
            f(&mut c.range);
            f(&mut c.accu_init);
            f(&mut c.loop_cond);
            f(&mut c.loop_step);
            f(&mut c.result)
        }
    }
}
