//! `celmatch.Cluster`: a client of a cluster of celmatch workers on Redis, over the
//! celmatch-cluster crate (no protocol of its own).

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value as Json;

use crate::convert::{to_json, to_py};
use crate::errors::{self, Class};
use crate::{time, Engine};
use celmatch::{Routes, Subscription};

pub fn cluster_error(e: &celmatch_cluster::Error) -> PyErr {
    let class = match e.kind() {
        celmatch_cluster::ErrorKind::Engine(k) => Class::of(k),
        _ => Class::Other,
    };
    errors::error(class, e.code(), e.message(), None)
}

fn outcome_dict(py: Python<'_>, o: celmatch_cluster::Outcome) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", o.id)?;
    d.set_item("outcome", o.outcome)?;
    d.set_item("event", o.event)?;
    d.set_item("worker", o.worker)?;
    d.set_item("record", to_py(py, &o.record)?)?;
    d.set_item("entry", o.entry)?;
    Ok(d)
}

/// A routing table from a dict ``{"event name": "dotted.path"}``.
pub fn routes_arg(routes: &Bound<'_, PyAny>) -> PyResult<Routes> {
    let json = to_json(routes, "routes", 2)?;
    Routes::from_json(&json).map_err(|e| errors::from_core(&e))
}

/// Cluster(url, *, prefix="celmatch", ranges=None, routes=None)
///
/// Connects to a cluster of celmatch workers (``celmatch worker --redis URL``) whose state is
/// in Redis: ``redis://host:port/`` for one server, ``redis+cluster://host:port,host:port``
/// for a Redis Cluster. ``ranges`` and ``routes`` (``{"event name": "dotted.path"}``) are
/// fixed by the first client or worker to connect, which must give ``routes`` (``{}`` is
/// fine); later ones must give the same or leave them out.
///
/// Raises:
///     CelmatchError: ``redis_error`` (Redis unreachable), ``invalid_argument`` (a bad URL,
///     or ranges or routes other than the cluster's).
#[pyclass(frozen, module = "celmatch")]
pub struct Cluster {
    inner: Mutex<celmatch_cluster::Cluster>,
    /// Converts records as ``Engine.add_many`` does (seconds, datetimes, timedeltas).
    records: Engine,
}

impl Cluster {
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut celmatch_cluster::Cluster) -> Result<T, celmatch_cluster::Error> + Send) -> PyResult<T> {
        let inner = &self.inner;
        py.detach(|| {
            let mut c = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .map_err(|e| cluster_error(&e))
    }

    fn record(&self, record: &Bound<'_, PyAny>) -> PyResult<Subscription> {
        let json = self.records.record_json(record, "record")?;
        Subscription::from_record(&json).map_err(|e| errors::from_core(&e))
    }
}

#[pymethods]
impl Cluster {
    #[new]
    #[pyo3(signature = (url, /, *, prefix = "celmatch", ranges = None, routes = None))]
    fn new(py: Python<'_>, url: &str, prefix: &str, ranges: Option<u16>, routes: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let routes = routes.filter(|r| !r.is_none()).map(routes_arg).transpose()?;
        let options = celmatch_cluster::Options { prefix: prefix.to_string(), ranges, routes };
        let url = url.to_string();
        let inner = py.detach(|| celmatch_cluster::Cluster::connect(&url, &options)).map_err(|e| cluster_error(&e))?;
        Ok(Cluster { inner: Mutex::new(inner), records: Engine::wrap(celmatch::Engine::default()) })
    }

    /// The number of slot ranges.
    #[getter]
    fn ranges(&self) -> u16 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).ranges()
    }

    /// add(record) -> bool
    ///
    /// Registers a subscription, given as an ``Engine.add_many`` record (``id``, ``kind``,
    /// ``event``, ``if``, ``trigger``, ``owner``, ``deadline``, ``timeout``, …). True if added,
    /// False if the same subscription was registered already. A timeout becomes a deadline by
    /// this machine's clock; ``lookback`` is not supported.
    ///
    /// Raises:
    ///     CompileError: the condition does not compile.
    ///     CelmatchError: ``id_conflict``, ``invalid_subscription``, ``redis_error``.
    #[pyo3(signature = (record, /))]
    fn add(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<bool> {
        let sub = self.record(record)?;
        self.with(py, |c| c.add(&sub))
    }

    /// remove(id) -> bool
    ///
    /// Removes a subscription. False if it is not registered (any more: it fired or expired).
    #[pyo3(signature = (id, /))]
    fn remove(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        self.with(py, |c| c.remove(id))
    }

    /// publish(event) -> str
    ///
    /// Publishes an event (a dict) to its slot's range; returns the stream entry id.
    #[pyo3(signature = (event, /))]
    fn publish(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<String> {
        let event: Json = to_json(event, "event", self.records.max_event_depth())?;
        self.with(py, |c| c.publish(&event))
    }

    /// outcomes() -> list[dict]
    ///
    /// Everything that fired or expired so far: ``{"id", "outcome" ("fired" | "expired"),
    /// "event" (the id of the event that fired it), "worker", "record", "entry"}``.
    fn outcomes<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let all = self.with(py, |c| c.outcomes())?;
        all.into_iter().map(|o| outcome_dict(py, o)).collect()
    }

    /// read_outcomes(cursor="", count=1000) -> tuple[list[dict], str]
    ///
    /// The outcomes after ``cursor`` (``""``: from the start), at most ``count`` per output
    /// stream, and the cursor to read on from (text: store it to resume).
    #[pyo3(signature = (cursor = "", count = 1000))]
    fn read_outcomes<'py>(&self, py: Python<'py>, cursor: &str, count: usize) -> PyResult<(Vec<Bound<'py, PyDict>>, String)> {
        let (batch, next) = self.with(py, |c| c.read_outcomes(cursor, count))?;
        Ok((batch.into_iter().map(|o| outcome_dict(py, o)).collect::<PyResult<_>>()?, next))
    }

    /// trim_outcomes(cursor) -> int
    ///
    /// Deletes the outcomes up to ``cursor`` (from ``read_outcomes``) once they are handled;
    /// returns how many.
    #[pyo3(signature = (cursor, /))]
    fn trim_outcomes(&self, py: Python<'_>, cursor: &str) -> PyResult<u64> {
        self.with(py, |c| c.trim_outcomes(cursor))
    }

    /// stats() -> dict
    ///
    /// Subscriptions (and how many are broadcast), events waiting and pending, outcomes, live
    /// workers, and the same per range with its lease holder.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.with(py, |c| c.stats())?;
        to_py(py, &s)
    }

    /// claim(scope, key, ttl) -> bool
    ///
    /// Takes ``key`` in ``scope`` for ``ttl`` (seconds or ``timedelta``) with ``SET NX PX``:
    /// True for the first caller until it expires.
    #[pyo3(signature = (scope, key, ttl))]
    fn claim(&self, py: Python<'_>, scope: &str, key: &str, ttl: &Bound<'_, PyAny>) -> PyResult<bool> {
        let ttl = time::duration_ms(ttl, "ttl")?;
        self.with(py, |c| c.claim(scope, key, ttl))
    }

    fn __repr__(&self) -> String {
        format!("<celmatch.Cluster ranges={}>", self.ranges())
    }
}
