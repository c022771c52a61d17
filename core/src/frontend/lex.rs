//! A small CEL tokenizer that runs before the `cel` parser. It bounds the nesting depth of
//! the text (the parser recurses; we must not let it overflow the stack), and it finds the
//! literals, so that expressions differing only in literals can share one parsed shape.

use crate::error::{CompileError, CompileErrorKind, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident,
    /// A string, number or bytes literal (a leading unary `-` on a number included).
    Literal(LitKind),
    /// A quoted literal with no closing quote (the parser will reject it).
    Unterminated,
    /// `(`, `[`, `{`
    Open,
    /// `)`, `]`, `}`
    Close,
    /// `&&`, `||`, `,`, `:`
    Separator,
    /// A binary operator, `.`, `?` or unary `!`/`-`: each nests the parse one level deeper.
    Operator,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LitKind {
    String,
    Bytes,
    Number,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Tokenizes `src` and checks its nesting against `max_depth`. Unknown characters are left
/// for the parser to report.
pub(crate) fn tokenize(src: &str, max_depth: usize) -> Result<Vec<Token>, CompileError> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut frames: Vec<Frame> = vec![Frame::default()];
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let closed;
                (i, closed) = skip_string(b, i);
                if closed {
                    Tok::Literal(LitKind::String)
                } else {
                    Tok::Unterminated
                }
            }
            b'r' | b'R' | b'b' | b'B' if is_string_prefix(b, i) => {
                let bytes = matches!(c, b'b' | b'B') || matches!(b.get(i + 1), Some(b'b' | b'B'));
                while b[i] != b'"' && b[i] != b'\'' {
                    i += 1;
                }
                let closed;
                (i, closed) = skip_string(b, i);
                match (closed, bytes) {
                    (false, _) => Tok::Unterminated,
                    (true, true) => Tok::Literal(LitKind::Bytes),
                    (true, false) => Tok::Literal(LitKind::String),
                }
            }
            b'0'..=b'9' => {
                i = skip_number(b, i);
                Tok::Literal(LitKind::Number)
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = skip_number(b, i);
                Tok::Literal(LitKind::Number)
            }
            b'-' if !ends_value(out.last()) && b.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == b'.') => {
                i = skip_number(b, i + 1);
                Tok::Literal(LitKind::Number)
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if &b[start..i] == b"in" {
                    Tok::Operator
                } else {
                    Tok::Ident
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                i = (i + 1).min(b.len());
                Tok::Ident
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                Tok::Open
            }
            b')' | b']' | b'}' => {
                i += 1;
                Tok::Close
            }
            b'&' | b'|' if b.get(i + 1) == Some(&c) => {
                i += 2;
                Tok::Separator
            }
            b',' | b':' => {
                i += 1;
                Tok::Separator
            }
            b'=' | b'!' | b'<' | b'>' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Operator
            }
            _ => {
                // One character (whole, if it is not ASCII): an operator or something the
                // parser will reject.
                i += src[i..].chars().next().map_or(1, char::len_utf8);
                Tok::Operator
            }
        };
        let span = Span { start, end: i };
        let frame = frames.last_mut().expect("base frame");
        match tok {
            Tok::Open => {
                frames.push(Frame::default());
                depth += 1;
            }
            Tok::Close => {
                if frames.len() > 1 {
                    let f = frames.pop().unwrap_or_default();
                    depth -= 1 + f.chain + f.dots;
                }
            }
            // `a ? b : c` nests on; `&&`, `||` and `,` end the chain (the parser keeps
            // logical chains flat and balances them).
            Tok::Separator if b[start] != b':' => {
                depth -= frame.chain + frame.dots;
                *frame = Frame::default();
            }
            Tok::Operator if b[start] == b'.' => {
                frame.dots += 1;
                depth += 1;
            }
            Tok::Operator => {
                // A field path ends at the next operator: `a.b + c.d` nests two deep, not four.
                depth -= frame.dots;
                frame.dots = 0;
                frame.chain += 1;
                depth += 1;
            }
            Tok::Separator | Tok::Ident | Tok::Literal(_) | Tok::Unterminated => {}
        }
        if depth > max_depth {
            return Err(CompileError::new(
                CompileErrorKind::TooDeep,
                format!("expression nests deeper than the limit of {max_depth}"),
                src,
                span,
            ));
        }
        out.push(Token { tok, span });
    }
    Ok(out)
}

/// Nesting inside one bracket level: operators chained so far, and the length of the field
/// path being read.
#[derive(Clone, Copy, Default)]
struct Frame {
    chain: usize,
    dots: usize,
}

fn ends_value(prev: Option<&Token>) -> bool {
    matches!(prev.map(|t| t.tok), Some(Tok::Ident | Tok::Literal(_) | Tok::Close))
}

fn is_string_prefix(b: &[u8], i: usize) -> bool {
    match (b.get(i + 1), b.get(i + 2)) {
        (Some(b'"' | b'\''), _) => true,
        (Some(b'r' | b'R' | b'b' | b'B'), Some(b'"' | b'\'')) => !b[i].eq_ignore_ascii_case(&b[i + 1]),
        _ => false,
    }
}

/// Skips a quoted literal starting at its quote; returns the index after it and whether it
/// was closed (an unclosed one ends at a line break or the end of the text).
fn skip_string(b: &[u8], i: usize) -> (usize, bool) {
    let q = b[i];
    let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < b.len() {
        if b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q && (!triple || (b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q))) {
            return (j + if triple { 3 } else { 1 }, true);
        }
        if (b[j] == b'\n' || b[j] == b'\r') && !triple {
            return (j, false);
        }
        j += 1;
    }
    (b.len(), false)
}

fn skip_number(b: &[u8], mut i: usize) -> usize {
    if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
    } else {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if b.get(j).is_some_and(u8::is_ascii_digit) {
                i = j;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
    }
    if matches!(b.get(i), Some(b'u' | b'U')) {
        i += 1;
    }
    i
}
