//! The expression tree every later pass works on. It is ours, not the `cel` crate's: a crate
//! upgrade touches `parse.rs` only, and the tree says what the indexes need to see (field paths
//! from the incoming event are one node, literals lifted out of a shape are `Param`s).

use crate::error::Span;
use crate::eval::Value;
use std::fmt;
use std::sync::Arc;

/// Field names from the root of the incoming event: `async.data.id` is `["data", "id"]`.
pub(crate) type Path = Arc<[Arc<str>]>;

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Lit(Value<'static>),
    /// A literal lifted out of a shape; its value lives in the subscription's parameters.
    Param(u32),
    /// The incoming event (`async` in conditions, `event` in keys), or a field path in it.
    Path(Path),
    /// A field of the trigger (`event.*` in conditions); replaced by its value when bound.
    Trigger(Vec<Arc<str>>, Span),
    /// A macro variable: an index into the evaluation's stack of locals.
    Local(u32),
    Select(Box<Expr>, Arc<str>),
    /// `has(operand.field)`.
    Has(Box<Expr>, Arc<str>),
    Index(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `element in collection`.
    In(Box<Expr>, Box<Expr>),
    /// A function call; for methods the receiver is the first argument.
    Call(Func, Vec<Expr>),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Comprehension(Box<Comprehension>),
}

/// A macro expansion (`all`, `exists`, `exists_one`, `map`, `filter`, `cel.bind` and the
/// two-variable forms). The iteration variable is `Local(base)` and the accumulator
/// `Local(base + 1)`, where `base` is the number of locals in scope outside the
/// comprehension. With `two_vars`, `Local(base)` is the index (lists) or key (maps) and
/// `Local(base + 2)` the element or value.
#[derive(Clone, Debug)]
pub(crate) struct Comprehension {
    pub base: u32,
    pub two_vars: bool,
    pub range: Expr,
    pub accu_init: Expr,
    pub loop_cond: Expr,
    pub loop_step: Expr,
    pub result: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            op => op,
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl ArithOp {
    fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }
}

/// The functions celmatch implements natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Func {
    Size,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    LowerAscii,
    UpperAscii,
    Int,
    UInt,
    Double,
    String,
    Bool,
    Bytes,
    Timestamp,
    Duration,
    Type,
    Dyn,
    /// `@not_strictly_false`: true unless the argument is `false` (macro loop conditions).
    NotStrictlyFalse,
    TimePart(TimePart),
    /// `@mapInsert(map, key, value)` or `@mapInsert(map, entries)`: the map with the entry or
    /// entries added; a key already present is an error (`transformMap` accumulators).
    MapInsert,
    /// Optional values (cel-go's `optional` library and syntax).
    Opt(Opt),
    /// A function of one of CEL's standard extension libraries.
    Ext(Ext),
}

/// Optional values: `optional.of(x)`, `optional.none()`, `optional.ofNonZeroValue(x)`, the
/// methods `hasValue`, `value`, `orValue`, `or`, and the syntax `x.?f` (`Select`), `x[?k]`
/// (`Index`), `[?e]` and `{?k: e}` (`Elem` marks an element or value that is left out when
/// it is `optional.none()`). `optMap` and `optFlatMap` are macros, expanded by the converter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Opt {
    Of,
    None,
    OfNonZeroValue,
    HasValue,
    Value,
    OrValue,
    Or,
    Select,
    Index,
    Elem,
}

impl Opt {
    /// (function, name, called as a method, argument count with the receiver)
    const TABLE: &'static [(Opt, &'static str, bool, usize)] = &[
        (Opt::Of, "optional.of", false, 1),
        (Opt::None, "optional.none", false, 0),
        (Opt::OfNonZeroValue, "optional.ofNonZeroValue", false, 1),
        (Opt::HasValue, "hasValue", true, 1),
        (Opt::Value, "value", true, 1),
        (Opt::OrValue, "orValue", true, 2),
        (Opt::Or, "or", true, 2),
        (Opt::Select, "_?._", false, 2),
        (Opt::Index, "_[?_]", false, 2),
        (Opt::Elem, "?", false, 1),
    ];

    fn lookup(name: &str, method: bool, argc: usize) -> Option<Opt> {
        Opt::TABLE.iter().find(|(_, n, m, c)| *n == name && *m == method && *c == argc).map(|(o, ..)| *o)
    }

    pub fn name(self) -> &'static str {
        Opt::TABLE.iter().find(|(o, ..)| *o == self).expect("every Opt is in TABLE").1
    }

    fn is_method(self) -> bool {
        Opt::TABLE.iter().find(|(o, ..)| *o == self).expect("every Opt is in TABLE").2
    }
}

/// The functions of cel-go's standard extensions that celmatch implements: strings, math,
/// base64, lists, sets and network addresses (`ext.Strings`, `ext.Math`, `ext.Encoders`,
/// `ext.Lists`, `ext.Sets`, `ext.Network`). Namespaced ones (`math.abs`) are
/// global functions whose name holds the namespace; the indexes know none of them, so any
/// conjunct calling one is verified, never used to choose candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ext {
    CharAt,
    IndexOf,
    LastIndexOf,
    Join,
    Replace,
    Split,
    Substring,
    Trim,
    Reverse,
    Format,
    Quote,
    Greatest,
    Least,
    Abs,
    Sign,
    Ceil,
    Floor,
    Round,
    Trunc,
    Sqrt,
    IsNaN,
    IsInf,
    IsFinite,
    BitAnd,
    BitOr,
    BitXor,
    BitNot,
    BitShiftLeft,
    BitShiftRight,
    Base64Encode,
    Base64Decode,
    Slice,
    Flatten,
    Distinct,
    Range,
    Sort,
    /// `@sortByAssociatedKeys(list, keys)`: `list` ordered by `keys` (what `sortBy` expands to).
    SortByKeys,
    SetsContains,
    SetsEquivalent,
    SetsIntersects,
    Ip,
    Cidr,
    IsIp,
    IpIsCanonical,
    Family,
    IsUnspecified,
    IsLoopback,
    IsGlobalUnicast,
    IsLinkLocalMulticast,
    IsLinkLocalUnicast,
    ContainsIp,
    ContainsCidr,
    CidrIp,
    Masked,
    PrefixLength,
}

impl Ext {
    /// True for the functions that can only give a boolean (or an error).
    pub fn is_boolean(self) -> bool {
        use Ext::*;
        matches!(
            self,
            IsNaN
                | IsInf
                | IsFinite
                | SetsContains
                | SetsEquivalent
                | SetsIntersects
                | IsIp
                | IpIsCanonical
                | IsUnspecified
                | IsLoopback
                | IsGlobalUnicast
                | IsLinkLocalMulticast
                | IsLinkLocalUnicast
                | ContainsIp
                | ContainsCidr
        )
    }
}

impl Ext {
    /// Every extension function: its name, whether it is called as a method, and the fewest
    /// and most arguments it takes, the receiver counted.
    const TABLE: &'static [(Ext, &'static str, bool, usize, usize)] = &[
        (Ext::CharAt, "charAt", true, 2, 2),
        (Ext::IndexOf, "indexOf", true, 2, 3),
        (Ext::LastIndexOf, "lastIndexOf", true, 2, 3),
        (Ext::Join, "join", true, 1, 2),
        (Ext::Replace, "replace", true, 3, 4),
        (Ext::Split, "split", true, 2, 3),
        (Ext::Substring, "substring", true, 2, 3),
        (Ext::Trim, "trim", true, 1, 1),
        (Ext::Reverse, "reverse", true, 1, 1),
        (Ext::Format, "format", true, 2, 2),
        (Ext::Quote, "strings.quote", false, 1, 1),
        (Ext::Greatest, "math.greatest", false, 1, usize::MAX),
        (Ext::Least, "math.least", false, 1, usize::MAX),
        (Ext::Abs, "math.abs", false, 1, 1),
        (Ext::Sign, "math.sign", false, 1, 1),
        (Ext::Ceil, "math.ceil", false, 1, 1),
        (Ext::Floor, "math.floor", false, 1, 1),
        (Ext::Round, "math.round", false, 1, 1),
        (Ext::Trunc, "math.trunc", false, 1, 1),
        (Ext::Sqrt, "math.sqrt", false, 1, 1),
        (Ext::IsNaN, "math.isNaN", false, 1, 1),
        (Ext::IsInf, "math.isInf", false, 1, 1),
        (Ext::IsFinite, "math.isFinite", false, 1, 1),
        (Ext::BitAnd, "math.bitAnd", false, 2, 2),
        (Ext::BitOr, "math.bitOr", false, 2, 2),
        (Ext::BitXor, "math.bitXor", false, 2, 2),
        (Ext::BitNot, "math.bitNot", false, 1, 1),
        (Ext::BitShiftLeft, "math.bitShiftLeft", false, 2, 2),
        (Ext::BitShiftRight, "math.bitShiftRight", false, 2, 2),
        (Ext::Base64Encode, "base64.encode", false, 1, 1),
        (Ext::Base64Decode, "base64.decode", false, 1, 1),
        (Ext::Slice, "slice", true, 3, 3),
        (Ext::Flatten, "flatten", true, 1, 2),
        (Ext::Distinct, "distinct", true, 1, 1),
        (Ext::Range, "lists.range", false, 1, 1),
        (Ext::Sort, "sort", true, 1, 1),
        (Ext::SortByKeys, "@sortByAssociatedKeys", false, 2, 2),
        (Ext::SetsContains, "sets.contains", false, 2, 2),
        (Ext::SetsEquivalent, "sets.equivalent", false, 2, 2),
        (Ext::SetsIntersects, "sets.intersects", false, 2, 2),
        (Ext::Ip, "ip", false, 1, 1),
        (Ext::Cidr, "cidr", false, 1, 1),
        (Ext::IsIp, "isIP", false, 1, 1),
        (Ext::IpIsCanonical, "ip.isCanonical", false, 1, 1),
        (Ext::Family, "family", true, 1, 1),
        (Ext::IsUnspecified, "isUnspecified", true, 1, 1),
        (Ext::IsLoopback, "isLoopback", true, 1, 1),
        (Ext::IsGlobalUnicast, "isGlobalUnicast", true, 1, 1),
        (Ext::IsLinkLocalMulticast, "isLinkLocalMulticast", true, 1, 1),
        (Ext::IsLinkLocalUnicast, "isLinkLocalUnicast", true, 1, 1),
        (Ext::ContainsIp, "containsIP", true, 2, 2),
        (Ext::ContainsCidr, "containsCIDR", true, 2, 2),
        (Ext::CidrIp, "ip", true, 1, 1),
        (Ext::Masked, "masked", true, 1, 1),
        (Ext::PrefixLength, "prefixLength", true, 1, 1),
    ];

    fn lookup(name: &str, method: bool, argc: usize) -> Option<Ext> {
        Ext::TABLE
            .iter()
            .find(|(_, n, m, lo, hi)| *n == name && *m == method && (*lo..=*hi).contains(&argc))
            .map(|(f, ..)| *f)
    }

    fn entry(self) -> &'static (Ext, &'static str, bool, usize, usize) {
        Ext::TABLE.iter().find(|(f, ..)| *f == self).expect("every Ext is in TABLE")
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn is_method(self) -> bool {
        self.entry().2
    }
}

/// The namespaces of the extension functions: `math.abs(x)` parses as the method `abs` on a
/// variable `math`, which the converter reads as the function `math.abs` instead.
pub(crate) const NAMESPACES: &[&str] = &["math", "strings", "base64", "lists", "sets", "optional", "cel", "ip"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimePart {
    FullYear,
    Month,
    DayOfYear,
    DayOfMonth,
    Date,
    DayOfWeek,
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
}

impl Func {
    /// Looks a call up by name. `method` is true for `x.f(…)`; `argc` counts the receiver.
    pub fn lookup(name: &str, method: bool, argc: usize) -> Option<Func> {
        use Func::*;
        let f = match (name, method) {
            ("size", _) => Size,
            ("contains", true) => Contains,
            ("startsWith", true) => StartsWith,
            ("endsWith", true) => EndsWith,
            ("matches", _) => Matches,
            ("lowerAscii", true) => LowerAscii,
            ("upperAscii", true) => UpperAscii,
            ("int", false) => Int,
            ("uint", false) => UInt,
            ("double", false) => Double,
            ("string", false) => String,
            ("bool", false) => Bool,
            ("bytes", false) => Bytes,
            ("timestamp", false) => Timestamp,
            ("duration", false) => Duration,
            ("type", false) => Type,
            ("dyn", false) => Dyn,
            ("@not_strictly_false", false) => NotStrictlyFalse,
            ("@mapInsert", false) => MapInsert,
            (name, method) if self::Opt::TABLE.iter().any(|(_, n, m, _)| *n == name && *m == method) => {
                return self::Opt::lookup(name, method, argc).map(Opt)
            }
            (name, method) if self::Ext::TABLE.iter().any(|(_, n, m, ..)| *n == name && *m == method) => {
                return self::Ext::lookup(name, method, argc).map(Ext)
            }
            (name, true) => TimePart(match name {
                "getFullYear" => self::TimePart::FullYear,
                "getMonth" => self::TimePart::Month,
                "getDayOfYear" => self::TimePart::DayOfYear,
                "getDayOfMonth" => self::TimePart::DayOfMonth,
                "getDate" => self::TimePart::Date,
                "getDayOfWeek" => self::TimePart::DayOfWeek,
                "getHours" => self::TimePart::Hours,
                "getMinutes" => self::TimePart::Minutes,
                "getSeconds" => self::TimePart::Seconds,
                "getMilliseconds" => self::TimePart::Milliseconds,
                _ => return None,
            }),
            _ => return None,
        };
        let arity_ok = match f {
            Size | LowerAscii | UpperAscii => argc == 1,
            Contains | StartsWith | EndsWith | Matches => argc == 2,
            Int | UInt | Double | String | Bool | Bytes | Timestamp | Duration | Type | Dyn | NotStrictlyFalse => argc == 1,
            TimePart(_) => argc == 1 || argc == 2,
            MapInsert => argc == 2 || argc == 3,
            Opt(_) | Ext(_) => true,
        };
        arity_ok.then_some(f)
    }

    pub fn name(self) -> &'static str {
        use Func::*;
        match self {
            Size => "size",
            Contains => "contains",
            StartsWith => "startsWith",
            EndsWith => "endsWith",
            Matches => "matches",
            LowerAscii => "lowerAscii",
            UpperAscii => "upperAscii",
            Int => "int",
            UInt => "uint",
            Double => "double",
            String => "string",
            Bool => "bool",
            Bytes => "bytes",
            Timestamp => "timestamp",
            Duration => "duration",
            Type => "type",
            Dyn => "dyn",
            NotStrictlyFalse => "@not_strictly_false",
            TimePart(p) => match p {
                self::TimePart::FullYear => "getFullYear",
                self::TimePart::Month => "getMonth",
                self::TimePart::DayOfYear => "getDayOfYear",
                self::TimePart::DayOfMonth => "getDayOfMonth",
                self::TimePart::Date => "getDate",
                self::TimePart::DayOfWeek => "getDayOfWeek",
                self::TimePart::Hours => "getHours",
                self::TimePart::Minutes => "getMinutes",
                self::TimePart::Seconds => "getSeconds",
                self::TimePart::Milliseconds => "getMilliseconds",
            },
            MapInsert => "@mapInsert",
            Opt(o) => o.name(),
            Ext(e) => e.name(),
        }
    }

    /// Printed as `receiver.name(args)` rather than `name(args)`.
    fn is_method(self) -> bool {
        use Func::*;
        match self {
            Contains | StartsWith | EndsWith | Matches | LowerAscii | UpperAscii | TimePart(_) => true,
            Ext(e) => e.is_method(),
            Opt(o) => o.is_method(),
            _ => false,
        }
    }
}

impl Expr {
    pub fn bx(self) -> Box<Expr> {
        Box::new(self)
    }

    /// True when the expression can only evaluate to a boolean or an error, so boolean
    /// rewrites (`true && x` → `x`, `!!x` → `x`) keep its meaning.
    pub fn is_boolean(&self) -> bool {
        match self {
            Expr::Lit(v) => matches!(v, Value::Bool(_)),
            Expr::Has(..) | Expr::Not(_) | Expr::And(..) | Expr::Or(..) | Expr::Cmp(..) | Expr::In(..) => true,
            Expr::Call(f, _) => matches!(
                f,
                Func::Contains
                    | Func::StartsWith
                    | Func::EndsWith
                    | Func::Matches
                    | Func::NotStrictlyFalse
                    | Func::Bool
                    | Func::Opt(Opt::HasValue)
            ) || matches!(f, Func::Ext(e) if e.is_boolean()),
            Expr::Cond(_, a, b) => a.is_boolean() && b.is_boolean(),
            _ => false,
        }
    }

    /// True when the value depends on nothing but literals (no event, trigger, locals or params).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            if matches!(e, Expr::Path(_) | Expr::Trigger(..) | Expr::Local(_) | Expr::Param(_) | Expr::Comprehension(_)) {
                constant = false;
            }
        });
        constant
    }

    /// Calls `f` on every node, parents before children.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        self.for_each_child(|c| c.visit(f));
    }

    pub fn for_each_child(&self, mut f: impl FnMut(&Expr)) {
        match self {
            Expr::Lit(_) | Expr::Param(_) | Expr::Path(_) | Expr::Trigger(..) | Expr::Local(_) => {}
            Expr::Select(e, _) | Expr::Has(e, _) | Expr::Not(e) | Expr::Neg(e) => f(e),
            Expr::Index(a, b) | Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::Arith(_, a, b) | Expr::In(a, b) => {
                f(a);
                f(b)
            }
            Expr::Cond(a, b, c) => {
                f(a);
                f(b);
                f(c)
            }
            Expr::Call(_, args) | Expr::List(args) => args.iter().for_each(f),
            Expr::Map(entries) => entries.iter().for_each(|(k, v)| {
                f(k);
                f(v)
            }),
            Expr::Comprehension(c) => {
                f(&c.range);
                f(&c.accu_init);
                f(&c.loop_cond);
                f(&c.loop_step);
                f(&c.result)
            }
        }
    }

}

/// A field name as `.name`, or as `["a.b"]` when it is not a plain identifier. The printed
/// tree is the shape cache's key, so this must be injective: printed as `.a.b`, the field
/// `"a.b"` would share a shape with the path `a` then `b`, and one subscription would be
/// matched with the other's condition.
fn write_field(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let ident = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        write!(f, ".{name}")
    } else {
        write!(f, "[{name:?}]")
    }
}

/// Prints CEL-like text: parameters as `$0`, the event root as `async`. The text of a shape is
/// also its cache key, so two expressions print alike exactly when they have the same shape.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Lit(v) => match v {
                Value::Str(s) => write!(f, "{:?}", &**s),
                Value::Double(d) if d.fract() == 0.0 && d.is_finite() => write!(f, "{d:.1}"),
                Value::UInt(u) => write!(f, "{u}u"),
                Value::Bytes(_) => write!(f, "b{}", v.to_json()),
                Value::List(_) | Value::Map(_) => write!(f, "{}", v.to_json()),
                Value::Timestamp(_) => write!(f, "timestamp({:?})", v.to_string()),
                Value::Duration(_) => write!(f, "duration({:?})", v.to_string()),
                v => write!(f, "{v}"),
            },
            Expr::Param(i) => write!(f, "${i}"),
            Expr::Path(p) => {
                f.write_str("async")?;
                p.iter().try_for_each(|s| write_field(f, s))
            }
            Expr::Trigger(p, _) => {
                f.write_str("event")?;
                p.iter().try_for_each(|s| write_field(f, s))
            }
            Expr::Local(i) => write!(f, "@{i}"),
            Expr::Select(e, field) => {
                write!(f, "({e})")?;
                write_field(f, field)
            }
            Expr::Has(e, field) => {
                write!(f, "has(({e})")?;
                write_field(f, field)?;
                f.write_str(")")
            }
            Expr::Index(a, b) => write!(f, "({a})[{b}]"),
            Expr::Not(e) => write!(f, "!({e})"),
            Expr::Neg(e) => write!(f, "-({e})"),
            Expr::And(a, b) => write!(f, "({a} && {b})"),
            Expr::Or(a, b) => write!(f, "({a} || {b})"),
            Expr::Cond(c, a, b) => write!(f, "({c} ? {a} : {b})"),
            Expr::Cmp(op, a, b) => write!(f, "{a} {} {b}", op.symbol()),
            Expr::Arith(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::In(a, b) => write!(f, "{a} in {b}"),
            Expr::Call(func, args) => {
                let (recv, rest) = if func.is_method() { (Some(&args[0]), &args[1..]) } else { (None, &args[..]) };
                if let Some(r) = recv {
                    write!(f, "{r}.")?;
                }
                write!(f, "{}(", func.name())?;
                for (i, a) in rest.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::List(items) => {
                f.write_str("[")?;
                for (i, a) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str("]")
            }
            Expr::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Expr::Comprehension(c) => write!(
                f,
                "__comprehension__(@{}{}, {}, @{}, {}, {}, {}, {})",
                c.base,
                if c.two_vars { format!(" @{}", c.base + 2) } else { String::new() },
                c.range,
                c.base + 1,
                c.accu_init,
                c.loop_cond,
                c.loop_step,
                c.result
            ),
        }
    }
}
