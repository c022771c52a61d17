//! Times and durations: Python `datetime`/`timedelta` or numbers of seconds, to epoch/relative
//! milliseconds for the core.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyInt, PyType};

use crate::convert::type_name;

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn is_datetime(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    obj.is_instance(DATETIME.import(obj.py(), "datetime", "datetime")?)
}

pub fn is_timedelta(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    obj.is_instance(TIMEDELTA.import(obj.py(), "datetime", "timedelta")?)
}

/// Seconds (int or float) to whole milliseconds, rounded to nearest.
fn seconds_to_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<i64>> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(None);
    }
    if obj.is_instance_of::<PyInt>() {
        let s: i64 = obj
            .extract()
            .map_err(|_| PyValueError::new_err(format!("{what} is out of range")))?;
        return s
            .checked_mul(1000)
            .map(Some)
            .ok_or_else(|| PyValueError::new_err(format!("{what} is out of range")));
    }
    if obj.is_instance_of::<PyFloat>() {
        let s: f64 = obj.extract()?;
        let ms = (s * 1000.0).round();
        if !ms.is_finite() || ms.abs() > 9.0e15 {
            return Err(PyValueError::new_err(format!(
                "{what} is out of range: {s}"
            )));
        }
        return Ok(Some(ms as i64));
    }
    Ok(None)
}

/// A `timedelta`'s length in whole milliseconds (microseconds are truncated toward -inf).
fn timedelta_ms(td: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = td.py();
    let days: i64 = td.getattr(intern!(py, "days"))?.extract()?;
    let secs: i64 = td.getattr(intern!(py, "seconds"))?.extract()?;
    let micros: i64 = td.getattr(intern!(py, "microseconds"))?.extract()?;
    Ok(days * 86_400_000 + secs * 1000 + micros.div_euclid(1000))
}

/// A duration: seconds (`int`/`float`) or a `datetime.timedelta`, as milliseconds. Zero and
/// negative durations are passed on: the core decides (a negative timeout is an error there,
/// a negative claim ttl never holds).
pub fn duration_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    signed_duration_ms(obj, what)
}

/// A duration (seconds or `timedelta`, may be negative), as milliseconds.
pub fn signed_duration_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    if let Some(ms) = seconds_to_ms(obj, what)? {
        Ok(ms)
    } else if is_timedelta(obj)? {
        timedelta_ms(obj)
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be seconds (int or float) or a datetime.timedelta, not {}",
            type_name(obj)
        )))
    }
}

/// An instant: a timezone-aware `datetime` or epoch seconds (`int`/`float`), as epoch
/// milliseconds. A naive `datetime` is a `ValueError` (it names no instant).
pub fn instant_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    if let Some(ms) = seconds_to_ms(obj, what)? {
        return Ok(ms);
    }
    if is_datetime(obj)? {
        let py = obj.py();
        if obj.call_method0(intern!(py, "utcoffset"))?.is_none() {
            return Err(PyValueError::new_err(format!(
                "{what} is a naive datetime; give it a tzinfo (e.g. datetime.timezone.utc)"
            )));
        }
        // Exact: (dt - epoch) as a timedelta, then whole milliseconds.
        let delta = obj.sub(epoch(py)?)?;
        return timedelta_ms(&delta);
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a timezone-aware datetime or epoch seconds (int or float), not {}",
        type_name(obj)
    )))
}

static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// 1970-01-01T00:00:00Z as an aware `datetime`.
fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    let e = EPOCH.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        Ok(dt
            .getattr("datetime")?
            .call1((1970, 1, 1, 0, 0, 0, 0, utc))?
            .unbind())
    })?;
    Ok(e.bind(py))
}

/// Optional variants of the above, for keyword arguments that default to `None`.
pub fn opt_duration_ms(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    match obj {
        Some(o) if !o.is_none() => duration_ms(o, what).map(Some),
        _ => Ok(None),
    }
}

pub fn opt_instant_ms(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    match obj {
        Some(o) if !o.is_none() => instant_ms(o, what).map(Some),
        _ => Ok(None),
    }
}

/// Epoch milliseconds as an aware `datetime` in UTC (epoch + timedelta: exact to the
/// millisecond, for any instant `datetime` can hold).
pub fn datetime_from_ms(py: Python<'_>, ms: i64) -> PyResult<Bound<'_, PyAny>> {
    let delta = TIMEDELTA.import(py, "datetime", "timedelta")?.call1((
        0,
        ms.div_euclid(1000),
        ms.rem_euclid(1000) * 1000,
    ))?;
    epoch(py)?.add(delta)
}
