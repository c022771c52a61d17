"""Type stubs for celmatch (implemented in the Rust extension ``celmatch._celmatch``)."""

import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Optional, TypedDict, Union, final

__version__: str
__all__ = ["CelmatchError", "Cluster", "Compiled", "CompileError", "ConfigError", "Engine", "EvalError", "Fired", "ManualClock", "Subscriptions", "__version__"]

_JSON = Any
"""A _JSON-compatible value: dict (str keys), list, tuple, str, int, float, bool or None."""

_Event = Union[Mapping[str, _JSON], str, bytes, bytearray]
"""An event: a dict, or its _JSON text as str or bytes."""

_Seconds = Union[int, float, timedelta]
"""A duration: seconds, or a timedelta."""

_Instant = Union[datetime, int, float]
"""An instant: a timezone-aware datetime, or epoch seconds."""

class _LookbackConfig(TypedDict, total=False):
    max_age: Union[_Seconds, str]
    max_events: int
    max_bytes: int

class _LimitsConfig(TypedDict, total=False):
    max_expr_bytes: int
    max_depth: int
    max_conjunctions: int
    max_event_bytes: int
    max_event_depth: int

class _EventFieldsConfig(TypedDict, total=False):
    name: str
    id: str
    time: str

class _SubscriptionDict(TypedDict):
    """A pending subscription as ``Engine.get`` returns it: ``add_wait`` / ``add_cancel``
    arguments plus ``kind``."""

    id: str
    kind: Literal["wait", "cancel"]
    event: str
    condition: Optional[str]
    trigger: Optional[dict[str, _JSON]]
    owner: Optional[str]
    deadline: Optional[datetime]
    not_before: Optional[datetime]
    exclude_event_id: Optional[str]

@final
class Subscriptions:
    """The iterator of ``iter(engine)``: pending subscriptions, a page at a time."""

    def __iter__(self) -> Subscriptions: ...
    def __next__(self) -> _SubscriptionDict: ...

class CelmatchError(ValueError):
    """Base class of celmatch errors. ``.code`` is the stable, machine-readable code (for
    example ``"invalid_event"``, ``"id_conflict"``, ``"limit_exceeded"``)."""

    code: str
    """The stable error code."""
    message: str
    """The message without the code."""
    index: int
    """Batch calls only (``add_many``, ``process_many``): the position of the first failing item."""
    results: list[Any]
    """Batch calls whose items were partly applied: every item's outcome (result or exception)."""

class CompileError(CelmatchError):
    """An expression could not be compiled. ``.code`` (e.g. ``"parse_error"``,
    ``"unknown_variable"``), ``.line`` and ``.column`` (1-based) and ``.span`` (a
    ``(start, end)`` byte range) say what and where."""

    line: Optional[int]
    """1-based line of the error's start."""
    column: Optional[int]
    """1-based column (in characters) of the error's start."""
    span: Optional[tuple[int, int]]
    """``(start, end)`` byte offsets in the expression."""

class ConfigError(CelmatchError, TypeError):
    """The engine configuration (the keyword arguments of ``Engine`` and ``Engine.open``) is
    invalid: an unknown key (the message names it, with the closest known one: ``unknown key
    "max_event" in lookback; did you mean "max_events"?``), or a value of the wrong type or
    range. ``.code`` is ``"invalid_config"``. Both a ``CelmatchError`` (so a ``ValueError``)
    and a ``TypeError``, like an unexpected keyword argument."""

class EvalError(CelmatchError):
    """Evaluating an expression against an event failed (``Engine.eval``, ``Engine.key``).
    ``.code`` is e.g. ``"no_such_key"``, ``"no_such_overload"``, ``"division_by_zero"``."""

@final
class Fired:
    """A subscription that an event (or a buffered event, at add time) fired.

    Fired values compare equal when id, kind and owner are equal, and are hashable."""

    def __new__(cls, id: str, kind: Literal["wait", "cancel"] = "wait", owner: Optional[str] = None) -> Fired:
        """Builds a Fired value (the engine makes these; constructing one is useful in tests)."""
    @property
    def id(self) -> str:
        """The subscription id."""
    @property
    def kind(self) -> Literal["wait", "cancel"]:
        """``"wait"`` or ``"cancel"``."""
    @property
    def owner(self) -> Optional[str]:
        """The subscription's owner, or ``None``."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __repr__(self) -> str: ...

@final
class Compiled:
    """A compiled condition, as returned by ``Engine.compile``."""

    @property
    def shape(self) -> str:
        """The expression's shape: literals shown as ``$0``, ``$1``, …."""
    @property
    def params(self) -> list[_JSON]:
        """The lifted literal values, in ``$i`` order."""
    @property
    def conjunctions(self) -> Optional[list[str]]:
        """The indexed conjunctions, or ``None`` when the condition is verified whole."""
    def __repr__(self) -> str: ...

@final
class ManualClock:
    """A clock that moves only when told to, for tests and deterministic replays. Give it to
    ``Engine(clock=...)``: timeouts, lookback windows, expiry and claims then use its time.
    Thread-safe."""

    def __new__(cls, now: _Instant, /) -> ManualClock:
        """Starts the clock at ``now`` (an aware ``datetime`` or epoch seconds)."""
    @property
    def now(self) -> float:
        """The clock's time, in epoch seconds (millisecond resolution)."""
    def set(self, now: _Instant, /) -> None:
        """Sets the time. It may go backwards."""
    def advance(self, by: _Seconds, /) -> None:
        """Moves the time by ``by`` seconds (may be negative) or a ``timedelta``."""
    def __repr__(self) -> str: ...

@final
class Engine:
    """The matching engine: holds pending subscriptions (waits and cancels) with CEL
    conditions and tells, for each incoming event, which of them it fires. Thread-safe: share
    one Engine between threads; matching and loading run without the GIL."""

    def __new__(
        cls,
        dialect: Literal["strict", "lenient"] = "strict",
        *,
        lookback: Optional[_LookbackConfig] = None,
        limits: Optional[_LimitsConfig] = None,
        event_fields: Union[_EventFieldsConfig, Literal["inngest", "cloudevents"], None] = None,
        cancel_removes_owner: bool = False,
        max_claims: Optional[int] = None,
        clock: Optional[ManualClock] = None,
    ) -> Engine:
        """Creates an engine.

        Args:
            dialect: ``"strict"`` (CEL as specified) or ``"lenient"`` (missing fields are
                null, numbers mix, ``+`` with a string concatenates).
            lookback: the event buffer that ``add_wait(..., lookback=...)`` searches, per event
                name: ``dict(max_age=seconds | timedelta | "5m", max_events=int, max_bytes=int)``.
                Omitted keys default to 5 minutes, 10,000 events and 16 MiB; ``None`` (the
                default) or ``max_events=0`` turns the buffer off.
            limits: overrides of the input limits.
            event_fields: where events carry their name, id and time (defaults ``"name"``,
                ``"id"``, ``"ts"``), or ``"cloudevents"`` for ``type``/``id``/``time``.
            cancel_removes_owner: when a cancel fires, also remove its owner's other
                subscriptions.
            max_claims: most ``claim`` keys held at once (default 10,000,000).
            clock: a ``ManualClock`` to use instead of the system clock.

        The settings are read by the core, as in every binding (one set of defaults and
        checks); only ``max_age`` is converted first (Python durations are seconds or a
        ``timedelta``, or a string such as ``"5m"``).

        Raises:
            ConfigError: an unknown dialect, key or value (``invalid_config``, naming the key
                and, for a typo, the closest known one). It is a ``ValueError`` and a
                ``TypeError``.
            TypeError: ``dialect`` or ``cancel_removes_owner`` of the wrong type.
        """
    @property
    def dialect(self) -> Literal["strict", "lenient"]:
        """The dialect: ``"strict"`` or ``"lenient"``."""
    def compile(self, expr: str, /) -> Compiled:
        """Compiles a condition over ``async`` (the incoming event) without adding anything.

        Raises:
            CompileError: the expression is not valid or not supported.
        """
    def add_wait(
        self,
        id: str,
        event: str,
        condition: Optional[str] = None,
        *,
        trigger: Optional[Mapping[str, _JSON]] = None,
        owner: Optional[str] = None,
        timeout: Optional[_Seconds] = None,
        deadline: Optional[_Instant] = None,
        lookback: Union[bool, _Seconds, None] = False,
    ) -> Optional[Fired]:
        """Adds a wait: fires once, for the first event named ``event`` whose ``condition``
        is true, and is then removed.

        Args:
            id: unique subscription id.
            event: the event name to wait for.
            condition: CEL over ``async`` (the incoming event) and ``event`` (the trigger).
            trigger: the triggering event; ``event.*`` in the condition is bound from it.
            owner: an owner id (e.g. a workflow run), for ``remove_owner``.
            timeout: seconds or ``timedelta`` from now until the wait expires.
            deadline: when it expires: an aware ``datetime`` or epoch seconds.
            lookback: also test buffered past events: ``True`` for the engine's configured
                window, or a window in seconds / ``timedelta``.

        Returns:
            the Fired value if a buffered event fired the wait at once (it is then not
            added), else ``None``.

        Raises:
            CompileError: a bad condition.
            CelmatchError: ``id_conflict``, ``invalid_subscription``, ``limit_exceeded``.
        """
    def add_cancel(
        self,
        id: str,
        event: str,
        condition: Optional[str] = None,
        *,
        trigger: Optional[Mapping[str, _JSON]] = None,
        owner: Optional[str] = None,
        timeout: Optional[_Seconds] = None,
        deadline: Optional[_Instant] = None,
        not_before: Optional[_Instant] = None,
    ) -> None:
        """Adds a cancel: like a wait but reported with ``kind == "cancel"``; with
        ``cancel_removes_owner=True`` firing it also removes the owner's other subscriptions.

        Args:
            not_before: events whose time is earlier do not fire it.
            (the others as for ``add_wait``)

        Raises:
            CompileError: a bad condition.
            CelmatchError: ``id_conflict``, ``invalid_subscription``, ``limit_exceeded``.
        """
    def add_many(self, records: Iterable[Union[Mapping[str, _JSON], _JSON]], /) -> list[Optional[Fired]]:
        """Adds many subscriptions at once (records with the keys of the CLI's NDJSON lines:
        ``id``, ``kind``, ``event``, ``if`` or ``condition``, ``trigger``, ``owner``,
        ``deadline``, ``not_before``, ``timeout``, ``lookback``, ``exclude_event_id``), in
        Python's units: instants as aware datetimes or epoch seconds, durations as seconds or
        timedeltas (strings like ``"30m"`` and RFC 3339 times work too). What ``get`` returns
        is such a record. An unknown key is ``invalid_subscription``, never ignored.

        Returns:
            per record, the Fired value of a wait that fired from lookback, else None.

        Raises:
            CelmatchError: a record was malformed or could not be added. It failed alone (the
                others were added); ``.index`` is its position and ``.results`` every record's
                outcome.
            TypeError: ``records`` is not an iterable, or a record holds a value that is not
                _JSON-compatible (nothing added). A record that is _JSON but not an object fails
                alone with ``invalid_subscription``.
        """
    def remove(self, id: str, /) -> bool:
        """Removes a subscription. Returns whether it was there."""
    def remove_owner(self, owner: str, /) -> int:
        """Removes every subscription of an owner. Returns how many were removed."""
    def process(self, event: _Event, /) -> list[Fired]:
        """Matches one event against every pending subscription and returns those it fired
        (they are removed). Runs without the GIL.

        Raises:
            CelmatchError: ``invalid_event``, or ``limit_exceeded`` (over ``max_event_bytes``
                or ``max_event_depth``, whether the event is a dict or text).
            TypeError: ``event`` is not a dict, str or bytes.
        """
    def process_many(self, events: Iterable[_Event], /) -> list[list[Fired]]:
        """Processes events in order; returns, per event, what it fired.

        Raises:
            CelmatchError: an event is invalid (the others were processed; ``.index`` and
                ``.results`` set).
        """
    def expire(self, now: Optional[_Instant] = None, limit: Optional[int] = None) -> list[str]:
        """Removes and returns the ids of subscriptions whose deadline is at or before
        ``now`` (default: the current time), earliest first. With ``limit``, removes at most
        that many: call again while it returns ``limit`` ids."""
    @staticmethod
    def open(
        path: Union[str, "os.PathLike[str]"],
        dialect: Literal["strict", "lenient"] = "strict",
        *,
        durability: Literal["process", "power"] = "process",
        lookback: Optional[_LookbackConfig] = None,
        limits: Optional[_LimitsConfig] = None,
        event_fields: Union[_EventFieldsConfig, Literal["inngest", "cloudevents"], None] = None,
        cancel_removes_owner: bool = False,
        max_claims: Optional[int] = None,
        clock: Optional[ManualClock] = None,
    ) -> Engine:
        """A durable engine whose state lives in the SQLite store at ``path`` (created if
        absent): every call that changes something returns only after it is committed.
        ``durability="process"`` survives a killed process; ``"power"`` survives power loss
        too. Use it as a context manager, or call ``close()``, to release the store.

        Raises:
            ConfigError: an invalid setting, as for ``Engine(...)``, or a ``durability`` other
                than ``"process"`` or ``"power"``.
            CelmatchError: ``corrupt_store``, ``incompatible_store``, ``store_locked`` or
                ``io_error``.
        """
    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the engine's state to a new store at ``path``, atomically."""
    def close(self) -> None:
        """Closes the engine (a durable one releases its store); later calls that change or
        match anything raise ``engine_closed``."""
    def __enter__(self) -> Engine: ...
    def __exit__(self, *args: object) -> bool: ...
    @property
    def durable(self) -> bool:
        """Whether this engine keeps its state in a store (``Engine.open``)."""
    def get(self, id: str, /) -> Optional[_SubscriptionDict]:
        """The pending subscription with this id, or None. The trigger was bound into the
        condition when it was added: ``trigger`` holds just the fields the condition reads,
        and a timeout comes back as its ``deadline``."""
    def subscriptions_of(self, owner: str, /) -> list[_SubscriptionDict]:
        """The pending subscriptions of an owner, newest first."""
    def __contains__(self, id: object, /) -> bool:
        """Whether a subscription with this id is pending."""
    def __iter__(self) -> Subscriptions:
        """The pending subscriptions, a page at a time (the engine is never held for long)."""
    def key(self, expr: str, event: _Event, /) -> Optional[str]:
        """Evaluates a key expression (``event`` is the incoming event) to a string key, or
        ``None`` when it gives no key for this event.

        Raises:
            CompileError: a bad expression.
            CelmatchError: a bad event.
        """
    def claim(self, scope: str, key: str, ttl: _Seconds, now: Optional[_Instant] = None) -> bool:
        """Claims ``key`` within ``scope`` for ``ttl``: True if it was free (or its earlier
        claim expired), False if someone holds it.

        Raises:
            CelmatchError: ``limit_exceeded`` when the claim table is full.
        """
    def route(self, routes: Mapping[str, str], record: Mapping[str, _JSON], /) -> Optional[list[int]]:
        """The slots (ascending) a subscription routes to under ``routes`` (``{"event name":
        "dotted.path"}``), or ``None`` for the broadcast set (its condition does not pin the
        routing path with ``==`` or ``in``).

        Raises:
            CompileError: the condition does not compile.
        """
    def route_event(self, routes: Mapping[str, str], event: _Event, /) -> Optional[list[int]]:
        """The slot of an event (a one-element list), or ``None`` when only broadcast
        subscriptions can match it."""
    def explain(self, id: str, event: Optional[_Event] = None) -> Optional[dict[str, Any]]:
        """How a subscription is indexed, and with ``event`` why that event would or would
        not fire it. ``None`` if there is no such subscription."""
    def eval(
        self,
        expr: str,
        event: _Event,
        trigger: Optional[Mapping[str, _JSON]] = None,
        mode: Literal["condition", "key"] = "condition",
    ) -> _JSON:
        """Evaluates one expression against one event and returns its value (the CEL value
        rendered as _JSON). ``mode="condition"``: ``async`` is ``event``, ``event.*`` is bound
        from ``trigger``; ``mode="key"``: ``event`` is the incoming event.

        Raises:
            CompileError: a bad expression.
            EvalError: evaluation failed.
        """
    def stats(self) -> dict[str, Any]:
        """Counters and sizes: subscriptions, shapes, index sizes, events processed, …."""
    def __len__(self) -> int:
        """The number of pending subscriptions."""
    def __repr__(self) -> str: ...

class _Outcome(TypedDict):
    id: str
    outcome: Literal["fired", "expired"]
    event: str
    worker: str
    record: dict[str, Any]
    entry: str

@final
class Cluster:
    """A client of a cluster of celmatch workers on Redis (``celmatch worker --redis URL``)."""

    def __new__(
        cls,
        url: str,
        /,
        *,
        prefix: str = "celmatch",
        ranges: Optional[int] = None,
        routes: Optional[Mapping[str, str]] = None,
    ) -> Cluster:
        """Connects: ``redis://host:port/`` or ``redis+cluster://host:port,host:port``.
        ``ranges`` and ``routes`` are fixed by the first to connect, which must give
        ``routes`` (``{}`` is fine).

        Raises:
            CelmatchError: ``redis_error``, ``invalid_argument``.
        """
    @property
    def ranges(self) -> int:
        """The number of slot ranges."""
    def add(self, record: Mapping[str, _JSON], /) -> bool:
        """Registers a subscription (an ``add_many`` record); False if the same one was there.

        Raises:
            CompileError: the condition does not compile.
            CelmatchError: ``id_conflict``, ``invalid_subscription``, ``redis_error``.
        """
    def remove(self, id: str, /) -> bool:
        """Removes a subscription; False if it is not registered (any more)."""
    def publish(self, event: Mapping[str, _JSON], /) -> str:
        """Publishes an event to its slot's range; returns the stream entry id."""
    def outcomes(self) -> list[_Outcome]:
        """Everything that fired or expired so far (and is not trimmed)."""
    def read_outcomes(self, cursor: str = "", count: int = 1000) -> tuple[list[_Outcome], str]:
        """The outcomes after ``cursor`` (at most ``count`` per stream) and the next cursor."""
    def trim_outcomes(self, cursor: str, /) -> int:
        """Deletes the outcomes up to ``cursor``; returns how many."""
    def stats(self) -> dict[str, Any]:
        """Subscriptions, broadcast, events, pending, outcomes, workers, per range."""
    def claim(self, scope: str, key: str, ttl: _Seconds) -> bool:
        """Takes ``key`` in ``scope`` for ``ttl`` (``SET NX PX``): True for the first caller."""
    def __repr__(self) -> str: ...
