//! `celmatch._celmatch`: the Python extension module of celmatch.
//!
//! Python inputs are converted to JSON values while attached to the interpreter; the engine then
//! runs detached from it (matching, bulk loading, adding), so other Python threads keep running.
//! One [`Engine`] is shared by any number of threads.

mod cluster;
mod convert;
mod errors;
mod time;

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::Value as Json;

use celmatch::{Config, Dialect, Kind, Subscription};
use convert::{event_input, event_json, to_json, to_py, type_name, EventInput};
use errors::{CelmatchError, CompileError, EvalError};

// ---------------------------------------------------------------------------------------------
// Fired

/// A subscription that an event (or a buffered event, at add time) fired.
///
/// Attributes:
///     id: the subscription id.
///     kind: ``"wait"`` or ``"cancel"``.
///     owner: the subscription's owner, or ``None``.
///
/// Fired values compare equal when id, kind and owner are equal, and are hashable.
#[pyclass(frozen, eq, hash, module = "celmatch")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fired {
    /// The subscription id.
    #[pyo3(get)]
    id: String,
    /// ``"wait"`` or ``"cancel"``.
    #[pyo3(get)]
    kind: String,
    /// The subscription's owner, or ``None``.
    #[pyo3(get)]
    owner: Option<String>,
}

#[pymethods]
impl Fired {
    /// Fired(id, kind="wait", owner=None)
    ///
    /// Builds a Fired value (the engine makes these; constructing one is useful in tests).
    #[new]
    #[pyo3(signature = (id, kind = "wait", owner = None))]
    fn new(id: String, kind: &str, owner: Option<String>) -> PyResult<Self> {
        if kind != "wait" && kind != "cancel" {
            return Err(PyValueError::new_err(format!(
                "kind must be \"wait\" or \"cancel\", not {kind:?}"
            )));
        }
        Ok(Fired {
            id,
            kind: kind.to_owned(),
            owner,
        })
    }

    fn __repr__(&self) -> String {
        match &self.owner {
            Some(o) => format!(
                "Fired(id={}, kind={}, owner={})",
                py_str(&self.id),
                py_str(&self.kind),
                py_str(o)
            ),
            None => format!(
                "Fired(id={}, kind={}, owner=None)",
                py_str(&self.id),
                py_str(&self.kind)
            ),
        }
    }
}

impl From<celmatch::Fired> for Fired {
    fn from(f: celmatch::Fired) -> Self {
        Fired {
            id: f.id,
            kind: f.kind.as_str().to_owned(),
            owner: f.owner,
        }
    }
}

/// A Python-style repr of a string (single quotes, escapes).
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

// ---------------------------------------------------------------------------------------------
// Compiled

/// A compiled condition, as returned by ``Engine.compile``.
///
/// Attributes:
///     shape: the expression after binding, folding and negation normal form, with its
///         literals shown as ``$0``, ``$1``, …; subscriptions with one shape share one plan.
///     params: the lifted literal values, in ``$i`` order.
///     conjunctions: the conjunctions the condition is indexed by, or ``None`` when the split
///         would exceed ``limits["max_conjunctions"]`` and the condition is verified whole.
#[pyclass(frozen, module = "celmatch")]
pub struct Compiled {
    shape: String,
    params: Vec<Json>,
    conjunctions: Option<Vec<String>>,
}

#[pymethods]
impl Compiled {
    /// The expression's shape: literals shown as ``$0``, ``$1``, ….
    #[getter]
    fn shape(&self) -> &str {
        &self.shape
    }

    /// The lifted literal values, in ``$i`` order.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for p in &self.params {
            list.append(to_py(py, p)?)?;
        }
        Ok(list)
    }

    /// The indexed conjunctions, or ``None`` when the condition is verified whole.
    #[getter]
    fn conjunctions(&self) -> Option<Vec<String>> {
        self.conjunctions.clone()
    }

    fn __repr__(&self) -> String {
        format!("Compiled(shape={})", py_str(&self.shape))
    }
}

// ---------------------------------------------------------------------------------------------
// ManualClock

/// ManualClock(now)
///
/// A clock that moves only when told to, for tests and deterministic replays. Give it to
/// ``Engine(clock=...)``: timeouts, lookback windows, expiry and claims then use its time.
/// Thread-safe.
///
/// Args:
///     now: the starting time: an aware ``datetime`` or epoch seconds.
#[pyclass(frozen, module = "celmatch")]
pub struct ManualClock {
    inner: Arc<celmatch::ManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (now, /))]
    fn new(now: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(ManualClock {
            inner: Arc::new(celmatch::ManualClock::new(time::instant_ms(now, "now")?)),
        })
    }

    /// The clock's time, in epoch seconds (millisecond resolution).
    #[getter]
    fn now(&self) -> f64 {
        use celmatch::Clock;
        self.inner.now_ms() as f64 / 1000.0
    }

    /// set(now) -> None
    ///
    /// Sets the time: an aware ``datetime`` or epoch seconds. It may go backwards.
    #[pyo3(signature = (now, /))]
    fn set(&self, now: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set(time::instant_ms(now, "now")?);
        Ok(())
    }

    /// advance(by) -> None
    ///
    /// Moves the time by ``by``: seconds (int or float, may be negative) or a ``timedelta``.
    #[pyo3(signature = (by, /))]
    fn advance(&self, by: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.advance(time::signed_duration_ms(by, "by")?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock({})", self.now())
    }
}

// ---------------------------------------------------------------------------------------------
// Engine

/// Engine(dialect="strict", *, lookback=None, limits=None, event_fields=None, cancel_removes_owner=False, max_claims=None, clock=None)
///
/// The matching engine: holds pending subscriptions (waits and cancels) with CEL conditions and
/// tells, for each incoming event, which of them it fires. Thread-safe: share one Engine between
/// threads; matching and loading run without the GIL.
///
/// Args:
///     dialect: ``"strict"`` (CEL as specified) or ``"lenient"`` (missing fields are null,
///         numbers mix, ``+`` with a string concatenates).
///     lookback: the event buffer that ``add_wait(..., lookback=...)`` searches, per event name:
///         ``dict(max_age=seconds | timedelta | "5m", max_events=int, max_bytes=int)``. Omitted keys
///         default to 5 minutes, 10,000 events and 16 MiB; ``max_events=0`` or
///         ``lookback=None`` (the default) turns the buffer off.
///     limits: overrides of the input limits: ``max_expr_bytes``, ``max_depth``,
///         ``max_conjunctions``, ``max_event_bytes``, ``max_event_depth``.
///     event_fields: where events carry their name, id and time:
///         ``dict(name=..., id=..., time=...)`` (defaults ``"name"``, ``"id"``, ``"ts"``), or
///         ``"cloudevents"`` for ``type``/``id``/``time`` (``"inngest"`` for the defaults).
///     cancel_removes_owner: when a cancel fires, also remove the other subscriptions of its
///         owner.
///     max_claims: most ``claim`` keys held at once (default 10,000,000); past it, expired
///         claims are reclaimed and then new claims fail with ``limit_exceeded``.
///     clock: a ``ManualClock`` to use instead of the system clock (tests, replays).
///
/// The settings are read by the core, as in every binding (one set of defaults and checks);
/// only ``max_age`` is converted first (seconds or a ``timedelta``, or a string like ``"5m"``).
///
/// Raises:
///     ConfigError: an unknown dialect, key or value (code ``invalid_config``, naming the key
///         and, for a typo, the closest known one); it is a ``ValueError`` and a ``TypeError``.
///     TypeError: ``dialect`` or ``cancel_removes_owner`` of the wrong type.
#[pyclass(frozen, module = "celmatch")]
pub struct Engine {
    inner: Arc<celmatch::Engine>,
    dialect: Dialect,
    /// The configured lookback window, used by ``lookback=True``.
    lookback_max_age_ms: i64,
}

fn extract_usize(v: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(v)
        )));
    }
    v.extract::<usize>()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a non-negative int")))
}

fn extract_str(v: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match v.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a str, not {}",
            type_name(v)
        ))),
    }
}

/// An optional keyword argument that was given (not omitted, not `None`).
fn given<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    v.filter(|v| !v.is_none())
}

/// A `lookback=` dict as the core's lookback record: `max_age` in seconds or a `timedelta`
/// becomes milliseconds (Python's one duration rule); every other key and value goes to the
/// core as it is, which checks them.
fn lookback_json(lb: &Bound<'_, PyAny>) -> PyResult<Json> {
    let Ok(d) = lb.cast::<PyDict>() else { return to_json(lb, "lookback", 8) };
    let mut out = serde_json::Map::new();
    for (k, v) in d.iter() {
        let key = extract_str(&k, "lookback key")?;
        let number = (v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>()) && !v.is_instance_of::<PyBool>();
        let value = if key == "max_age" && (number || time::is_timedelta(&v)?) {
            Json::from(time::duration_ms(&v, "lookback max_age")?)
        } else {
            to_json(&v, &format!("lookback[{key:?}]"), 8)?
        };
        out.insert(key, value);
    }
    Ok(Json::Object(out))
}

/// The configuration of `Engine(...)` and `Engine.open(...)`: their keyword arguments as the
/// core's configuration record, which the core reads, validates and defaults
/// (`Config::from_record`): an unknown key or a bad value is a `ConfigError`
/// (`invalid_config`) naming it. Only Python's units are handled here (`lookback` `max_age` in
/// seconds or a `timedelta`), and the clock, which is a Python object.
#[allow(clippy::too_many_arguments)]
fn build_config(
    dialect: String,
    durability: Option<String>,
    lookback: Option<&Bound<'_, PyAny>>,
    limits: Option<&Bound<'_, PyAny>>,
    event_fields: Option<&Bound<'_, PyAny>>,
    cancel_removes_owner: bool,
    max_claims: Option<&Bound<'_, PyAny>>,
    clock: Option<&Bound<'_, PyAny>>,
) -> PyResult<Config> {
    let mut record = serde_json::Map::new();
    record.insert("dialect".into(), dialect.into());
    if let Some(d) = durability {
        record.insert("durability".into(), d.into());
    }
    if let Some(lb) = given(lookback) {
        record.insert("lookback".into(), lookback_json(lb)?);
    }
    for (key, v) in [("limits", limits), ("event_fields", event_fields), ("max_claims", max_claims)] {
        if let Some(v) = given(v) {
            record.insert(key.into(), to_json(v, key, 8)?);
        }
    }
    record.insert("cancel_removes_owner".into(), cancel_removes_owner.into());
    let mut config = Config::from_record(&Json::Object(record)).map_err(|e| errors::from_core(&e))?;
    if let Some(c) = given(clock) {
        let c = c.cast::<ManualClock>().map_err(|_| {
            PyTypeError::new_err(format!(
                "clock must be a celmatch.ManualClock, not {}",
                type_name(c)
            ))
        })?;
        config.clock = c.get().inner.clone();
    }
    Ok(config)
}

/// Results of a batch call whose item `index` failed: raises that item's exception with
/// `.index` (the position) and `.results` (every item's outcome: its result or its exception).
fn batch_error(py: Python<'_>, index: usize, err: PyErr, results: Vec<Bound<'_, PyAny>>) -> PyErr {
    let value = err.value(py);
    let _ = value.setattr("index", index);
    let _ = value.setattr("results", PyList::new(py, results).ok());
    err
}

impl Engine {
    pub(crate) fn wrap(engine: celmatch::Engine) -> Engine {
        let config = engine.config();
        let (dialect, lookback_max_age_ms) = (config.dialect, config.lookback_max_age_ms);
        Engine {
            inner: Arc::new(engine),
            dialect,
            lookback_max_age_ms,
        }
    }

    /// An `add_many` record as the core's JSON record: Python times and durations become
    /// milliseconds; everything else converts as JSON. A non-dict converts as it is (and then
    /// fails alone as `invalid_subscription`).
    pub(crate) fn record_json(&self, rec: &Bound<'_, PyAny>, what: &str) -> PyResult<Json> {
        let max_depth = self.max_event_depth() + 1;
        let Ok(d) = rec.cast::<PyDict>() else { return to_json(rec, what, max_depth) };
        let mut out = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = extract_str(&k, &format!("{what} key"))?;
            let field = format!("{what}[{key:?}]");
            // Numbers are seconds; anything else that is not a datetime or timedelta goes to
            // the core as it is, which accepts strings and rejects the rest for this record
            // alone (`invalid_subscription`).
            let number = (v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>()) && !v.is_instance_of::<PyBool>();
            let value = match key.as_str() {
                "deadline" | "not_before" | "notBefore" if number || time::is_datetime(&v)? => Json::from(time::instant_ms(&v, &field)?),
                "lookback" if v.is_instance_of::<PyBool>() => match v.extract::<bool>()? {
                    true => Json::from(self.lookback_max_age_ms),
                    false => continue,
                },
                "timeout" | "lookback" if number || time::is_timedelta(&v)? => Json::from(time::duration_ms(&v, &field)?),
                _ => to_json(&v, &field, max_depth)?,
            };
            out.insert(key, value);
        }
        Ok(Json::Object(out))
    }

    /// The deepest nesting accepted in events and triggers (the engine's `max_event_depth`).
    pub(crate) fn max_event_depth(&self) -> usize {
        self.inner.config().limits.max_event_depth
    }

    #[allow(clippy::too_many_arguments)]
    fn sub(
        &self,
        kind: Kind,
        id: String,
        event: String,
        condition: Option<String>,
        trigger: Option<&Bound<'_, PyAny>>,
        owner: Option<String>,
        timeout: Option<&Bound<'_, PyAny>>,
        deadline: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Subscription> {
        let mut sub = match kind {
            Kind::Wait => Subscription::wait(id, event),
            Kind::Cancel => Subscription::cancel(id, event),
        };
        sub.condition = condition;
        sub.trigger = match trigger {
            Some(t) if !t.is_none() => Some(to_json(t, "trigger", self.max_event_depth())?),
            _ => None,
        };
        sub.owner = owner;
        sub.timeout_ms = time::opt_duration_ms(timeout, "timeout")?;
        sub.deadline_ms = time::opt_instant_ms(deadline, "deadline")?;
        Ok(sub)
    }

    fn add(&self, py: Python<'_>, sub: Subscription) -> PyResult<Option<Fired>> {
        let engine = &*self.inner;
        match py.detach(|| engine.add(sub)) {
            Ok(f) => Ok(f.map(Fired::from)),
            Err(e) => Err(errors::from_core(&e)),
        }
    }
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (dialect = String::from("strict"), *, lookback = None, limits = None, event_fields = None, cancel_removes_owner = false, max_claims = None, clock = None))]
    #[pyo3(
        text_signature = "(dialect='strict', *, lookback=None, limits=None, event_fields=None, cancel_removes_owner=False, max_claims=None, clock=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        dialect: String,
        lookback: Option<&Bound<'_, PyAny>>,
        limits: Option<&Bound<'_, PyAny>>,
        event_fields: Option<&Bound<'_, PyAny>>,
        cancel_removes_owner: bool,
        max_claims: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = build_config(dialect, None, lookback, limits, event_fields, cancel_removes_owner, max_claims, clock)?;
        Ok(Engine::wrap(celmatch::Engine::new(config)))
    }

    /// Engine.open(path, dialect="strict", *, durability="process", lookback=None, limits=None, event_fields=None, cancel_removes_owner=False, max_claims=None, clock=None) -> Engine
    ///
    /// A durable engine whose state lives in the SQLite store at ``path`` (created if
    /// absent): every call that changes something returns only after it is committed, and
    /// reopening the store after a crash or restart gives back every acknowledged
    /// subscription and claim. ``durability="process"`` survives a killed process;
    /// ``"power"`` survives power loss too (each commit waits for the disk). Use the engine
    /// as a context manager, or call ``close()``, to release the store.
    ///
    /// Raises:
    ///     ConfigError: an invalid setting, as for ``Engine(...)``, or a ``durability`` other
    ///         than ``"process"`` or ``"power"``.
    ///     CelmatchError: ``corrupt_store``, ``incompatible_store``, ``store_locked`` (open in
    ///         another process) or ``io_error``.
    #[staticmethod]
    #[pyo3(signature = (path, dialect = String::from("strict"), *, durability = String::from("process"), lookback = None, limits = None, event_fields = None, cancel_removes_owner = false, max_claims = None, clock = None))]
    #[pyo3(
        text_signature = "(path, dialect='strict', *, durability='process', lookback=None, limits=None, event_fields=None, cancel_removes_owner=False, max_claims=None, clock=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        path: std::path::PathBuf,
        dialect: String,
        durability: String,
        lookback: Option<&Bound<'_, PyAny>>,
        limits: Option<&Bound<'_, PyAny>>,
        event_fields: Option<&Bound<'_, PyAny>>,
        cancel_removes_owner: bool,
        max_claims: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = build_config(dialect, Some(durability), lookback, limits, event_fields, cancel_removes_owner, max_claims, clock)?;
        let engine = py.detach(|| celmatch::Engine::open(&path, config)).map_err(|e| errors::from_core(&e))?;
        Ok(Engine::wrap(engine))
    }

    /// save(path) -> None
    ///
    /// Writes the engine's state to a new store at ``path`` (the format ``Engine.open``
    /// reads), atomically: a temporary file beside it, synced, then renamed over ``path``.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let engine = &*self.inner;
        py.detach(|| engine.save(&path)).map_err(|e| errors::from_core(&e))
    }

    /// close() -> None
    ///
    /// Closes the engine: a durable engine releases its store. Later calls that change or
    /// match anything raise ``CelmatchError`` with code ``engine_closed``.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let engine = &*self.inner;
        py.detach(|| engine.close()).map_err(|e| errors::from_core(&e))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Whether this engine keeps its state in a store (``Engine.open``).
    #[getter]
    fn durable(&self) -> bool {
        self.inner.is_durable()
    }

    /// The dialect: ``"strict"`` or ``"lenient"``.
    #[getter]
    fn dialect(&self) -> &'static str {
        match self.dialect {
            Dialect::Strict => "strict",
            Dialect::Lenient => "lenient",
        }
    }

    /// compile(expr) -> Compiled
    ///
    /// Compiles a condition over ``async`` (the incoming event) without adding anything.
    ///
    /// Raises:
    ///     CompileError: the expression is not valid or not supported (``.code``, ``.line``,
    ///         ``.column``, ``.span`` say what and where).
    #[pyo3(signature = (expr, /))]
    fn compile(&self, expr: &str) -> PyResult<Compiled> {
        let c = self
            .inner
            .compile(expr)
            .map_err(|e| errors::from_compile(&e))?;
        Ok(Compiled {
            shape: c.shape().to_owned(),
            params: c.params(),
            conjunctions: c.conjunctions(),
        })
    }

    /// add_wait(id, event, condition=None, *, trigger=None, owner=None, timeout=None, deadline=None, lookback=False) -> Fired | None
    ///
    /// Adds a wait: fires once, for the first event named ``event`` whose ``condition`` is true,
    /// and is then removed.
    ///
    /// Args:
    ///     id: unique subscription id.
    ///     event: the event name to wait for.
    ///     condition: CEL over ``async`` (the incoming event) and ``event`` (the trigger).
    ///     trigger: the triggering event (a dict); ``event.*`` in the condition is bound from it.
    ///     owner: an owner id (e.g. a workflow run), for ``remove_owner``.
    ///     timeout: seconds or ``timedelta`` from now until the wait expires.
    ///     deadline: when it expires: an aware ``datetime`` or epoch seconds.
    ///     lookback: also test buffered past events: ``True`` for the engine's configured
    ///         window, or a window in seconds / ``timedelta``.
    ///
    /// Returns:
    ///     the Fired value if a buffered event fired the wait at once (it is then not added),
    ///     else ``None``.
    ///
    /// Raises:
    ///     CompileError: a bad condition. CelmatchError: ``id_conflict``,
    ///     ``invalid_subscription``, ``limit_exceeded``.
    #[pyo3(signature = (id, event, condition = None, *, trigger = None, owner = None, timeout = None, deadline = None, lookback = None))]
    #[pyo3(
        text_signature = "(self, id, event, condition=None, *, trigger=None, owner=None, timeout=None, deadline=None, lookback=False)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn add_wait(
        &self,
        py: Python<'_>,
        id: String,
        event: String,
        condition: Option<String>,
        trigger: Option<&Bound<'_, PyAny>>,
        owner: Option<String>,
        timeout: Option<&Bound<'_, PyAny>>,
        deadline: Option<&Bound<'_, PyAny>>,
        lookback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Fired>> {
        let mut sub = self.sub(
            Kind::Wait,
            id,
            event,
            condition,
            trigger,
            owner,
            timeout,
            deadline,
        )?;
        sub.lookback_ms = match lookback {
            None => None,
            Some(v) if v.is_none() => None,
            Some(v) => match v.cast::<PyBool>() {
                Ok(b) if b.is_true() => Some(self.lookback_max_age_ms),
                Ok(_) => None,
                Err(_) => Some(time::duration_ms(v, "lookback")?),
            },
        };
        self.add(py, sub)
    }

    /// add_cancel(id, event, condition=None, *, trigger=None, owner=None, timeout=None, deadline=None, not_before=None) -> None
    ///
    /// Adds a cancel: like a wait (fires once for the first matching event) but reported with
    /// ``kind == "cancel"``; with ``cancel_removes_owner=True`` firing it also removes the
    /// owner's other subscriptions.
    ///
    /// Args:
    ///     not_before: events whose time is earlier (aware ``datetime`` or epoch seconds) do not
    ///         fire it.
    ///     (the others as for ``add_wait``)
    ///
    /// Raises:
    ///     CompileError: a bad condition. CelmatchError: ``id_conflict``,
    ///     ``invalid_subscription``, ``limit_exceeded``.
    #[pyo3(signature = (id, event, condition = None, *, trigger = None, owner = None, timeout = None, deadline = None, not_before = None))]
    #[allow(clippy::too_many_arguments)]
    fn add_cancel(
        &self,
        py: Python<'_>,
        id: String,
        event: String,
        condition: Option<String>,
        trigger: Option<&Bound<'_, PyAny>>,
        owner: Option<String>,
        timeout: Option<&Bound<'_, PyAny>>,
        deadline: Option<&Bound<'_, PyAny>>,
        not_before: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut sub = self.sub(
            Kind::Cancel,
            id,
            event,
            condition,
            trigger,
            owner,
            timeout,
            deadline,
        )?;
        sub.not_before_ms = time::opt_instant_ms(not_before, "not_before")?;
        self.add(py, sub).map(|_| ())
    }

    /// add_many(records) -> list[Fired | None]
    ///
    /// Adds many subscriptions at once, without the GIL while loading. Each record is a dict
    /// with the keys of a line of the CLI's NDJSON input: ``{"id", "kind": "wait" | "cancel",
    /// "event", "if" (or "condition"), "trigger", "owner", "deadline", "not_before",
    /// "timeout", "lookback", "exclude_event_id"}``, with Python's units as everywhere in
    /// this package: instants as aware datetimes or epoch seconds (or RFC 3339 strings),
    /// durations as seconds or timedeltas (or strings like ``"30m"``), ``lookback=True`` for
    /// the configured window. What ``get`` returns is such a record. An unknown key is an
    /// error (``invalid_subscription``), never ignored.
    ///
    /// Returns:
    ///     one entry per record: the Fired value of a wait that fired from lookback, else None.
    ///
    /// Raises:
    ///     CelmatchError (or CompileError): a record was malformed (``invalid_subscription``)
    ///     or could not be added. Such a record fails alone: the others were added. The
    ///     exception is the first failure's, with ``.index`` (its position) and ``.results``
    ///     (every record's outcome: Fired, None or an exception).
    ///     TypeError: ``records`` is not an iterable, or a record holds a value that is not
    ///     JSON-compatible (then nothing was added).
    #[pyo3(signature = (records, /))]
    fn add_many(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Fired>>> {
        if records.is_instance_of::<PyString>() || records.is_instance_of::<PyDict>() {
            return Err(PyTypeError::new_err("records must be an iterable of dicts"));
        }
        // Convert everything first (type errors raise before anything is added).
        let mut parsed = Vec::new();
        for (i, rec) in records.try_iter()?.enumerate() {
            let rec = rec?;
            // Any JSON value converts; one that is not an object then fails alone, as
            // `invalid_subscription`, like every other unreadable record.
            let json = self.record_json(&rec, &format!("records[{i}]"))?;
            parsed.push(Subscription::from_record(&json));
        }
        // A malformed record fails alone, in its place; the others are added in one call.
        let mut subs = Vec::with_capacity(parsed.len());
        let mut rejected = Vec::with_capacity(parsed.len());
        for p in parsed {
            match p {
                Ok(s) => {
                    subs.push(s);
                    rejected.push(None);
                }
                Err(e) => rejected.push(Some(e)),
            }
        }
        let engine = &*self.inner;
        let mut added = py.detach(|| engine.add_many(subs)).into_iter();
        let outcomes: Vec<Result<Option<celmatch::Fired>, celmatch::Error>> = rejected
            .into_iter()
            .map(|r| match r {
                Some(e) => Err(e),
                None => added.next().expect("one result per subscription"),
            })
            .collect();
        let Some(index) = outcomes.iter().position(Result::is_err) else {
            return Ok(outcomes
                .into_iter()
                .map(|r| r.ok().flatten().map(Fired::from))
                .collect());
        };
        let mut results = Vec::with_capacity(outcomes.len());
        let mut first = None;
        for r in outcomes {
            match r {
                Ok(f) => results.push(f.map(Fired::from).into_pyobject(py)?.into_any()),
                Err(e) => {
                    let err = errors::from_core(&e);
                    results.push(err.value(py).clone().into_any());
                    first.get_or_insert(err);
                }
            }
        }
        Err(batch_error(py, index, first.expect("an error"), results))
    }

    /// remove(id) -> bool
    ///
    /// Removes a subscription. Returns whether it was there.
    #[pyo3(signature = (id, /))]
    fn remove(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        let engine = &*self.inner;
        py.detach(|| engine.remove(id)).map_err(|e| errors::from_core(&e))
    }

    /// remove_owner(owner) -> int
    ///
    /// Removes every subscription of an owner. Returns how many were removed.
    #[pyo3(signature = (owner, /))]
    fn remove_owner(&self, py: Python<'_>, owner: &str) -> PyResult<usize> {
        let engine = &*self.inner;
        py.detach(|| engine.remove_owner(owner)).map_err(|e| errors::from_core(&e))
    }

    /// process(event) -> list[Fired]
    ///
    /// Matches one event against every pending subscription and returns those it fired (they
    /// are removed). Runs without the GIL.
    ///
    /// Args:
    ///     event: a dict, or JSON text as str or bytes.
    ///
    /// Raises:
    ///     CelmatchError: ``invalid_event`` (not an object, no name, not JSON, a bad id or
    ///         time) or ``limit_exceeded`` (over ``max_event_bytes`` or ``max_event_depth``,
    ///         whether a dict or text). TypeError: ``event`` is of another type.
    #[pyo3(signature = (event, /))]
    fn process(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Vec<Fired>> {
        let input = event_input(event, &self.inner)?;
        let engine = &*self.inner;
        let result = py.detach(|| match &input {
            EventInput::Json(j) => engine.process(j),
            EventInput::Text(t) => engine.process_bytes(t),
        });
        match result {
            Ok(fired) => Ok(fired.into_iter().map(Fired::from).collect()),
            Err(e) => Err(errors::from_core(&e)),
        }
    }

    /// process_many(events) -> list[list[Fired]]
    ///
    /// Processes events in order (each a dict, str or bytes) and returns, per event, what it
    /// fired. Runs without the GIL.
    ///
    /// Raises:
    ///     CelmatchError: an event is invalid. The other events were still processed: the
    ///     exception's ``.index`` is the first bad event and ``.results`` lists every event's
    ///     outcome (its list of Fired, or an exception).
    #[pyo3(signature = (events, /))]
    fn process_many(&self, py: Python<'_>, events: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Fired>>> {
        if events.is_instance_of::<PyString>() || events.is_instance_of::<PyDict>() {
            return Err(PyTypeError::new_err(
                "events must be an iterable of events (dict, str or bytes)",
            ));
        }
        // A Python value of the wrong type is a TypeError for the whole call; an event that
        // converts but is invalid (too deep, say) fails alone, like an invalid JSON text.
        let mut inputs: Vec<Result<EventInput, PyErr>> = Vec::new();
        for ev in events.try_iter()? {
            match event_input(&ev?, &self.inner) {
                Err(e) if !e.is_instance_of::<CelmatchError>(py) => return Err(e),
                r => inputs.push(r),
            }
        }
        let engine = &*self.inner;
        let results: Vec<Result<Vec<celmatch::Fired>, PyErr>> = py.detach(|| {
            inputs
                .into_iter()
                .map(|i| match i {
                    Ok(EventInput::Json(j)) => engine.process(&j).map_err(|e| errors::from_core(&e)),
                    Ok(EventInput::Text(t)) => engine.process_bytes(&t).map_err(|e| errors::from_core(&e)),
                    Err(e) => Err(e),
                })
                .collect()
        });
        match results.iter().position(Result::is_err) {
            None => Ok(results
                .into_iter()
                .map(|r| r.unwrap_or_default().into_iter().map(Fired::from).collect())
                .collect()),
            Some(index) => {
                let mut outcomes = Vec::with_capacity(results.len());
                let mut first = None;
                for r in results {
                    match r {
                        Ok(f) => {
                            let fired: Vec<Fired> = f.into_iter().map(Fired::from).collect();
                            outcomes.push(fired.into_pyobject(py)?.into_any());
                        }
                        Err(err) => {
                            outcomes.push(err.value(py).clone().into_any());
                            first.get_or_insert(err);
                        }
                    }
                }
                Err(batch_error(py, index, first.expect("an error"), outcomes))
            }
        }
    }

    /// expire(now=None, limit=None) -> list[str]
    ///
    /// Removes and returns the ids of subscriptions whose deadline is at or before ``now`` (an
    /// aware ``datetime`` or epoch seconds; default: the current time), earliest first. With
    /// ``limit``, removes at most that many, so that a timer loop never holds the engine for
    /// long: call again while it returns ``limit`` ids.
    #[pyo3(signature = (now = None, limit = None))]
    fn expire(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>, limit: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
        let now = time::opt_instant_ms(now, "now")?;
        let limit = match limit {
            Some(l) if !l.is_none() => match extract_usize(l, "limit")? {
                0 => return Err(PyValueError::new_err("limit must be at least 1")),
                n => n,
            },
            _ => usize::MAX,
        };
        let engine = &*self.inner;
        py.detach(|| engine.expire_at_most(now, limit)).map_err(|e| errors::from_core(&e))
    }

    /// get(id) -> dict | None
    ///
    /// The pending subscription with this id, as a dict whose keys are ``add_wait`` /
    /// ``add_cancel`` arguments (``id``, ``event``, ``condition``, ``trigger``, ``owner``,
    /// ``deadline``, ``not_before``, ``exclude_event_id``) plus ``kind``. The trigger was bound
    /// into the condition when it was added: ``trigger`` holds just the fields the condition
    /// reads, and a timeout comes back as its ``deadline`` (an aware ``datetime``).
    #[pyo3(signature = (id, /))]
    fn get<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner.get(id).map(|s| subscription_dict(py, &s)).transpose()
    }

    /// subscriptions_of(owner) -> list[dict]
    ///
    /// The pending subscriptions of an owner (as ``get`` returns them), newest first.
    #[pyo3(signature = (owner, /))]
    fn subscriptions_of<'py>(&self, py: Python<'py>, owner: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner.subscriptions_of(owner).iter().map(|s| subscription_dict(py, s)).collect()
    }

    /// Whether a subscription with this id is pending.
    fn __contains__(&self, id: &str) -> bool {
        self.inner.contains(id)
    }

    /// Iterates over the pending subscriptions (as ``get`` returns them), a page at a time:
    /// the engine is never held for long, and subscriptions added or removed meanwhile may or
    /// may not be seen.
    fn __iter__(&self) -> Subscriptions {
        Subscriptions { engine: self.inner.clone(), cursor: Mutex::new((Some(0), Vec::new().into_iter())) }
    }

    /// key(expr, event) -> str | None
    ///
    /// Evaluates a key expression (``event`` is the incoming event here) and returns the key as
    /// a string, or ``None`` when the expression gives no key for this event.
    ///
    /// Raises:
    ///     CompileError: a bad expression. CelmatchError: a bad event.
    #[pyo3(signature = (expr, event, /))]
    fn key(&self, expr: &str, event: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        let event = event_json(event, &self.inner)?;
        self.inner
            .key(expr, &event)
            .map_err(|e| errors::from_core(&e))
    }

    /// route(routes, record) -> list[int] | None
    ///
    /// The slots (ascending) a subscription routes to under ``routes`` (``{"event name":
    /// "dotted.path"}``), or None for the broadcast set: its condition does not pin the routing
    /// path of its event name with ``==`` or ``in``. Slot = CRC16-XMODEM of the value's
    /// canonical bytes mod 16384, as Redis Cluster computes it (see the README).
    ///
    /// Raises:
    ///     CompileError: the condition does not compile.
    #[pyo3(signature = (routes, record, /))]
    fn route(&self, routes: &Bound<'_, PyAny>, record: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u16>>> {
        let routes = cluster::routes_arg(routes)?;
        let json = self.record_json(record, "record")?;
        let sub = Subscription::from_record(&json).map_err(|e| errors::from_core(&e))?;
        match self.inner.route(&routes, &sub).map_err(|e| errors::from_core(&e))? {
            celmatch::Route::Slots(s) => Ok(Some(s)),
            celmatch::Route::Broadcast => Ok(None),
        }
    }

    /// route_event(routes, event) -> list[int] | None
    ///
    /// The slot of an event (a one-element list), or None when only broadcast subscriptions
    /// can match it (no route for its name, or a list or object at the routing path).
    #[pyo3(signature = (routes, event, /))]
    fn route_event(&self, routes: &Bound<'_, PyAny>, event: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u16>>> {
        let routes = cluster::routes_arg(routes)?;
        let event = event_json(event, &self.inner)?;
        match self.inner.route_event(&routes, &event).map_err(|e| errors::from_core(&e))? {
            celmatch::Route::Slots(s) => Ok(Some(s)),
            celmatch::Route::Broadcast => Ok(None),
        }
    }

    /// claim(scope, key, ttl, now=None) -> bool
    ///
    /// Claims ``key`` within ``scope`` for ``ttl`` (seconds or ``timedelta``): True if it was
    /// free (or its earlier claim expired), False if someone holds it. ``now``: an aware
    /// ``datetime`` or epoch seconds (default: the current time).
    ///
    /// Raises:
    ///     CelmatchError: ``limit_exceeded`` when the claim table is full.
    #[pyo3(signature = (scope, key, ttl, now = None))]
    fn claim(
        &self,
        scope: &str,
        key: &str,
        ttl: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let ttl = time::duration_ms(ttl, "ttl")?;
        let now = time::opt_instant_ms(now, "now")?;
        self.inner
            .claim(scope, key, ttl, now)
            .map_err(|e| errors::from_core(&e))
    }

    /// explain(id, event=None) -> dict | None
    ///
    /// How a subscription is indexed, and with ``event`` (dict, str or bytes) why that event
    /// would or would not fire it. ``None`` if there is no such subscription.
    #[pyo3(signature = (id, event = None))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        event: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let event = match event {
            Some(e) if !e.is_none() => Some(event_json(e, &self.inner)?),
            _ => None,
        };
        match self.inner.explain(id, event.as_ref()) {
            Some(j) => Ok(Some(to_py(py, &j)?)),
            None => Ok(None),
        }
    }

    /// eval(expr, event, trigger=None, mode="condition") -> Any
    ///
    /// Evaluates one expression against one event and returns its value as a Python object
    /// (the CEL value rendered as JSON: int, float, str, bool, None, list, dict; timestamps as
    /// RFC 3339 strings, durations as ``"90s"``, bytes as base64). For testing and debugging.
    ///
    /// Args:
    ///     mode: ``"condition"``: ``async`` is ``event`` and ``event.*`` is bound from
    ///         ``trigger``; ``"key"``: ``event`` is the incoming event (key expressions).
    ///
    /// Raises:
    ///     CompileError: a bad expression. EvalError: evaluation failed (``.code`` e.g.
    ///     ``"no_such_key"``).
    #[pyo3(signature = (expr, event, trigger = None, mode = "condition"))]
    fn eval<'py>(
        &self,
        py: Python<'py>,
        expr: &str,
        event: &Bound<'py, PyAny>,
        trigger: Option<&Bound<'py, PyAny>>,
        mode: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let event = event_json(event, &self.inner)?;
        let trigger = match trigger {
            Some(t) if !t.is_none() => Some(to_json(t, "trigger", self.max_event_depth())?),
            _ => None,
        };
        let value = match mode {
            "condition" => self
                .inner
                .eval(expr, &event, trigger.as_ref())
                .map_err(|e| errors::from_core(&e))?,
            "key" => {
                if trigger.is_some() {
                    return Err(PyValueError::new_err("trigger is not used in key mode"));
                }
                let c = self
                    .inner
                    .compile_key(expr)
                    .map_err(|e| errors::from_compile(&e))?;
                c.eval(&event).map_err(|e| errors::from_eval(&e))?
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "mode must be \"condition\" or \"key\", not {other:?}"
                )))
            }
        };
        to_py(py, &value)
    }

    /// stats() -> dict
    ///
    /// Counters and sizes: subscriptions, shapes, index sizes, events processed, ….
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.stats().to_json())
    }

    /// The number of pending subscriptions.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(dialect={}, subscriptions={})",
            py_str(self.dialect()),
            self.inner.len()
        )
    }
}

/// The iterator of ``iter(engine)``.
#[pyclass(frozen, module = "celmatch")]
pub struct Subscriptions {
    engine: Arc<celmatch::Engine>,
    /// The next page's cursor (`None` at the end) and what is left of the current page.
    cursor: Mutex<(Option<usize>, std::vec::IntoIter<Subscription>)>,
}

/// Subscriptions are fetched this many at a time.
const PAGE: usize = 1024;

#[pymethods]
impl Subscriptions {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let mut guard = self.cursor.lock().map_err(|_| PyValueError::new_err("iterator poisoned"))?;
        let (cursor, page) = &mut *guard;
        loop {
            if let Some(s) = page.next() {
                return subscription_dict(py, &s).map(Some);
            }
            let Some(at) = *cursor else { return Ok(None) };
            let (subs, next) = self.engine.subscriptions_page(at, PAGE);
            *cursor = next;
            *page = subs.into_iter();
        }
    }
}

/// A subscription as a dict of `add_wait` / `add_cancel` arguments.
fn subscription_dict<'py>(py: Python<'py>, s: &Subscription) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", &s.id)?;
    d.set_item("kind", s.kind.as_str())?;
    d.set_item("event", &s.event)?;
    d.set_item("condition", &s.condition)?;
    d.set_item("trigger", s.trigger.as_ref().map(|t| to_py(py, t)).transpose()?)?;
    d.set_item("owner", &s.owner)?;
    d.set_item("deadline", s.deadline_ms.map(|ms| time::datetime_from_ms(py, ms)).transpose()?)?;
    d.set_item("not_before", s.not_before_ms.map(|ms| time::datetime_from_ms(py, ms)).transpose()?)?;
    d.set_item("exclude_event_id", &s.exclude_event_id)?;
    Ok(d)
}

/// celmatch: match events against many pending CEL conditions at once.
#[pymodule]
fn _celmatch(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Engine>()?;
    m.add_class::<Compiled>()?;
    m.add_class::<Fired>()?;
    m.add_class::<ManualClock>()?;
    m.add_class::<Subscriptions>()?;
    m.add_class::<cluster::Cluster>()?;
    m.add("CelmatchError", py.get_type::<CelmatchError>())?;
    m.add("ConfigError", errors::config_error_type(py)?)?;
    m.add("CompileError", py.get_type::<CompileError>())?;
    m.add("EvalError", py.get_type::<EvalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
