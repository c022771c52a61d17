//! Typed errors. Every kind has a stable `code()`; the bindings map kinds to their own error
//! types and never parse message text.

use std::fmt;

/// Why an expression could not be compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompileErrorKind {
    /// The text is not valid CEL.
    Parse,
    /// The expression is longer than [`Limits::max_expr_bytes`](crate::Limits).
    TooLong,
    /// Nesting is deeper than [`Limits::max_depth`](crate::Limits).
    TooDeep,
    /// An identifier that is neither a known variable nor a macro variable in scope.
    UnknownVariable,
    /// A function or method that celmatch does not implement.
    UnknownFunction,
    /// Syntax that parses but is not supported (struct literals, optionals, …).
    Unsupported,
    /// Strict dialect: the condition reads `event.<path>` and the trigger has no such path.
    MissingTriggerField,
    /// The condition can never produce `true` (for example, it folds to a constant `false`).
    NeverMatches,
    /// The condition is known not to be a boolean.
    NotBoolean,
    /// A pattern given to `matches` is not a valid regular expression.
    InvalidRegex,
}

impl CompileErrorKind {
    /// The stable, machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Parse => "parse_error",
            Self::TooLong => "too_long",
            Self::TooDeep => "too_deep",
            Self::UnknownVariable => "unknown_variable",
            Self::UnknownFunction => "unknown_function",
            Self::Unsupported => "unsupported",
            Self::MissingTriggerField => "missing_trigger_field",
            Self::NeverMatches => "never_matches",
            Self::NotBoolean => "not_boolean",
            Self::InvalidRegex => "invalid_regex",
        }
    }
}

/// A byte range `[start, end)` in the expression text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// An expression that could not be compiled: what, where (byte span, 1-based line and column)
/// and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    kind: CompileErrorKind,
    message: String,
    span: Span,
    line: usize,
    column: usize,
}

impl CompileError {
    pub(crate) fn new(kind: CompileErrorKind, message: impl Into<String>, source: &str, span: Span) -> Self {
        let start = span.start.min(source.len());
        let before = &source[..floor_char_boundary(source, start)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        CompileError { kind, message: message.into(), span, line, column }
    }

    pub fn kind(&self) -> CompileErrorKind {
        self.kind
    }
    /// The stable code, e.g. `"parse_error"`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn span(&self) -> Span {
        self.span
    }
    /// 1-based line of `span.start`.
    pub fn line(&self) -> usize {
        self.line
    }
    /// 1-based column (in characters) of `span.start`.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The message followed by the offending line of `source` with a caret under the span.
    pub fn render(&self, source: &str) -> String {
        let text = source.lines().nth(self.line - 1).unwrap_or("");
        let width = if self.span.end > self.span.start {
            source.get(self.span.start..self.span.end.min(source.len())).map_or(1, |s| s.chars().take_while(|&c| c != '\n').count().max(1))
        } else {
            1
        };
        format!(
            "error[{}]: {}\n --> {}:{}\n  | {}\n  | {}{}",
            self.code(),
            self.message,
            self.line,
            self.column,
            text,
            " ".repeat(self.column - 1),
            "^".repeat(width)
        )
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}: {}", self.code(), self.line, self.column, self.message)
    }
}

impl std::error::Error for CompileError {}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Why evaluating an expression against an event failed. For a condition this means "no match".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    kind: EvalErrorKind,
    message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvalErrorKind {
    /// A field or map key that is not there (strict dialect).
    NoSuchKey,
    /// An operator or function applied to types it is not defined for.
    NoSuchOverload,
    DivisionByZero,
    Overflow,
    IndexOutOfRange,
    /// A bad argument: an invalid regex, an unparsable timestamp or number, …
    InvalidArgument,
    /// A condition produced a value that is not a boolean.
    NotBool,
}

impl EvalErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::NoSuchKey => "no_such_key",
            Self::NoSuchOverload => "no_such_overload",
            Self::DivisionByZero => "division_by_zero",
            Self::Overflow => "overflow",
            Self::IndexOutOfRange => "index_out_of_range",
            Self::InvalidArgument => "invalid_argument",
            Self::NotBool => "not_bool",
        }
    }
}

impl EvalError {
    pub(crate) fn new(kind: EvalErrorKind, message: impl Into<String>) -> Self {
        EvalError { kind, message: message.into() }
    }
    pub fn kind(&self) -> EvalErrorKind {
        self.kind
    }
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl std::error::Error for EvalError {}

/// What an engine operation's error is about: one variant per cause. `code()` is the
/// stable, machine-readable string; bindings map kinds (never message text) to their own
/// error types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An expression could not be compiled (the kind says why; the error holds the position).
    Compile(CompileErrorKind),
    /// Evaluating an expression for a value (`eval`, `key`) failed.
    Eval(EvalErrorKind),
    /// An event that is not a JSON object, has no name, or has an unreadable id or time.
    InvalidEvent,
    /// A subscription that is malformed: an empty id, an unknown record key, a negative
    /// timeout, …
    InvalidSubscription,
    /// An engine configuration that is malformed: an unknown key, a value of the wrong type
    /// or out of range (see [`Config::from_record`](crate::Config::from_record)).
    InvalidConfig,
    /// An id already taken by a different subscription.
    IdConflict,
    /// A configured limit (event size or depth, claims, store capacity) was reached.
    LimitExceeded,
    /// A durable store that is damaged or not a SQLite database.
    CorruptStore,
    /// A SQLite database that is not a celmatch store, or one written with another schema.
    IncompatibleStore,
    /// A durable store already open in another process (or engine).
    StoreLocked,
    /// Reading or writing a durable store failed (a read-only directory, a full disk, …).
    IoError,
    /// The engine was closed.
    Closed,
}

impl ErrorKind {
    /// The stable code: the compile or evaluation code, or `invalid_event`,
    /// `invalid_subscription`, `invalid_config`, `id_conflict`, `limit_exceeded`, `corrupt_store`,
    /// `incompatible_store`, `store_locked`, `io_error`, `engine_closed`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Compile(k) => k.code(),
            ErrorKind::Eval(k) => k.code(),
            ErrorKind::InvalidEvent => "invalid_event",
            ErrorKind::InvalidSubscription => "invalid_subscription",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::IdConflict => "id_conflict",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::CorruptStore => "corrupt_store",
            ErrorKind::IncompatibleStore => "incompatible_store",
            ErrorKind::StoreLocked => "store_locked",
            ErrorKind::IoError => "io_error",
            ErrorKind::Closed => "engine_closed",
        }
    }
}

/// An error from an engine operation: its [`ErrorKind`], a message, and for compile errors
/// the [`CompileError`] with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    compile: Option<Box<CompileError>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), compile: None }
    }
    pub(crate) fn invalid_event(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidEvent, message)
    }
    pub(crate) fn invalid_subscription(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidSubscription, message)
    }
    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidConfig, message)
    }
    pub(crate) fn limit_exceeded(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::LimitExceeded, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The stable code of [`Error::kind`].
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The compile error behind this one, with its position.
    pub fn compile_error(&self) -> Option<&CompileError> {
        self.compile.as_deref()
    }
}

impl From<CompileError> for Error {
    fn from(e: CompileError) -> Self {
        Error { kind: ErrorKind::Compile(e.kind()), message: e.to_string(), compile: Some(Box::new(e)) }
    }
}

impl From<EvalError> for Error {
    /// An evaluation error where a value was asked for (`eval`, `key`): same code and message.
    fn from(e: EvalError) -> Self {
        Error::new(ErrorKind::Eval(e.kind), e.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.compile.is_some() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.code(), self.message)
        }
    }
}

impl std::error::Error for Error {}
