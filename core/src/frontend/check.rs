//! Static checks of a condition: is its result provably never a boolean?
//!
//! celmatch has no type checker, and the event's fields have no declared types, so most
//! conditions can only be judged at run time (`async.data.flag` may well be a boolean). But
//! some can never be one, whatever the event: `async.data.x + 1` (no arithmetic overload
//! gives a bool), `[1, 2]`, `size(async.data.items)`, `async.data.name.lowerAscii()`. Such a
//! subscription would never fire, silently; registering it is the compile error
//! `not_boolean` instead. The check is conservative: anything it cannot decide passes.

use super::ast::{Expr, Ext, Func, Opt};
use crate::eval::Value;

/// What `e` gives when that is provably not a boolean (its type, for the error message);
/// `None` when it may be a boolean or nothing is known.
pub(crate) fn non_boolean(e: &Expr, params: &[Value<'static>]) -> Option<&'static str> {
    never_bool(e, params, &mut Vec::new())
}

/// `locals[i]`: what local `i` gives when it is provably not a boolean.
fn never_bool(e: &Expr, params: &[Value<'static>], locals: &mut Vec<Option<&'static str>>) -> Option<&'static str> {
    match e {
        Expr::Lit(v) => value_type(v),
        Expr::Param(i) => params.get(*i as usize).and_then(value_type),
        Expr::Local(i) => locals.get(*i as usize).copied().flatten(),
        // Fields of the event or trigger, selections and indexing: anything at all.
        Expr::Path(_) | Expr::Trigger(..) | Expr::Select(..) | Expr::Index(..) => None,
        Expr::Has(..) | Expr::Not(_) | Expr::And(..) | Expr::Or(..) | Expr::Cmp(..) | Expr::In(..) => None,
        Expr::Neg(_) => Some("a number or duration"),
        // Every arithmetic overload, in either dialect, gives a number, string, bytes, list,
        // timestamp or duration.
        Expr::Arith(..) => Some("an arithmetic result"),
        Expr::Cond(_, a, b) => {
            let a = never_bool(a, params, locals)?;
            never_bool(b, params, locals).map(|b| if a == b { a } else { "a non-boolean value" })
        }
        Expr::List(_) => Some("list"),
        Expr::Map(_) => Some("map"),
        Expr::Call(f, args) => call_type(*f, args, params, locals),
        Expr::Comprehension(c) => {
            // The accumulator is provably non-boolean when it starts so and every step keeps
            // it so (given that it was before): `map` builds a list from `[]`.
            let base = c.base as usize;
            locals.truncate(base);
            locals.push(None);
            let init = never_bool(&c.accu_init, params, locals);
            locals.push(init);
            if c.two_vars {
                locals.push(None);
            }
            let step = init.and_then(|_| never_bool(&c.loop_step, params, locals));
            locals[base + 1] = step.and(init);
            let result = never_bool(&c.result, params, locals);
            locals.truncate(base);
            result
        }
    }
}

fn value_type(v: &Value<'_>) -> Option<&'static str> {
    match v {
        Value::Bool(_) => None,
        v => Some(v.type_name()),
    }
}

fn call_type(f: Func, args: &[Expr], params: &[Value<'static>], locals: &mut Vec<Option<&'static str>>) -> Option<&'static str> {
    Some(match f {
        Func::Contains | Func::StartsWith | Func::EndsWith | Func::Matches | Func::Bool | Func::NotStrictlyFalse => return None,
        Func::Dyn => return never_bool(&args[0], params, locals),
        Func::MapInsert => "map",
        Func::Opt(o) => match o {
            Opt::HasValue | Opt::Value | Opt::OrValue | Opt::Elem => return None,
            Opt::Of | Opt::None | Opt::OfNonZeroValue | Opt::Or | Opt::Select | Opt::Index => "optional_type",
        },
        Func::Size | Func::Int | Func::TimePart(_) => "int",
        Func::UInt => "uint",
        Func::Double => "double",
        Func::String | Func::LowerAscii | Func::UpperAscii => "string",
        Func::Bytes => "bytes",
        Func::Timestamp => "google.protobuf.Timestamp",
        Func::Duration => "google.protobuf.Duration",
        Func::Type => "type",
        Func::Ext(e) if e.is_boolean() => return None,
        Func::Ext(e) => match e {
            Ext::CharAt | Ext::Join | Ext::Replace | Ext::Substring | Ext::Trim | Ext::Format | Ext::Quote | Ext::Base64Encode => "string",
            Ext::Reverse => "a string or list",
            Ext::IndexOf | Ext::LastIndexOf | Ext::Family | Ext::PrefixLength => "int",
            Ext::Split | Ext::Slice | Ext::Flatten | Ext::Distinct | Ext::Range | Ext::Sort | Ext::SortByKeys => "list",
            Ext::Base64Decode => "bytes",
            Ext::Ip | Ext::CidrIp => "net.IP",
            Ext::Cidr | Ext::Masked => "net.CIDR",
            Ext::Greatest | Ext::Least | Ext::Abs | Ext::Sign | Ext::Ceil | Ext::Floor | Ext::Round | Ext::Trunc | Ext::Sqrt => "a number",
            Ext::BitAnd | Ext::BitOr | Ext::BitXor | Ext::BitNot | Ext::BitShiftLeft | Ext::BitShiftRight => "an int or uint",
            _ => return None,
        },
    })
}
