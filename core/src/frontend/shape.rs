//! Shapes: an expression with its literals lifted out into parameters. Subscriptions that
//! differ only in literals share one `Shape` (one tree, one DNF, one index plan) and each
//! keeps only its parameter values.

use super::ast::Expr;
use super::bind::for_each_child_mut;
use super::dnf;
use crate::eval::{eval, Ctx, Value};
use crate::{Dialect, EvalError};
use crate::event::Node;
use serde_json::Value as Json;
use std::fmt;
use std::sync::Arc;

pub(crate) struct Shape {
    /// The printed tree: the cache key and what `explain` shows.
    pub key: String,
    pub expr: Expr,
    /// The conjunctions of the DNF, or `None` when it is larger than the configured bound.
    pub conjunctions: Option<Vec<Vec<Expr>>>,
    /// Parameters used as the pattern of `matches`: checked (and compiled) at registration.
    pub patterns: Box<[u32]>,
}

impl Shape {
    pub fn new(key: String, expr: Expr, max_conjunctions: usize) -> Shape {
        let conjunctions = dnf::conjunctions(&expr, max_conjunctions);
        let mut patterns = Vec::new();
        expr.visit(&mut |e| {
            if let Expr::Call(crate::frontend::ast::Func::Matches, args) = e {
                if let Some(Expr::Param(i)) = args.get(1) {
                    patterns.push(*i);
                }
            }
        });
        patterns.sort_unstable();
        patterns.dedup();
        Shape { key, expr, conjunctions, patterns: patterns.into() }
    }
}

/// A compiled expression: a shared shape plus this expression's parameter values.
#[derive(Clone)]
pub struct Compiled {
    pub(crate) shape: Arc<Shape>,
    pub(crate) params: Box<[Value<'static>]>,
    pub(crate) dialect: Dialect,
    /// The template it was compiled through, if any: it can print the source back.
    pub(crate) template: Option<Arc<super::Template>>,
}

impl Compiled {
    pub(crate) fn new(shape: Arc<Shape>, params: Vec<Value<'static>>, dialect: Dialect) -> Self {
        Compiled { shape, params: params.into_boxed_slice(), dialect, template: None }
    }

    /// The shape: the expression after binding, folding and negation normal form, with its
    /// literals shown as `$0`, `$1`, … .
    pub fn shape(&self) -> &str {
        &self.shape.key
    }

    /// The lifted literal values, in `$i` order, as JSON.
    pub fn params(&self) -> Vec<Json> {
        self.params.iter().map(Value::to_json).collect()
    }

    /// The conjunctions the condition is split into (each printed with its `$i`), or `None`
    /// when the split would exceed the configured bound and the condition is verified whole.
    pub fn conjunctions(&self) -> Option<Vec<String>> {
        self.shape.conjunctions.as_ref().map(|cs| {
            cs.iter().map(|atoms| atoms.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" && ")).collect()
        })
    }

    /// The constant this expression folded to, if it reads nothing from the event.
    pub fn constant(&self) -> Option<Json> {
        match &self.shape.expr {
            Expr::Lit(v) => Some(v.to_json()),
            Expr::Param(i) => Some(self.params[*i as usize].to_json()),
            _ => None,
        }
    }

    /// Evaluates against an event (a JSON value) and renders the result as JSON.
    pub fn eval(&self, event: &Json) -> Result<Json, EvalError> {
        let event = Node::from_json(event);
        let mut cx = Ctx::new(&event, &self.params, self.dialect);
        eval(&self.shape.expr, &mut cx).map(|v| v.to_json())
    }

    /// What the expression gives when that is provably never a boolean, whatever the event
    /// (see `frontend::check`): a condition that can never fire, which the engine refuses
    /// as `not_boolean`. Public for the fuzz targets, not API.
    #[doc(hidden)]
    pub fn non_boolean(&self) -> Option<&'static str> {
        super::check::non_boolean(&self.shape.expr, &self.params)
    }

    /// Evaluates and renders the result with its CEL type (see `Value::to_tagged_json`); for
    /// the conformance runner, not API.
    #[doc(hidden)]
    pub fn eval_tagged(&self, event: &Json) -> Result<Json, EvalError> {
        let event = Node::from_json(event);
        let mut cx = Ctx::new(&event, &self.params, self.dialect);
        eval(&self.shape.expr, &mut cx).map(|v| v.to_tagged_json())
    }

    /// Evaluates as a condition: `Ok(true)` only for the boolean `true`. A non-boolean result
    /// is the error `not_bool`, except `null` in the lenient dialect, which is `false`.
    pub fn matches(&self, event: &Json) -> Result<bool, EvalError> {
        matches(&self.shape, &self.params, &Node::from_json(event), self.dialect)
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled").field("shape", &self.shape.key).field("params", &self.params()).finish()
    }
}

/// Evaluates a shape with its parameters as a condition (see [`Compiled::matches`]).
pub(crate) fn matches(shape: &Shape, params: &[Value<'_>], event: &Node<'_>, dialect: Dialect) -> Result<bool, EvalError> {
    let mut cx = Ctx::new(event, params, dialect);
    match eval(&shape.expr, &mut cx)? {
        Value::Bool(b) => Ok(b),
        Value::Null if dialect == Dialect::Lenient => Ok(false),
        v => Err(EvalError::new(crate::error::EvalErrorKind::NotBool, format!("condition gave {} instead of bool", v.type_name()))),
    }
}

/// Replaces every literal (but type names) by a parameter, in tree order.
pub(crate) fn lift(mut e: Expr) -> (Expr, Vec<Value<'static>>) {
    let mut params = Vec::new();
    lift_into(&mut e, &mut params);
    (e, params)
}

fn lift_into(e: &mut Expr, params: &mut Vec<Value<'static>>) {
    if let Expr::Lit(v) = e {
        if !matches!(v, Value::Type(_)) {
            let v = std::mem::replace(v, Value::Null);
            *e = Expr::Param(params.len() as u32);
            params.push(v);
        }
        return;
    }
    for_each_child_mut(e, &mut |c| lift_into(c, params));
}

/// Replaces each `event.*` by the parameter `next(path, span)` names.
pub(crate) fn replace_triggers(e: &mut Expr, next: &mut dyn FnMut(Vec<Arc<str>>) -> u32) {
    if let Expr::Trigger(path, _) = e {
        *e = Expr::Param(next(std::mem::take(path)));
        return;
    }
    for_each_child_mut(e, &mut |c| replace_triggers(c, next));
}

/// True when some operation has only literals and parameters below it, so that folding with
/// the parameters' values could change the tree. (List and map literals are exempt: folding
/// them changes no meaning and no decision.)
pub(crate) fn folds_with_params(e: &Expr) -> bool {
    fn leafy(e: &Expr) -> bool {
        matches!(e, Expr::Lit(_) | Expr::Param(_))
    }
    let mut found = false;
    e.visit(&mut |x| {
        let mut all_leafy = true;
        let mut any = false;
        x.for_each_child(|c| {
            any = true;
            all_leafy &= leafy(c);
        });
        let has_param = {
            let mut p = false;
            x.for_each_child(|c| p |= matches!(c, Expr::Param(_)));
            p
        };
        if any && all_leafy && has_param && !matches!(x, Expr::List(_) | Expr::Map(_)) {
            found = true;
        }
    });
    found
}
