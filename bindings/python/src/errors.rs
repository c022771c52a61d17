//! Exceptions. Every error the core reports is turned into a Python exception by [`error`],
//! chosen by its stable code — never by message text.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

create_exception!(
    celmatch,
    CelmatchError,
    PyValueError,
    "Base class of celmatch errors. `.code` is the stable, machine-readable code (for example\n\
     \"invalid_event\", \"id_conflict\", \"limit_exceeded\")."
);
create_exception!(
    celmatch,
    CompileError,
    CelmatchError,
    "An expression could not be compiled. `.code` (e.g. \"parse_error\", \"unknown_variable\"),\n\
     `.line` and `.column` (1-based) and `.span` (a `(start, end)` byte range) say what and where."
);
create_exception!(
    celmatch,
    EvalError,
    CelmatchError,
    "Evaluating an expression against an event failed (`Engine.eval`, `Engine.key`). `.code`\n\
     is e.g. \"no_such_key\", \"no_such_overload\", \"division_by_zero\"."
);

/// Compile error codes (the core's `CompileErrorKind::code()` values).
const COMPILE_CODES: &[&str] = &[
    "parse_error",
    "too_long",
    "too_deep",
    "unknown_variable",
    "unknown_function",
    "unsupported",
    "missing_trigger_field",
    "never_matches",
    "not_boolean",
];

/// Evaluation error codes (the core's `EvalErrorKind::code()` values).
const EVAL_CODES: &[&str] = &[
    "no_such_key",
    "no_such_overload",
    "division_by_zero",
    "overflow",
    "index_out_of_range",
    "invalid_argument",
    "not_bool",
];

/// Where a compile error is: 1-based line and column, byte span.
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub span: (usize, usize),
}

/// THE conversion: a core error code + message (+ location for compile errors) to the Python
/// exception for that code. `CompileError` for compile codes, `EvalError` for evaluation codes,
/// `CelmatchError` for every other code. All carry `.code`; compile errors also `.line`,
/// `.column` and `.span` (`None` when the core gave no location).
pub fn error(code: &str, message: impl Into<String>, loc: Option<Location>) -> PyErr {
    let message = message.into();
    let text = match &loc {
        Some(l) => format!("{code} at {}:{}: {message}", l.line, l.column),
        None => format!("{code}: {message}"),
    };
    Python::attach(|py| {
        let err = if COMPILE_CODES.contains(&code) {
            CompileError::new_err(text)
        } else if EVAL_CODES.contains(&code) {
            EvalError::new_err(text)
        } else {
            CelmatchError::new_err(text)
        };
        let value = err.value(py);
        let _ = value.setattr("code", code);
        let _ = value.setattr("message", &message);
        if COMPILE_CODES.contains(&code) {
            let (line, column, span) = match loc {
                Some(l) => (Some(l.line), Some(l.column), Some(l.span)),
                None => (None, None, None),
            };
            let _ = value.setattr("line", line);
            let _ = value.setattr("column", column);
            let _ = value.setattr("span", span);
        }
        err
    })
}

/// Adapters from the core's error types to [`error`].
pub fn from_compile(e: &celmatch::CompileError) -> PyErr {
    let span = e.span();
    error(
        e.code(),
        e.message(),
        Some(Location {
            line: e.line(),
            column: e.column(),
            span: (span.start, span.end),
        }),
    )
}

pub fn from_eval(e: &celmatch::EvalError) -> PyErr {
    error(e.code(), e.message(), None)
}

pub fn from_core(e: &celmatch::Error) -> PyErr {
    match e.compile_error() {
        Some(c) => {
            let span = c.span();
            // The core's message for a wrapped compile error already has code and position.
            error(
                e.code(),
                c.message(),
                Some(Location {
                    line: c.line(),
                    column: c.column(),
                    span: (span.start, span.end),
                }),
            )
        }
        None => error(e.code(), e.message(), None),
    }
}
