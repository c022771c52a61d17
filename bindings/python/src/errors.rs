//! Exceptions. Every error the core reports is turned into a Python exception by [`error`],
//! chosen by its stable code — never by message text.

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

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

static CONFIG_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

const CONFIG_ERROR_DOC: &str = "The engine configuration (the keyword arguments of `Engine` and `Engine.open`) is\n\
     invalid: an unknown key (the message names it, with the closest known one), or a value of\n\
     the wrong type or range. `.code` is \"invalid_config\". A `CelmatchError` (so a\n\
     `ValueError`) and a `TypeError`, like an unexpected keyword argument.";

/// `celmatch.ConfigError`: a subclass of both `CelmatchError` and `TypeError` (which
/// `create_exception!` cannot make), created once per interpreter.
pub fn config_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    let t = CONFIG_ERROR.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let bases = PyTuple::new(py, [py.get_type::<CelmatchError>(), py.get_type::<PyTypeError>()])?;
        let namespace = PyDict::new(py);
        namespace.set_item("__doc__", CONFIG_ERROR_DOC)?;
        namespace.set_item("__module__", "celmatch")?;
        let class = py.get_type::<PyType>().call1(("ConfigError", bases, namespace))?;
        Ok(class.cast_into::<PyType>()?.unbind())
    })?;
    Ok(t.bind(py))
}

/// Which Python exception class an error becomes: from the core's `ErrorKind`, never from
/// its code or message text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Compile,
    Eval,
    Config,
    Other,
}

impl Class {
    pub fn of(kind: celmatch::ErrorKind) -> Class {
        match kind {
            celmatch::ErrorKind::Compile(_) => Class::Compile,
            celmatch::ErrorKind::Eval(_) => Class::Eval,
            celmatch::ErrorKind::InvalidConfig => Class::Config,
            _ => Class::Other,
        }
    }
}

/// Where a compile error is: 1-based line and column, byte span.
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub span: (usize, usize),
}

/// THE conversion: an error's class, code and message (and location, for compile errors) to
/// a Python exception: `CompileError`, `EvalError`, `ConfigError` or `CelmatchError`. All carry `.code`;
/// compile errors also `.line`, `.column` and `.span` (`None` when the core gave no location).
pub fn error(class: Class, code: &str, message: impl Into<String>, loc: Option<Location>) -> PyErr {
    let message = message.into();
    let text = match &loc {
        Some(l) => format!("{code} at {}:{}: {message}", l.line, l.column),
        None => format!("{code}: {message}"),
    };
    Python::attach(|py| {
        let err = match class {
            Class::Compile => CompileError::new_err(text),
            Class::Eval => EvalError::new_err(text),
            Class::Config => match config_error_type(py) {
                Ok(t) => PyErr::from_type(t.clone(), text),
                Err(e) => e,
            },
            Class::Other => CelmatchError::new_err(text),
        };
        let value = err.value(py);
        let _ = value.setattr("code", code);
        let _ = value.setattr("message", &message);
        if class == Class::Compile {
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
        Class::Compile,
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
    error(Class::Eval, e.code(), e.message(), None)
}

pub fn from_core(e: &celmatch::Error) -> PyErr {
    match e.compile_error() {
        Some(c) => {
            let span = c.span();
            // The core's message for a wrapped compile error already has code and position.
            error(
                Class::Compile,
                e.code(),
                c.message(),
                Some(Location {
                    line: c.line(),
                    column: c.column(),
                    span: (span.start, span.end),
                }),
            )
        }
        None => error(Class::of(e.kind()), e.code(), e.message(), None),
    }
}
