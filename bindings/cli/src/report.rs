//! Errors and how they are shown: human-readable text (with a caret under the position of a
//! compile error) or, with `--json`, `{"error":{"code","message","line","column"}}`.

use celmatch::CompileError;
use serde_json::{json, Map, Value as Json};
use std::io::{self, IsTerminal, Write};

/// Exit status: an error (bad expression, unreadable event, …).
pub const EXIT_ERROR: i32 = 1;
/// Exit status: a usage error, or skipped input lines (`match`, `explain`).
pub const EXIT_USAGE: i32 = 2;

/// An error a command reports.
#[derive(Clone, Debug)]
pub struct CliError {
    /// Stable machine-readable code (the engine's code when the engine produced it).
    pub code: String,
    pub message: String,
    /// Where it applies, e.g. `subscriptions line 3`.
    pub context: Option<String>,
    /// 1-based line and column: in the expression for compile errors, in the JSON document for
    /// JSON syntax errors, in the input file for `match` lines.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Extra JSON fields (`id`, `expr`, …).
    pub extra: Map<String, Json>,
    /// A compile error and its source text, rendered with a caret.
    pub compile: Option<(CompileError, String)>,
    pub exit: i32,
}

impl CliError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            code: code.into(),
            message: message.into(),
            context: None,
            line: None,
            column: None,
            extra: Map::new(),
            compile: None,
            exit: EXIT_ERROR,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError { exit: EXIT_USAGE, ..CliError::new("usage", message) }
    }

    pub fn io(what: &str, e: &io::Error) -> Self {
        CliError::new("io_error", format!("{what}: {e}"))
    }

    pub fn compile(e: CompileError, source: &str) -> Self {
        let mut err = CliError::new(e.code(), e.message());
        err.line = Some(e.line());
        err.column = Some(e.column());
        err.extra.insert("start".into(), json!(e.span().start));
        err.extra.insert("end".into(), json!(e.span().end));
        err.compile = Some((e, source.to_string()));
        err
    }

    /// An engine error; a compile error inside it keeps its position and caret.
    pub fn engine(e: &celmatch::Error, source: Option<&str>) -> Self {
        match (e.compile_error(), source) {
            (Some(ce), Some(src)) => CliError::compile(ce.clone(), src),
            _ => CliError::new(e.code(), e.message()),
        }
    }

    pub fn exit(mut self, code: i32) -> Self {
        self.exit = code;
        self
    }

    pub fn with(mut self, key: &str, value: Json) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// `{"code","message","line","column", …extra}`.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        m.insert("line".into(), json!(self.line));
        m.insert("column".into(), json!(self.column));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Json::Object(m)
    }

    /// Human-readable form: `context: error[code]: message`, then the caret block for compile errors.
    pub fn to_text(&self, color: bool) -> String {
        let (red, bold, reset) = if color { ("\x1b[1;31m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
        let mut out = String::new();
        if let Some(c) = &self.context {
            out.push_str(&format!("{bold}{c}{reset}: "));
        }
        match &self.compile {
            Some((e, src)) => out.push_str(&render_compile(e, src, red, reset)),
            None => {
                out.push_str(&format!("{red}error[{}]{reset}: {}", self.code, self.message));
                if let (Some(l), Some(c)) = (self.line, self.column) {
                    out.push_str(&format!(" (line {l}, column {c})"));
                }
            }
        }
        out
    }
}

/// Lines longer than this are shown as a window around the error.
const MAX_SHOWN: usize = 100;

/// The compile error with the offending line and a caret under it. Uses the core's
/// `CompileError::render` unless the line is too long to show whole.
pub fn render_compile(e: &CompileError, source: &str, red: &str, reset: &str) -> String {
    let line_text = source.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    let chars: Vec<char> = line_text.chars().collect();
    if chars.len() <= MAX_SHOWN && !line_text.contains('\t') {
        let r = e.render(source);
        return match r.strip_prefix("error") {
            Some(rest) if !red.is_empty() => format!("{red}error{reset}{rest}"),
            _ => r,
        };
    }
    // Window of MAX_SHOWN characters around the column; tabs shown as one space.
    let col = e.column().saturating_sub(1).min(chars.len());
    let span = e.span();
    let width = source
        .get(span.start..span.end.min(source.len()))
        .map_or(1, |s| s.chars().take_while(|&c| c != '\n').count().max(1));
    let from = col.saturating_sub(MAX_SHOWN / 2);
    let to = (from + MAX_SHOWN).min(chars.len());
    let shown: String = chars[from..to].iter().map(|&c| if c == '\t' { ' ' } else { c }).collect();
    let prefix = if from > 0 { "…" } else { "" };
    let suffix = if to < chars.len() { "…" } else { "" };
    let caret_width = width.min(to.saturating_sub(col).max(1));
    format!(
        "{red}error{reset}[{}]: {}\n --> {}:{}\n  | {prefix}{shown}{suffix}\n  | {}{}",
        e.code(),
        e.message(),
        e.line(),
        e.column(),
        " ".repeat(prefix.chars().count() + col - from),
        "^".repeat(caret_width)
    )
}

/// Where and how a command reports.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
}

impl Out {
    fn color_stderr() -> bool {
        io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    }

    /// Reports an error that ends the command: on stderr as text, or with `--json` on stdout
    /// as `{"error":{…}}` (the document the caller was going to parse).
    pub fn fatal(&self, e: &CliError) {
        if self.json {
            let line = json!({ "error": e.to_json() }).to_string();
            let mut so = io::stdout().lock();
            let _ = writeln!(so, "{line}");
            let _ = so.flush();
        } else {
            let _ = writeln!(io::stderr(), "{}", e.to_text(Self::color_stderr()));
        }
    }

    /// Reports an error about one input line and carries on: always on stderr, as a JSON line
    /// with `--json`.
    pub fn warn(&self, e: &CliError) {
        let text = if self.json { json!({ "error": e.to_json() }).to_string() } else { e.to_text(Self::color_stderr()) };
        let _ = writeln!(io::stderr(), "{text}");
    }
}
