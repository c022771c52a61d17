//! The expression front end, one pass per module in pipeline order:
//!
//! ```text
//! text ─lex─▶ tokens ─parse─▶ Expr ─bind event.*─▶ ─fold─▶ ─nnf─▶ ─shape: lift literals─▶ Shape + params ─dnf─▶ conjunctions
//! ```
//!
//! Shapes are cached twice over. The *template* cache is keyed by the token stream with its
//! simple literals replaced by placeholders, so a million subscriptions that differ only in
//! literals (or in trigger values) are parsed and analysed once: each later one costs a
//! tokenization and a hash lookup. The *shape* cache is keyed by the printed tree after
//! binding and folding, and catches the rest (see [`Frontend::compile`]).

pub(crate) mod ast;
mod bind;
mod check;
mod dnf;
mod fold;
mod lex;
mod nnf;
mod parse;
mod shape;

pub(crate) use parse::Vars;
pub use shape::Compiled;
pub(crate) use shape::{matches, Shape};


use crate::error::{CompileError, CompileErrorKind, Span};
use crate::eval::Value;
use crate::{Dialect, Limits};
use ast::Expr;
use lex::{LitKind, Tok};
use parking_lot::RwLock;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

/// Caches stop growing past this many entries (they are cleared and refilled).
const CACHE_MAX: usize = 100_000;

pub(crate) struct Frontend {
    pub dialect: Dialect,
    pub limits: Limits,
    templates: RwLock<HashMap<(Vars, String), Arc<Template>>>,
    shapes: RwLock<HashMap<(Vars, String), Arc<Shape>>>,
}

/// A shape parsed from text whose simple literals were replaced by placeholders.
pub(crate) struct Template {
    /// `None` when substituting literals could change folding (for example `$0 == $1`):
    /// such text always takes the full path.
    shape: Option<Arc<Shape>>,
    /// Trigger paths whose values follow the literals in the parameter list.
    trigger_paths: Vec<Vec<Arc<str>>>,
    /// The first text compiled through this template and the spans of its literals. Every
    /// subscription sharing the template differs from it only in those literals, so its
    /// source is this text with its own literals spliced in (see [`Template::source`]): the
    /// store keeps parameters, not texts.
    text: Box<str>,
    lit_spans: Box<[Span]>,
}

impl Template {
    /// The condition text and the (minimal) trigger that compile to `params` through this
    /// template: the literals printed back into the text, and an object holding just the
    /// trigger fields the condition reads.
    pub fn source(&self, params: &[Value<'_>]) -> (String, Option<Json>) {
        let mut text = String::with_capacity(self.text.len() + 16);
        let mut at = 0;
        for (span, v) in self.lit_spans.iter().zip(params) {
            text.push_str(&self.text[at..span.start]);
            print_literal(v, &mut text);
            at = span.end;
        }
        text.push_str(&self.text[at..]);
        if self.trigger_paths.is_empty() {
            return (text, None);
        }
        let mut trigger = Json::Object(Default::default());
        for (path, v) in self.trigger_paths.iter().zip(&params[self.lit_spans.len()..]) {
            set_path(&mut trigger, path, v.to_json());
        }
        (text, Some(trigger))
    }
}

/// Prints a literal that [`simple_literal`] read back in CEL syntax.
fn print_literal(v: &Value<'_>, out: &mut String) {
    use std::fmt::Write;
    match v {
        // Simple string literals hold no backslash, no line break and not both quotes.
        Value::Str(s) if s.contains('"') => write!(out, "'{}'", &**s),
        Value::Str(s) => write!(out, "\"{}\"", &**s),
        Value::Int(i) => write!(out, "{i}"),
        Value::UInt(u) => write!(out, "{u}u"),
        // `{:?}` keeps a decimal point or exponent, so the literal stays a double.
        Value::Double(d) => write!(out, "{d:?}"),
        other => write!(out, "{}", other.to_json()),
    }
    .expect("writing to a String");
}

/// Sets `path` in `root` to `v`, creating objects on the way; a non-object on the way (a
/// lenient binding through a scalar) keeps what it is.
fn set_path(root: &mut Json, path: &[Arc<str>], v: Json) {
    let Some((last, init)) = path.split_last() else {
        *root = v;
        return;
    };
    let mut cur = root;
    for seg in init {
        let Json::Object(m) = cur else { return };
        cur = m.entry(seg.to_string()).or_insert_with(|| Json::Object(Default::default()));
    }
    if let Json::Object(m) = cur {
        m.insert(last.to_string(), v);
    }
}

impl Frontend {
    pub fn new(dialect: Dialect, limits: Limits) -> Self {
        Frontend { dialect, limits, templates: RwLock::default(), shapes: RwLock::default() }
    }

    /// Compiles `src`. With `Vars::Condition { trigger: true }`, `trigger` must be given and
    /// `event.*` is bound from it.
    pub fn compile(&self, src: &str, vars: Vars, trigger: Option<&Json>) -> Result<Compiled, CompileError> {
        let c = self.compile_cached(src, vars, trigger)?;
        check_patterns(&c, src)?;
        Ok(c)
    }

    fn compile_cached(&self, src: &str, vars: Vars, trigger: Option<&Json>) -> Result<Compiled, CompileError> {
        if src.len() > self.limits.max_expr_bytes {
            let span = Span { start: self.limits.max_expr_bytes, end: src.len() };
            let msg = format!("expression is {} bytes, over the limit of {}", src.len(), self.limits.max_expr_bytes);
            return Err(CompileError::new(CompileErrorKind::TooLong, msg, src, span));
        }
        let tokens = lex::tokenize(src, self.limits.max_depth)?;
        if let Some((key, lits, lit_spans)) = template_key(src, &tokens) {
            let cache_key = (vars, key);
            let template = self.templates.read().get(&cache_key).cloned();
            let template = match template {
                Some(t) => t,
                None => {
                    let mut t = self.build_template(&cache_key.1, vars);
                    t.text = src.into();
                    t.lit_spans = lit_spans.into();
                    let t = Arc::new(t);
                    let mut cache = self.templates.write();
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(cache_key, t.clone());
                    t
                }
            };
            if let Some(shape) = &template.shape {
                let mut params = lits;
                for path in &template.trigger_paths {
                    let t = trigger.unwrap_or(&Json::Null);
                    match bind::trigger_value(t, path, self.dialect) {
                        Some(v) => params.push(v),
                        // The full path reports it with a span in `src` (the template's
                        // spans point into its own text).
                        None => return self.compile_full(src, vars, trigger),
                    }
                }
                let mut c = Compiled::new(shape.clone(), params, self.dialect);
                c.template = Some(template.clone());
                return Ok(c);
            }
        }
        self.compile_full(src, vars, trigger)
    }

    /// Parse, bind, fold, NNF and lift, with no cache.
    fn analyse(&self, src: &str, vars: Vars, trigger: Option<&Json>) -> Result<(Expr, Vec<Value<'static>>), CompileError> {
        let mut e = parse::parse(src, vars, self.limits.max_depth, false)?;
        if let Some(t) = trigger {
            bind::bind(&mut e, t, self.dialect, src)?;
        }
        fold::fold(&mut e, self.dialect);
        Ok(shape::lift(nnf::nnf(e)))
    }

    /// Compiles with neither cache (the reference for differential tests).
    pub fn compile_uncached(&self, src: &str, vars: Vars, trigger: Option<&Json>) -> Result<Compiled, CompileError> {
        if src.len() > self.limits.max_expr_bytes {
            return self.compile(src, vars, trigger);
        }
        lex::tokenize(src, self.limits.max_depth)?;
        let (e, params) = self.analyse(src, vars, trigger)?;
        let s = Shape::new(e.to_string(), e, self.limits.max_conjunctions);
        let c = Compiled::new(Arc::new(s), params, self.dialect);
        check_patterns(&c, src)?;
        Ok(c)
    }

    /// The full path: parse, bind, fold, NNF, then lift literals and share the shape.
    fn compile_full(&self, src: &str, vars: Vars, trigger: Option<&Json>) -> Result<Compiled, CompileError> {
        let (e, params) = self.analyse(src, vars, trigger)?;
        let key = (vars, e.to_string());
        if let Some(s) = self.shapes.read().get(&key) {
            return Ok(Compiled::new(s.clone(), params, self.dialect));
        }
        let s = Arc::new(Shape::new(key.1.clone(), e, self.limits.max_conjunctions));
        let mut cache = self.shapes.write();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, s.clone());
        Ok(Compiled::new(s, params, self.dialect))
    }

    fn build_template(&self, text: &str, vars: Vars) -> Template {
        let none = Template { shape: None, trigger_paths: Vec::new(), text: Box::default(), lit_spans: Box::default() };
        // Errors are reported by the full path, with positions in the original text.
        let Ok(mut e) = parse::parse(text, vars, self.limits.max_depth, true) else { return none };
        // Every placeholder must have parsed as a value. One that became a field name
        // (`a."x"`) or a macro variable (`l.all("x", …)`) means the text with literals is not
        // the text with placeholders: leave it to the full path.
        let lits = text.matches(parse::PARAM_PREFIX).count();
        let mut seen = vec![false; lits];
        e.visit(&mut |x| {
            if let Expr::Param(i) = x {
                if let Some(s) = seen.get_mut(*i as usize) {
                    *s = true;
                }
            }
        });
        if seen.contains(&false) {
            return none;
        }
        let lits = lits as u32;
        let mut trigger_paths = Vec::new();
        shape::replace_triggers(&mut e, &mut |path| {
            trigger_paths.push(path);
            lits + trigger_paths.len() as u32 - 1
        });
        fold::fold(&mut e, self.dialect);
        let e = nnf::nnf(e);
        if shape::folds_with_params(&e) {
            return none;
        }
        let shape = Shape::new(format!("{e}"), e, self.limits.max_conjunctions);
        Template { shape: Some(Arc::new(shape)), trigger_paths, text: Box::default(), lit_spans: Box::default() }
    }
}

/// The text of `src` with its simple literals replaced by placeholders, their values and
/// their spans. `None` when the text uses the placeholder prefix itself.
/// Every literal pattern of `matches` must be a valid regex: a typo in a pattern is an error
/// at registration (`invalid_regex`, at the literal), not a condition that silently never
/// matches. Compiled here once, it is shared by every matching thread.
fn check_patterns(c: &Compiled, src: &str) -> Result<(), CompileError> {
    for &i in c.shape.patterns.iter() {
        let Value::Str(pattern) = &c.params[i as usize] else { continue };
        if let Err(e) = crate::eval::register_regex(pattern) {
            // The literal's place in the text; a pattern bound from the trigger has none.
            let span = lex::tokenize(src, usize::MAX)
                .ok()
                .and_then(|tokens| template_key(src, &tokens))
                .and_then(|(_, lits, spans)| lits.iter().position(|l| matches!(l, Value::Str(s) if **s == **pattern)).map(|j| spans[j]))
                .unwrap_or(Span { start: 0, end: src.len() });
            return Err(CompileError::new(CompileErrorKind::InvalidRegex, e.message().to_owned(), src, span));
        }
    }
    Ok(())
}

fn template_key(src: &str, tokens: &[lex::Token]) -> Option<(String, Vec<Value<'static>>, Vec<Span>)> {
    let mut key = String::with_capacity(src.len());
    let mut lits = Vec::new();
    let mut spans = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let text = &src[t.span.start..t.span.end];
        if i > 0 {
            key.push(' ');
        }
        // Joining tokens with spaces must not change what the text means: a placeholder
        // spelled by the user, or a string whose line break would become a space, bails out.
        if (t.tok == Tok::Ident && text.starts_with(parse::PARAM_PREFIX)) || t.tok == Tok::Unterminated {
            return None;
        }
        // A string in `x["key"]` names a field: it stays, so field paths stay in the shape.
        let is_field_key = i > 0
            && &src[tokens[i - 1].span.start..tokens[i - 1].span.end] == "["
            && tokens.get(i + 1).is_some_and(|n| &src[n.span.start..n.span.end] == "]");
        let value = match t.tok {
            Tok::Literal(kind) if !is_field_key => simple_literal(kind, text),
            _ => None,
        };
        match value {
            Some(v) => {
                key.push_str(parse::PARAM_PREFIX);
                key.push_str(&lits.len().to_string());
                lits.push(v);
                spans.push(t.span);
            }
            None => key.push_str(text),
        }
    }
    Some((key, lits, spans))
}

/// The value of a literal token whose meaning is obvious without the parser: quoted strings
/// without escapes or raw/triple quoting, and plain numbers. Anything else stays in the key.
fn simple_literal(kind: LitKind, text: &str) -> Option<Value<'static>> {
    match kind {
        LitKind::String => {
            let q = text.chars().next()?;
            if !(q == '"' || q == '\'') || text.len() < 2 || !text.ends_with(q) || text.contains('\\') {
                return None;
            }
            let inner = &text[1..text.len() - 1];
            if inner.contains(q) || inner.contains('\n') || inner.contains('\r') {
                return None;
            }
            Some(Value::string(inner))
        }
        LitKind::Number => {
            if text.contains(['x', 'X']) {
                return None;
            }
            if let Some(u) = text.strip_suffix(['u', 'U']) {
                return u.parse().ok().map(Value::UInt);
            }
            if text.contains(['.', 'e', 'E']) {
                text.parse::<f64>().ok().filter(|d| d.is_finite()).map(Value::Double)
            } else {
                text.parse().ok().map(Value::Int)
            }
        }
        LitKind::Bytes => None,
    }
}
