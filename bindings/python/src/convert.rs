//! Python ⇄ JSON conversion.
//!
//! Python inputs are turned into `serde_json::Value` while the interpreter is attached, so the
//! engine can then run detached from it. Results come back as plain Python objects.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use serde_json::{Map, Number, Value as Json};

use crate::errors;

/// Converts a Python value (`dict`, `list`/`tuple`, `str`, `int`, `float`, `bool`, `None`) to
/// JSON. `what` names the argument in error messages. Containers nested deeper than
/// `max_depth` (the outermost container is depth 1, as in the core's `max_event_depth`), or a
/// container that contains itself, are the error `limit_exceeded`.
///
/// Ints that do not fit an `i64` become floats. NaN and infinities are a `ValueError` (JSON has
/// no such numbers). Any other type is a `TypeError`.
pub fn to_json(obj: &Bound<'_, PyAny>, what: &str, max_depth: usize) -> PyResult<Json> {
    convert(obj, what, max_depth.min(HARD_MAX_DEPTH), 0)
}

/// The converter recurses; this bounds its stack use whatever the configured limit.
const HARD_MAX_DEPTH: usize = 2000;

fn too_deep(what: &str, max_depth: usize) -> PyErr {
    errors::error(
        errors::Class::Other,
        "limit_exceeded",
        format!("{what} nests deeper than the limit of {max_depth}"),
        None,
    )
}

/// `depth` is the number of containers around `obj`.
fn convert(obj: &Bound<'_, PyAny>, what: &str, max_depth: usize, depth: usize) -> PyResult<Json> {
    // Exact-type checks first: the common cases stay cheap.
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return Ok(Json::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        if depth >= max_depth {
            return Err(too_deep(what, max_depth));
        }
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_cow()?.into_owned(),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "{what}: object keys must be str, not {}",
                        type_name(&k)
                    )))
                }
            };
            map.insert(key, convert(&v, what, max_depth, depth + 1)?);
        }
        return Ok(Json::Object(map));
    }
    if obj.is_none() {
        return Ok(Json::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Json::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Json::Number(i.into()));
        }
        // Too big for i64: becomes a double, like a JSON parser would read it.
        let f: f64 = obj.extract()?;
        return finite(f, what);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return finite(f.value(), what);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Json::String(s.to_cow()?.into_owned()));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        if depth >= max_depth {
            return Err(too_deep(what, max_depth));
        }
        let mut out = Vec::with_capacity(l.len());
        for item in l.iter() {
            out.push(convert(&item, what, max_depth, depth + 1)?);
        }
        return Ok(Json::Array(out));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        if depth >= max_depth {
            return Err(too_deep(what, max_depth));
        }
        let mut out = Vec::with_capacity(t.len());
        for item in t.iter() {
            out.push(convert(&item, what, max_depth, depth + 1)?);
        }
        return Ok(Json::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: {} is not JSON-compatible (use dict, list, tuple, str, int, float, bool or None)",
        type_name(obj)
    )))
}

fn finite(f: f64, what: &str) -> PyResult<Json> {
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| PyValueError::new_err(format!("{what}: {f} is not a JSON number")))
}

/// The name of an object's type, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// An event argument as the engine takes it: a JSON value, or JSON text to parse.
pub enum EventInput {
    Json(Json),
    Text(Vec<u8>),
}

/// Reads an event: a `dict` (converted, and checked against the engine's `max_event_depth`
/// and `max_event_bytes` as its JSON text would be), or `str`/`bytes`/`bytearray` holding JSON text
/// (copied, parsed by the engine).
pub fn event_input(obj: &Bound<'_, PyAny>, engine: &celmatch::Engine) -> PyResult<EventInput> {
    if let Ok(d) = obj.cast::<PyDict>() {
        // The engine's size and depth limits hold for a dict as for JSON text.
        let json = to_json(d.as_any(), "event", engine.config().limits.max_event_depth)?;
        engine.check_event(&json).map_err(|e| errors::from_core(&e))?;
        return Ok(EventInput::Json(json));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(EventInput::Text(s.to_cow()?.into_owned().into_bytes()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(EventInput::Text(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(EventInput::Text(b.to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "event must be a dict, str or bytes, not {}",
        type_name(obj)
    )))
}

/// Reads an event as a JSON value: a `dict`, or JSON text parsed by the engine (within its
/// size and depth limits).
pub fn event_json(obj: &Bound<'_, PyAny>, engine: &celmatch::Engine) -> PyResult<Json> {
    match event_input(obj, engine)? {
        EventInput::Json(j) => Ok(j),
        EventInput::Text(t) => engine.parse_event(&t).map_err(|e| errors::from_core(&e)),
    }
}

/// Converts JSON to Python: objects become `dict` (keys sorted, as the core's JSON keeps
/// them), arrays `list`, integers `int`, other numbers `float`.
pub fn to_py<'py>(py: Python<'py>, v: &Json) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Json::Null => py.None().into_bound(py),
        Json::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Json::String(s) => PyString::new(py, s).into_any(),
        Json::Array(a) => {
            let list = PyList::empty(py);
            for item in a {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Json::Object(m) => {
            let dict = PyDict::new(py);
            for (k, item) in m {
                dict.set_item(k, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
