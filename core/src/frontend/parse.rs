//! The one module that knows the `cel` crate's parser and AST: it parses the text and converts
//! the crate's tree into ours, resolving variables and functions on the way.

use super::ast::{ArithOp, CmpOp, Comprehension, Expr, Func, Opt, NAMESPACES};
use crate::error::{CompileError, CompileErrorKind as K, Span};
use crate::eval::Value;
use cel::common::ast::{operators as op, EntryExpr, Expr as CelExpr, IdedExpr, LiteralValue, SourceInfo};
use std::sync::Arc;

/// What the identifiers `async` and `event` mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Vars {
    /// A subscription condition: `async` is the incoming event, `event` the trigger (allowed
    /// only when a trigger will be bound).
    Condition { trigger: bool },
    /// A key expression or trigger filter: `event` is the incoming event.
    Key,
    /// Every free identifier names a top-level field of the input. Only the cel-spec
    /// conformance runner uses it: those tests name their variables freely (`x`, `y`), and
    /// their bindings become the fields of one JSON object.
    Env,
}

/// The prefix of the identifiers that stand for lifted literals (`__cm_p0`, `__cm_p1`, …).
pub(crate) const PARAM_PREFIX: &str = "__cm_p";

const PARSER_STACK: usize = 32 << 20;

pub(crate) fn parse(src: &str, vars: Vars, max_depth: usize, params: bool) -> Result<Expr, CompileError> {
    // The `cel` parser (ANTLR-generated) spends tens of kilobytes of stack per nesting level,
    // more than a 2 MiB thread has at the depth limit. Run it on a fresh stack segment when
    // the caller's is short; the lexer has already bounded the depth it can reach.
    stacker::maybe_grow(PARSER_STACK / 2, PARSER_STACK, || parse_and_convert(src, vars, max_depth, params))
}

fn parse_and_convert(src: &str, vars: Vars, max_depth: usize, params: bool) -> Result<Expr, CompileError> {
    // Backtick-quoted field names (`` async.data.`content-type` ``) are plain field names
    // once parsed; the parser implements them behind a flag, as cel-go does.
    let parser = cel::parser::Parser::new()
        .max_recursion_depth(max_depth.saturating_add(32).min(u16::MAX as usize - 1) as u16)
        .enable_ident_escape_syntax(true)
        .enable_optional_syntax(true);
    let (ast, info) = parser.parse_with_source_info(src).map_err(|errs| {
        let first = errs.errors.first();
        let (line, col) = first.map_or((1, 1), |e| e.pos);
        let msg = first.map_or_else(|| "invalid expression".to_owned(), |e| e.msg.clone());
        // The parser's columns are 1-based; an error at the end of input points past it.
        let start = if msg.contains("<EOF>") { src.len() } else { offset_of(src, line.max(1) as usize, (col.max(1) - 1) as usize) };
        CompileError::new(K::Parse, msg, src, Span { start, end: (start + 1).min(src.len()).max(start) })
    })?;
    Converter { src, info: &info, vars, scope: Vec::new(), params, max_depth: max_depth.saturating_mul(2) + 32 }
        .convert(&ast, 0)
}

/// Byte offset of a 1-based line and 0-based character column.
fn offset_of(src: &str, line: usize, col: usize) -> usize {
    let line_start: usize = src.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let rest = &src[line_start.min(src.len())..];
    line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i)
}

struct Converter<'s> {
    src: &'s str,
    info: &'s SourceInfo,
    vars: Vars,
    /// Macro variables in scope, innermost last.
    scope: Vec<String>,
    params: bool,
    max_depth: usize,
}

impl Converter<'_> {
    fn span(&self, e: &IdedExpr) -> Span {
        match self.info.offset_for(e.id) {
            Some((start, stop)) => {
                let to_byte = |c: u32| self.src.char_indices().nth(c as usize).map_or(self.src.len(), |(i, _)| i);
                let start = to_byte(start);
                let end = to_byte(stop + 1).max(start);
                Span { start, end }
            }
            None => Span { start: 0, end: self.src.len() },
        }
    }

    fn err(&self, kind: K, msg: impl Into<String>, e: &IdedExpr) -> CompileError {
        CompileError::new(kind, msg, self.src, self.span(e))
    }

    fn convert(&mut self, e: &IdedExpr, depth: usize) -> Result<Expr, CompileError> {
        if depth > self.max_depth {
            return Err(self.err(K::TooDeep, "expression nests too deeply", e));
        }
        let d = depth + 1;
        Ok(match &e.expr {
            CelExpr::Literal(lit) => Expr::Lit(literal(lit)),
            CelExpr::Ident(name) => self.ident(name, e)?,
            CelExpr::Select(sel) => {
                // The network extension's type names, `net.IP` and `net.CIDR`.
                if let CelExpr::Ident(ns) = &sel.operand.expr {
                    if ns == "net" && !sel.test && !self.scope.iter().any(|s| s == ns) {
                        match sel.field.as_str() {
                            "IP" => return Ok(Expr::Lit(Value::Type("net.IP"))),
                            "CIDR" => return Ok(Expr::Lit(Value::Type("net.CIDR"))),
                            _ => {}
                        }
                    }
                }
                let operand = self.convert(&sel.operand, d)?;
                let field: Arc<str> = Arc::from(sel.field.as_str());
                if sel.test {
                    Expr::Has(operand.bx(), field)
                } else {
                    match select(operand, field) {
                        // Widen the trigger's span to the whole path, for error carets.
                        Expr::Trigger(p, span) => {
                            // The parser places a selection at its `.`.
                            let at = self.span(e);
                            let end = at.end.max(at.start + 1 + sel.field.len()).min(self.src.len());
                            Expr::Trigger(p, Span { start: span.start, end: span.end.max(end) })
                        }
                        other => other,
                    }
                }
            }
            CelExpr::Call(call) => self.call(call, e, d)?,
            CelExpr::List(list) => {
                let mut items = Vec::with_capacity(list.elements.len());
                for (i, x) in list.elements.iter().enumerate() {
                    let item = self.convert(x, d)?;
                    // `[?x]`: left out when `x` is `optional.none()`.
                    items.push(if list.optional_indices.contains(&i) { Expr::Call(Func::Opt(Opt::Elem), vec![item]) } else { item });
                }
                Expr::List(items)
            }
            CelExpr::Map(map) => {
                let mut entries = Vec::with_capacity(map.entries.len());
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(m) => {
                            let (k, v) = (self.convert(&m.key, d)?, self.convert(&m.value, d)?);
                            // `{?k: v}`: the entry is left out when `v` is `optional.none()`.
                            entries.push((k, if m.optional { Expr::Call(Func::Opt(Opt::Elem), vec![v]) } else { v }))
                        }
                        _ => return Err(self.err(K::Unsupported, "unsupported map entry", e)),
                    }
                }
                Expr::Map(entries)
            }
            CelExpr::Comprehension(c) => {
                if c.iter_var2.is_some() {
                    return Err(self.err(K::Unsupported, "two-variable comprehensions are not supported", e));
                }
                let range = self.convert(&c.iter_range, d)?;
                let accu_init = self.convert(&c.accu_init, d)?;
                let base = self.scope.len() as u32;
                self.scope.push(c.iter_var.clone());
                self.scope.push(c.accu_var.clone());
                let body = (|| {
                    Ok::<_, CompileError>((
                        self.convert(&c.loop_cond, d)?,
                        self.convert(&c.loop_step, d)?,
                        self.convert(&c.result, d)?,
                    ))
                })();
                self.scope.truncate(base as usize);
                let (loop_cond, loop_step, result) = body?;
                Expr::Comprehension(Box::new(Comprehension { base, two_vars: false, range, accu_init, loop_cond, loop_step, result }))
            }
            CelExpr::Struct(_) => return Err(self.err(K::Unsupported, "message literals are not supported", e)),
            CelExpr::Unspecified => return Err(self.err(K::Parse, "invalid expression", e)),
        })
    }

    fn ident(&self, name: &str, e: &IdedExpr) -> Result<Expr, CompileError> {
        if let Some(i) = self.scope.iter().rposition(|s| s == name) {
            return Ok(Expr::Local(i as u32));
        }
        if self.params {
            if let Some(i) = name.strip_prefix(PARAM_PREFIX).and_then(|n| n.parse().ok()) {
                return Ok(Expr::Param(i));
            }
        }
        Ok(match (name, self.vars) {
            ("async", Vars::Condition { .. }) | ("event", Vars::Key) => Expr::Path(Arc::from([])),
            (name, Vars::Env) if type_name(name) == "type" && name != "type" => Expr::Path(Arc::from([Arc::from(name)])),
            ("event", Vars::Condition { trigger: true }) => Expr::Trigger(Vec::new(), self.span(e)),
            ("event", Vars::Condition { trigger: false }) => {
                return Err(self.err(K::UnknownVariable, "`event` (the trigger) is only available when a trigger is given", e))
            }
            ("int" | "uint" | "double" | "string" | "bool" | "bytes" | "list" | "map" | "null_type" | "optional_type" | "type", _) => {
                Expr::Lit(Value::Type(type_name(name)))
            }
            _ => {
                let known = match self.vars {
                    Vars::Condition { .. } => "`async` (the incoming event) and `event` (the trigger)",
                    Vars::Key | Vars::Env => "`event` (the incoming event)",
                };
                return Err(self.err(K::UnknownVariable, format!("unknown variable `{name}`; known: {known}"), e));
            }
        })
    }

    fn call(&mut self, call: &cel::common::ast::CallExpr, e: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let name = call.func_name.as_str();
        if let Some(t) = &call.target {
            // `math.abs(x)` reaches us as the method `abs` on a variable `math`.
            if let CelExpr::Ident(ns) = &t.expr {
                if NAMESPACES.contains(&ns.as_str()) && !self.scope.iter().any(|s| s == ns) {
                    return self.namespaced(ns, call, e, d);
                }
            }
            // Macros the parser leaves as plain calls: expand them here, before their
            // variables would be converted (and reported as unknown).
            let two_var = matches!(name, "all" | "exists" | "existsOne" | "exists_one") && call.args.len() == 3
                || matches!(name, "transformList" | "transformMap" | "transformMapEntry");
            if two_var && matches!(call.args.first().map(|a| &a.expr), Some(CelExpr::Ident(_))) {
                return self.two_var_macro(name, t, &call.args, e, d);
            }
            if name == "sortBy" && call.args.len() == 2 {
                return self.sort_by(t, &call.args, e, d);
            }
            if matches!(name, "optMap" | "optFlatMap") && call.args.len() == 2 {
                return self.opt_map(name == "optFlatMap", t, &call.args, e, d);
            }
        }
        let mut args = Vec::with_capacity(call.args.len() + 1);
        if let Some(t) = &call.target {
            args.push(self.convert(t, d)?);
        }
        for a in &call.args {
            args.push(self.convert(a, d)?);
        }
        let binary = |args: Vec<Expr>| -> (Box<Expr>, Box<Expr>) {
            let mut it = args.into_iter();
            (it.next().expect("two args").bx(), it.next().expect("two args").bx())
        };
        let arity = |n: usize| args.len() == n && call.target.is_none();
        Ok(match name {
            op::LOGICAL_AND | op::LOGICAL_OR if call.target.is_none() && args.len() >= 2 => {
                // The parser may balance long chains into n-ary calls; fold into binary nodes.
                let and = name == op::LOGICAL_AND;
                let mut it = args.into_iter();
                let first = it.next().expect("non-empty");
                it.fold(first, |acc, x| if and { Expr::And(acc.bx(), x.bx()) } else { Expr::Or(acc.bx(), x.bx()) })
            }
            op::LOGICAL_NOT if arity(1) => Expr::Not(args.pop().expect("one arg").bx()),
            op::NEGATE if arity(1) => match args.pop().expect("one arg") {
                Expr::Lit(Value::Int(i)) if i != i64::MIN => Expr::Lit(Value::Int(-i)),
                Expr::Lit(Value::Double(f)) => Expr::Lit(Value::Double(-f)),
                x => Expr::Neg(x.bx()),
            },
            op::CONDITIONAL if arity(3) => {
                let mut it = args.into_iter();
                let (c, a, b) = (it.next().expect("3"), it.next().expect("3"), it.next().expect("3"));
                Expr::Cond(c.bx(), a.bx(), b.bx())
            }
            op::INDEX if arity(2) => {
                let (a, b) = binary(args);
                match (*a, *b) {
                    (operand, Expr::Lit(Value::Str(s))) if matches!(operand, Expr::Path(_) | Expr::Trigger(..)) => {
                        select(operand, Arc::from(&*s))
                    }
                    (a, b) => Expr::Index(a.bx(), b.bx()),
                }
            }
            op::IN if arity(2) => {
                let (a, b) = binary(args);
                Expr::In(a, b)
            }
            _ if arity(2) && cmp_op(name).is_some() => {
                let (a, b) = binary(args);
                Expr::Cmp(cmp_op(name).expect("checked"), a, b)
            }
            _ if arity(2) && arith_op(name).is_some() => {
                let (a, b) = binary(args);
                Expr::Arith(arith_op(name).expect("checked"), a, b)
            }
            _ => match Func::lookup(name, call.target.is_some(), args.len()) {
                Some(f) => Expr::Call(f, args),
                None => {
                    let what = if call.target.is_some() { "method" } else { "function" };
                    let msg = format!("unknown {what} `{name}` with {} argument(s)", call.args.len());
                    return Err(CompileError::new(K::UnknownFunction, msg, self.src, self.call_name_span(name, e)));
                }
            },
        })
    }
}

impl Converter<'_> {
    /// A call in one of the extension namespaces (`math.greatest(…)`, `cel.bind(…)`).
    fn namespaced(&mut self, ns: &str, call: &cel::common::ast::CallExpr, e: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let full = format!("{ns}.{}", call.func_name);
        if full == "cel.bind" && call.args.len() == 3 {
            return self.bind(call, e, d);
        }
        let args = call.args.iter().map(|a| self.convert(a, d)).collect::<Result<Vec<_>, _>>()?;
        match Func::lookup(&full, false, args.len()) {
            Some(f) => Ok(Expr::Call(f, args)),
            None => {
                let msg = format!("unknown function `{full}` with {} argument(s)", args.len());
                Err(CompileError::new(K::UnknownFunction, msg, self.src, self.call_name_span(&full, e)))
            }
        }
    }

    /// `cel.bind(x, init, body)`: `body` with `x` bound to `init`.
    fn bind(&mut self, call: &cel::common::ast::CallExpr, e: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let CelExpr::Ident(var) = &call.args[0].expr else {
            return Err(self.err(K::Parse, "cel.bind needs a variable name as its first argument", e));
        };
        let init = self.convert(&call.args[1], d)?;
        self.let_in(var, init, &call.args[2], d)
    }

    /// `body` with `var` bound to the value of `init`. It becomes what cel-go expands
    /// `cel.bind` to, a comprehension over an empty list whose accumulator is `var`: no new
    /// node kind, and the evaluator's scoping of locals serves it as is.
    fn let_in(&mut self, var: &str, init: Expr, body: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let base = self.scope.len() as u32;
        // The iteration variable of the empty loop: a name no identifier can have.
        self.scope.push(String::new());
        self.scope.push(var.to_owned());
        let result = self.convert(body, d);
        self.scope.truncate(base as usize);
        Ok(Expr::Comprehension(Box::new(Comprehension {
            base,
            two_vars: false,
            range: Expr::List(Vec::new()),
            accu_init: init,
            loop_cond: Expr::Lit(Value::Bool(false)),
            loop_step: Expr::Local(base + 1),
            result: result?,
        })))
    }

    /// `o.optMap(x, e)` is `o.hasValue() ? optional.of(e with x = o.value()) :
    /// optional.none()`; `optFlatMap` leaves out the `optional.of` (`e` gives an optional).
    fn opt_map(&mut self, flat: bool, target: &IdedExpr, args: &[IdedExpr], e: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let CelExpr::Ident(var) = &args[0].expr else {
            return Err(self.err(K::Parse, "optMap / optFlatMap need a variable name as their first argument", e));
        };
        let o = self.convert(target, d)?;
        let value = Expr::Call(Func::Opt(Opt::Value), vec![o.clone()]);
        let mapped = self.let_in(var, value, &args[1], d)?;
        let some = if flat { mapped } else { Expr::Call(Func::Opt(Opt::Of), vec![mapped]) };
        Ok(Expr::Cond(
            Expr::Call(Func::Opt(Opt::HasValue), vec![o]).bx(),
            some.bx(),
            Expr::Call(Func::Opt(Opt::None), Vec::new()).bx(),
        ))
    }

    /// `l.sortBy(e, key)` is, as in cel-go, `@sortByAssociatedKeys(l, l.map(e, key))`.
    fn sort_by(&mut self, target: &IdedExpr, args: &[IdedExpr], e: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let CelExpr::Ident(var) = &args[0].expr else {
            return Err(self.err(K::Parse, "sortBy needs a variable name as its first argument", e));
        };
        let list = self.convert(target, d)?;
        let base = self.scope.len() as u32;
        self.scope.push(var.clone());
        self.scope.push("@result".to_owned());
        let key = self.convert(&args[1], d);
        self.scope.truncate(base as usize);
        let accu = Expr::Local(base + 1);
        let keys = Expr::Comprehension(Box::new(Comprehension {
            base,
            two_vars: false,
            range: list.clone(),
            accu_init: Expr::List(Vec::new()),
            loop_cond: Expr::Lit(Value::Bool(true)),
            loop_step: Expr::Arith(ArithOp::Add, accu.clone().bx(), Expr::List(vec![key?]).bx()),
            result: accu,
        }));
        Ok(Expr::Call(Func::Ext(super::ast::Ext::SortByKeys), vec![list, keys]))
    }

    /// The two-variable macros, which the parser leaves as plain calls: `all`, `exists`,
    /// `existsOne` with `(i, v, predicate)`, and `transformList`, `transformMap`,
    /// `transformMapEntry` with `(i, v, [filter,] transform)`. Each becomes the comprehension
    /// cel-go expands it to; for a list `i` is the index, for a map the key.
    fn two_var_macro(&mut self, name: &str, target: &IdedExpr, args: &[IdedExpr], e: &IdedExpr, d: usize) -> Result<Expr, CompileError> {
        let (Some(CelExpr::Ident(v1)), Some(CelExpr::Ident(v2))) = (args.first().map(|a| &a.expr), args.get(1).map(|a| &a.expr)) else {
            return Err(self.err(K::Parse, format!("`{name}` needs two variable names"), e));
        };
        let transform = name.starts_with("transform");
        if !(args.len() == 3 || transform && args.len() == 4) {
            return Err(self.err(K::UnknownFunction, format!("`{name}` takes 3 arguments{}", if transform { " or 4" } else { "" }), e));
        }
        if v1 == v2 {
            return Err(self.err(K::Parse, format!("`{name}`: the two variables must differ"), e));
        }
        let range = self.convert(target, d)?;
        let base = self.scope.len() as u32;
        let accu = Expr::Local(base + 1);
        self.scope.push(v1.clone());
        // The accumulator's name is no identifier: the user cannot refer to it.
        self.scope.push("@result".to_owned());
        self.scope.push(v2.clone());
        let body = args[2..].iter().map(|a| self.convert(a, d)).collect::<Result<Vec<_>, _>>();
        self.scope.truncate(base as usize);
        let mut body = body?;
        let nsf = |x: Expr| Expr::Call(Func::NotStrictlyFalse, vec![x]);
        let lit = |v: Value<'static>| Expr::Lit(v);
        let (accu_init, loop_cond, loop_step, result) = match name {
            "all" => {
                let p = body.pop().expect("one");
                (lit(Value::Bool(true)), nsf(accu.clone()), Expr::And(accu.clone().bx(), p.bx()), accu)
            }
            "exists" => {
                let p = body.pop().expect("one");
                (lit(Value::Bool(false)), nsf(Expr::Not(accu.clone().bx())), Expr::Or(accu.clone().bx(), p.bx()), accu)
            }
            "existsOne" | "exists_one" => {
                let p = body.pop().expect("one");
                let step = Expr::Cond(p.bx(), Expr::Arith(ArithOp::Add, accu.clone().bx(), lit(Value::Int(1)).bx()).bx(), accu.clone().bx());
                (lit(Value::Int(0)), lit(Value::Bool(true)), step, Expr::Cmp(CmpOp::Eq, accu.bx(), lit(Value::Int(1)).bx()))
            }
            _ => {
                let f = body.pop().expect("transform");
                let filter = body.pop();
                let (init, add) = match name {
                    "transformList" => (Expr::List(Vec::new()), Expr::Arith(ArithOp::Add, accu.clone().bx(), Expr::List(vec![f]).bx())),
                    "transformMap" => (Expr::Map(Vec::new()), Expr::Call(Func::MapInsert, vec![accu.clone(), Expr::Local(base), f])),
                    _ => (Expr::Map(Vec::new()), Expr::Call(Func::MapInsert, vec![accu.clone(), f])),
                };
                let step = match filter {
                    Some(c) => Expr::Cond(c.bx(), add.bx(), accu.clone().bx()),
                    None => add,
                };
                (init, lit(Value::Bool(true)), step, accu)
            }
        };
        Ok(Expr::Comprehension(Box::new(Comprehension { base, two_vars: true, range, accu_init, loop_cond, loop_step, result })))
    }

    /// The parser places a call at its `(`: point at the name instead.
    fn call_name_span(&self, name: &str, e: &IdedExpr) -> Span {
        let mut span = self.span(e);
        let before = self.src[..span.start].trim_end();
        if before.ends_with(name) {
            span.start = before.len() - name.len();
        }
        span
    }
}

/// `operand.field`, merged into a field path when the operand is one.
fn select(operand: Expr, field: Arc<str>) -> Expr {
    match operand {
        Expr::Path(p) => {
            let mut v = p.to_vec();
            v.push(field);
            Expr::Path(v.into())
        }
        Expr::Trigger(mut p, span) => {
            p.push(field);
            Expr::Trigger(p, span)
        }
        other => Expr::Select(other.bx(), field),
    }
}

fn literal(lit: &LiteralValue) -> Value<'static> {
    match lit {
        LiteralValue::Boolean(b) => Value::Bool(*b.inner()),
        LiteralValue::Int(i) => Value::Int(*i.inner()),
        LiteralValue::UInt(u) => Value::UInt(*u.inner()),
        LiteralValue::Double(d) => Value::Double(*d.inner()),
        LiteralValue::String(s) => Value::string(s.inner()),
        LiteralValue::Bytes(b) => Value::Bytes(Arc::from(b.inner())),
        LiteralValue::Null => Value::Null,
    }
}

fn cmp_op(name: &str) -> Option<CmpOp> {
    Some(match name {
        op::EQUALS => CmpOp::Eq,
        op::NOT_EQUALS => CmpOp::Ne,
        op::LESS => CmpOp::Lt,
        op::LESS_EQUALS => CmpOp::Le,
        op::GREATER => CmpOp::Gt,
        op::GREATER_EQUALS => CmpOp::Ge,
        _ => return None,
    })
}

fn arith_op(name: &str) -> Option<ArithOp> {
    Some(match name {
        op::ADD => ArithOp::Add,
        op::SUBSTRACT => ArithOp::Sub,
        op::MULTIPLY => ArithOp::Mul,
        op::DIVIDE => ArithOp::Div,
        op::MODULO => ArithOp::Rem,
        _ => return None,
    })
}

pub(crate) fn type_name(name: &str) -> &'static str {
    match name {
        "int" => "int",
        "uint" => "uint",
        "double" => "double",
        "string" => "string",
        "bool" => "bool",
        "bytes" => "bytes",
        "list" => "list",
        "map" => "map",
        "null_type" => "null_type",
        "optional_type" => "optional_type",
        "net.IP" => "net.IP",
        "net.CIDR" => "net.CIDR",
        "google.protobuf.Timestamp" => "google.protobuf.Timestamp",
        "google.protobuf.Duration" => "google.protobuf.Duration",
        _ => "type",
    }
}
