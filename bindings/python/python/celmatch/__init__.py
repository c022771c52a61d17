"""celmatch: match events against many pending CEL conditions at once.

Subscriptions (waits and cancels) carry a CEL condition over ``async`` (the incoming event)
and ``event`` (the trigger that created them). The :class:`Engine` indexes them, so one
``process(event)`` call finds the subscriptions an event fires among millions without
evaluating every condition.

    >>> from celmatch import Engine
    >>> eng = Engine()
    >>> eng.add_wait("w1", "app/paid", 'async.data.order == event.data.order',
    ...              trigger={"name": "app/ordered", "data": {"order": "o-1"}})
    >>> eng.process({"name": "app/paid", "data": {"order": "o-1"}})
    [Fired(id='w1', kind='wait', owner=None)]

The engine is implemented in Rust (``celmatch._celmatch``); matching runs without the GIL.
"""

from celmatch._celmatch import (
    CelmatchError,
    Cluster,
    Compiled,
    ConfigError,
    CompileError,
    Engine,
    EvalError,
    Fired,
    ManualClock,
    Subscriptions,
    __version__,
)

__all__ = [
    "CelmatchError",
    "Cluster",
    "Compiled",
    "CompileError",
    "ConfigError",
    "Engine",
    "EvalError",
    "Fired",
    "ManualClock",
    "Subscriptions",
    "__version__",
]
