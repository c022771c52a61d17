//! A reader for the protobuf text format, as much of it as the cel-spec test files use. It
//! knows no schema: it turns the text into a tree of named fields, and the runner gives the
//! names their meaning. Writing it here (about 200 lines) avoids a protobuf toolchain and a
//! copy of cel-spec's `.proto` files in the build.

/// A field's value.
#[derive(Clone, Debug)]
pub enum Node {
    Msg(Vec<(String, Node)>),
    /// A quoted string, as bytes (text-format strings may hold any bytes).
    Str(Vec<u8>),
    /// A number, an identifier (`true`, `NULL_VALUE`, an enum) or `inf`/`nan`, as written.
    Word(String),
}

impl Node {
    /// The first field called `name`.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.fields().iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    /// Every field called `name`, in order (repeated fields).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        let fields: &[(String, Node)] = match self {
            Node::Msg(f) => f,
            _ => &[],
        };
        fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v)
    }
    pub fn fields(&self) -> &[(String, Node)] {
        match self {
            Node::Msg(f) => f,
            _ => &[],
        }
    }
    pub fn str(&self) -> Option<String> {
        match self {
            Node::Str(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
    pub fn word(&self) -> Option<&str> {
        match self {
            Node::Word(w) => Some(w),
            _ => None,
        }
    }
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name).and_then(Node::word) == Some("true")
    }
}

/// Parses a whole file into a message node.
pub fn parse(text: &str) -> Result<Node, String> {
    let mut p = Parser { b: text.as_bytes(), i: 0 };
    let fields = p.fields(None)?;
    Ok(Node::Msg(fields))
}

struct Parser<'t> {
    b: &'t [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, msg: &str) -> Result<T, String> {
        let line = self.b[..self.i.min(self.b.len())].iter().filter(|&&c| c == b'\n').count() + 1;
        Err(format!("line {line}: {msg}"))
    }

    /// Skips whitespace and `#` comments; returns the next byte.
    fn peek(&mut self) -> Option<u8> {
        loop {
            match self.b.get(self.i)? {
                c if c.is_ascii_whitespace() => self.i += 1,
                b'#' => {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                &c => return Some(c),
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Fields up to `close` (or the end of input when `None`).
    fn fields(&mut self, close: Option<u8>) -> Result<Vec<(String, Node)>, String> {
        let mut out = Vec::new();
        loop {
            match (self.peek(), close) {
                (None, None) => return Ok(out),
                (None, Some(_)) => return self.err("unexpected end of input"),
                (Some(c), Some(k)) if c == k => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {}
            }
            let name = self.name()?;
            let colon = self.eat(b':');
            match self.peek() {
                Some(b'[') if colon => {
                    // `name: [v, v]` is shorthand for the field repeated.
                    self.i += 1;
                    while !self.eat(b']') {
                        let v = self.value()?;
                        out.push((name.clone(), v));
                        self.eat(b',');
                    }
                }
                _ => {
                    let v = self.value()?;
                    out.push((name, v));
                }
            }
            // Fields may be separated by `,` or `;`.
            if !self.eat(b',') {
                self.eat(b';');
            }
        }
    }

    /// A field name, or an extension / Any type URL in brackets (kept with its brackets).
    fn name(&mut self) -> Result<String, String> {
        if self.eat(b'[') {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b']' {
                self.i += 1;
            }
            let name = String::from_utf8_lossy(&self.b[start..self.i]).trim().to_owned();
            self.i += 1;
            return Ok(format!("[{name}]"));
        }
        let start = self.i;
        while self.i < self.b.len() && (self.b[self.i].is_ascii_alphanumeric() || self.b[self.i] == b'_') {
            self.i += 1;
        }
        if start == self.i {
            return self.err("expected a field name");
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    fn value(&mut self) -> Result<Node, String> {
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                Ok(Node::Msg(self.fields(Some(b'}'))?))
            }
            Some(b'<') => {
                self.i += 1;
                Ok(Node::Msg(self.fields(Some(b'>'))?))
            }
            Some(b'"' | b'\'') => {
                // Adjacent strings concatenate.
                let mut out = Vec::new();
                while let Some(q @ (b'"' | b'\'')) = self.peek() {
                    self.i += 1;
                    self.string(q, &mut out)?;
                }
                Ok(Node::Str(out))
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.b.len() && (self.b[self.i].is_ascii_alphanumeric() || b"_.-+".contains(&self.b[self.i])) {
                    self.i += 1;
                }
                if start == self.i {
                    return self.err("expected a value");
                }
                Ok(Node::Word(String::from_utf8_lossy(&self.b[start..self.i]).into_owned()))
            }
            None => self.err("expected a value"),
        }
    }

    /// The rest of a quoted string (the opening quote is consumed), escapes decoded.
    fn string(&mut self, quote: u8, out: &mut Vec<u8>) -> Result<(), String> {
        loop {
            let Some(&c) = self.b.get(self.i) else { return self.err("unterminated string") };
            self.i += 1;
            if c == quote {
                return Ok(());
            }
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(&e) = self.b.get(self.i) else { return self.err("unterminated escape") };
            self.i += 1;
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut n = (e - b'0') as u32;
                    for _ in 0..2 {
                        match self.b.get(self.i) {
                            Some(d @ b'0'..=b'7') => {
                                n = n * 8 + (d - b'0') as u32;
                                self.i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(n as u8);
                }
                b'x' | b'X' => {
                    let n = self.hex(2, 1)?;
                    out.push(n as u8);
                }
                b'u' | b'U' => {
                    let digits = if e == b'u' { 4 } else { 8 };
                    let n = self.hex(digits, digits)?;
                    let ch = char::from_u32(n).ok_or_else(|| format!("bad code point {n:x}"))?;
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                other => out.push(other),
            }
        }
    }

    fn hex(&mut self, max: usize, min: usize) -> Result<u32, String> {
        let mut n = 0u32;
        let mut count = 0;
        while count < max {
            match self.b.get(self.i).and_then(|c| (*c as char).to_digit(16)) {
                Some(d) => {
                    n = n * 16 + d;
                    self.i += 1;
                    count += 1;
                }
                None => break,
            }
        }
        if count < min {
            return self.err("bad hex escape");
        }
        Ok(n)
    }
}
