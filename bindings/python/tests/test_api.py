"""Python-specific behaviour: types, conversions, errors, times, event formats."""

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

import celmatch
from celmatch import CelmatchError, Compiled, CompileError, ConfigError, Engine, EvalError, Fired, ManualClock

NAME = "app/paid"


def ev(order="o-1", **extra):
    return {"name": NAME, "data": {"order": order, **extra}}


# --- module surface --------------------------------------------------------------------------


def test_exports():
    for name in ("Engine", "CompileError", "CelmatchError", "EvalError", "Fired", "Compiled", "ManualClock"):
        assert hasattr(celmatch, name)
        assert name in celmatch.__all__
    assert isinstance(celmatch.__version__, str) and celmatch.__version__


def test_docstrings_everywhere():
    for cls in (CelmatchError, CompileError, EvalError):
        assert cls.__doc__, cls
    for cls in (Engine, Fired, Compiled, ManualClock):
        assert cls.__doc__, cls
        for name in dir(cls):
            if name.startswith("_") and name not in ("__len__",):
                continue
            attr = getattr(cls, name)
            assert attr.__doc__, f"{cls.__name__}.{name} has no docstring"
    assert celmatch.__doc__


def test_stub_matches_runtime():
    """Every public Engine method in the .pyi exists at runtime, and vice versa."""
    import ast
    from pathlib import Path

    stub = Path(celmatch.__file__).with_name("__init__.pyi")
    tree = ast.parse(stub.read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for cls in (Engine, Fired, Compiled, ManualClock):
        stub_names = {
            n.name for n in classes[cls.__name__].body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
        }
        runtime = {n for n in dir(cls) if not n.startswith("_")}
        assert stub_names == runtime, cls


def test_exception_hierarchy():
    assert issubclass(CelmatchError, ValueError)
    assert issubclass(CompileError, CelmatchError)
    assert issubclass(EvalError, CelmatchError)
    assert CompileError.__module__ == "celmatch"


def test_engine_repr_and_len(eng):
    assert len(eng) == 0
    eng.add_wait("w1", NAME)
    assert len(eng) == 1
    assert repr(eng) == "Engine(dialect='strict', subscriptions=1)"
    assert eng.dialect == "strict"
    assert Engine("lenient").dialect == "lenient"
    assert Engine(dialect="lenient").dialect == "lenient"


# --- Fired -----------------------------------------------------------------------------------


def test_fired_value_semantics(eng):
    eng.add_wait("w1", NAME, 'async.data.order == "o-1"', owner="run-1")
    eng.add_cancel("c1", NAME, owner="run-2")
    fired = eng.process(ev())
    assert fired == [Fired("w1", "wait", "run-1"), Fired("c1", "cancel", "run-2")]
    w, c = fired
    assert (w.id, w.kind, w.owner) == ("w1", "wait", "run-1")
    assert c.kind == "cancel"
    assert repr(w) == "Fired(id='w1', kind='wait', owner='run-1')"
    assert repr(Fired("x")) == "Fired(id='x', kind='wait', owner=None)"
    assert hash(w) == hash(Fired("w1", "wait", "run-1"))
    assert len({w, Fired("w1", "wait", "run-1")}) == 1
    assert w != Fired("w1", "wait")
    assert w != "w1"
    with pytest.raises(ValueError):
        Fired("x", "other")
    with pytest.raises(AttributeError):
        w.id = "y"


# --- compile ---------------------------------------------------------------------------------


def test_compile_shape_params():
    eng = Engine()
    c = eng.compile('async.data.order == "o-1" && async.data.amount > 10')
    assert isinstance(c, Compiled)
    assert "$0" in c.shape and "$1" in c.shape
    assert sorted(map(str, c.params)) == ["10", "o-1"]
    assert c.conjunctions is None or all(isinstance(s, str) for s in c.conjunctions)
    assert repr(c).startswith("Compiled(shape=")
    # Same shape, different literals.
    assert eng.compile('async.data.order == "o-2" && async.data.amount > 99').shape == c.shape


def test_compile_error_details():
    eng = Engine()
    with pytest.raises(CompileError) as ei:
        eng.compile("async.data.x ==\n  (1 +")
    e = ei.value
    assert e.code == "parse_error"
    assert isinstance(e, ValueError) and isinstance(e, CelmatchError)
    assert e.line == 2
    assert e.column >= 1
    assert isinstance(e.span, tuple) and len(e.span) == 2 and e.span[0] <= e.span[1]
    assert str(e).startswith("parse_error at 2:")
    assert e.message and "parse_error" not in e.message


@pytest.mark.parametrize(
    "expr,code",
    [
        ("foo.bar == 1", "unknown_variable"),
        ("nosuchfn(async.x)", "unknown_function"),
        ("event.data.x == 1", "unknown_variable"),
        ("x" * 20000, "too_long"),
        ("(" * 500 + "1" + ")" * 500, "too_deep"),
    ],
)
def test_compile_error_codes(expr, code):
    with pytest.raises(CompileError) as ei:
        Engine().compile(expr)
    assert ei.value.code == code


def test_add_compile_error_has_location(eng):
    with pytest.raises(CompileError) as ei:
        eng.add_wait("w1", NAME, "async.data.x == ")
    assert ei.value.code == "parse_error"
    assert ei.value.line == 1 and ei.value.column >= 1
    assert len(eng) == 0


def test_missing_trigger_field():
    eng = Engine()
    with pytest.raises(CompileError) as ei:
        eng.add_wait("w1", NAME, "async.data.order == event.data.nope", trigger={"name": "t", "data": {}})
    assert ei.value.code == "missing_trigger_field"


def test_constant_conditions(eng):
    with pytest.raises(CompileError) as ei:
        eng.add_wait("w1", NAME, "1 == 2")
    assert ei.value.code == "never_matches"
    with pytest.raises(CompileError) as ei:
        eng.add_wait("w1", NAME, "1 + 2")
    assert ei.value.code == "not_boolean"


# --- subscription lifecycle ------------------------------------------------------------------


def test_wait_fires_once(eng):
    assert eng.add_wait("w1", NAME, 'async.data.order == "o-1"') is None
    assert eng.process(ev("o-2")) == []
    assert eng.process(ev("o-1")) == [Fired("w1")]
    assert eng.process(ev("o-1")) == []
    assert len(eng) == 0


def test_trigger_binding(eng):
    trigger = {"name": "app/ordered", "data": {"order": "o-7"}}
    eng.add_wait("w1", NAME, "async.data.order == event.data.order", trigger=trigger)
    assert eng.process(ev("o-1")) == []
    assert eng.process(ev("o-7")) == [Fired("w1")]


def test_remove_and_remove_owner(eng):
    eng.add_wait("a", NAME, owner="r1")
    eng.add_wait("b", NAME, owner="r1")
    eng.add_cancel("c", NAME, owner="r2")
    assert eng.remove("a") is True
    assert eng.remove("a") is False
    assert eng.remove_owner("r1") == 1
    assert eng.remove_owner("nobody") == 0
    assert len(eng) == 1


def test_id_conflict(eng):
    eng.add_wait("w1", NAME, 'async.data.order == "a"')
    eng.add_wait("w1", NAME, 'async.data.order == "a"')  # identical: no-op
    with pytest.raises(CelmatchError) as ei:
        eng.add_wait("w1", NAME, 'async.data.order == "b"')
    assert ei.value.code == "id_conflict"
    assert not isinstance(ei.value, CompileError)
    assert str(ei.value).startswith("id_conflict: ")


def test_cancel_removes_owner():
    eng = Engine(cancel_removes_owner=True)
    eng.add_wait("w1", "app/other", owner="run-1")
    eng.add_cancel("c1", "app/cancel", owner="run-1")
    eng.add_wait("w2", "app/other", owner="run-2")
    assert eng.process({"name": "app/cancel"}) == [Fired("c1", "cancel", "run-1")]
    assert len(eng) == 1
    assert eng.process({"name": "app/other"}) == [Fired("w2", "wait", "run-2")]


def test_invalid_subscription(eng):
    with pytest.raises(CelmatchError) as ei:
        eng.add_wait("", NAME)
    assert ei.value.code == "invalid_subscription"


# --- add_many --------------------------------------------------------------------------------


def test_add_many_records(eng):
    records = [
        {"id": "w1", "event": NAME, "if": 'async.data.order == "o-1"'},
        {"id": "c1", "kind": "cancel", "event": NAME, "owner": "r", "timeout": "30m"},
        {"id": "w2", "event": NAME, "if": "async.data.order == event.data.order", "trigger": {"data": {"order": "o-2"}}},
    ]
    assert eng.add_many(records) == [None, None, None]
    assert len(eng) == 3
    assert eng.process(ev("o-2")) == [Fired("c1", "cancel", "r"), Fired("w2")]
    assert eng.add_many(iter([])) == []
    assert eng.add_many(r for r in [{"id": "g", "event": NAME}]) == [None]


def test_add_many_malformed_record_fails_alone(eng):
    with pytest.raises(CelmatchError) as ei:
        eng.add_many([{"id": "ok", "event": NAME}, {"id": "bad"}, {"id": "ok2", "event": NAME, "timeout": "soon"}])
    e = ei.value
    assert e.code == "invalid_subscription" and e.index == 1
    assert e.results[0] is None
    assert [r.code for r in e.results[1:]] == ["invalid_subscription", "invalid_subscription"]
    assert len(eng) == 1


def test_add_many_type_error_adds_nothing(eng):
    with pytest.raises(TypeError):
        eng.add_many([{"id": "ok", "event": NAME}, {"id": "x", "event": NAME, "trigger": {"when": object()}}])
    assert len(eng) == 0


def test_add_many_partial_failure(eng):
    eng.add_wait("taken", NAME, 'async.data.order == "x"')
    with pytest.raises(CelmatchError) as ei:
        eng.add_many(
            [
                {"id": "a", "event": NAME},
                {"id": "taken", "event": NAME, "if": 'async.data.order == "y"'},
                {"id": "b", "event": NAME, "if": "async.data. =="},
            ]
        )
    e = ei.value
    assert e.code == "id_conflict" and e.index == 1
    assert e.results[0] is None
    assert isinstance(e.results[1], CelmatchError) and e.results[1].code == "id_conflict"
    assert isinstance(e.results[2], CompileError) and e.results[2].code == "parse_error"
    assert len(eng) == 2  # "taken" and "a"


def test_add_many_types(eng):
    with pytest.raises(CelmatchError) as ei:
        eng.add_many([1, ["x"], {"id": "ok", "event": NAME}])
    assert [getattr(r, "code", r) for r in ei.value.results] == ["invalid_subscription", "invalid_subscription", None]
    assert len(eng) == 1
    with pytest.raises(TypeError):
        eng.add_many({"id": "x", "event": NAME})
    with pytest.raises(TypeError):
        eng.add_many(5)


# --- events: dict, str, bytes ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "str", "bytes", "bytearray"])
def test_event_forms(eng, form):
    eng.add_wait("w1", NAME, 'async.data.order == "o-1" && async.data.n == 2')
    e = ev("o-1", n=2)
    arg = {
        "dict": e,
        "str": json.dumps(e),
        "bytes": json.dumps(e).encode(),
        "bytearray": bytearray(json.dumps(e).encode()),
    }[form]
    assert eng.process(arg) == [Fired("w1")]


def test_process_many(eng):
    eng.add_wait("w1", NAME, 'async.data.order == "a"')
    eng.add_wait("w2", NAME, 'async.data.order == "b"')
    assert eng.process_many([ev("a"), json.dumps(ev("x")), json.dumps(ev("b")).encode()]) == [
        [Fired("w1")],
        [],
        [Fired("w2")],
    ]
    assert eng.process_many([]) == []


def test_process_many_an_event_too_deep_fails_alone(eng):
    eng.add_wait("w1", NAME, 'async.data.order == "a"')
    deep = {"name": NAME, "data": {}}
    node = deep["data"]
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(CelmatchError) as ei:
        eng.process_many([deep, ev("a")])
    assert ei.value.code == "limit_exceeded" and ei.value.index == 0
    assert ei.value.results[1] == [Fired("w1")], "the event after the bad one was processed"
    with pytest.raises(TypeError):
        eng.process_many([ev("a"), 42])


def test_process_many_partial_failure(eng):
    eng.add_wait("w1", NAME, 'async.data.order == "a"')
    with pytest.raises(CelmatchError) as ei:
        eng.process_many([{"nameless": 1}, ev("a")])
    e = ei.value
    assert e.code == "invalid_event" and e.index == 0
    assert isinstance(e.results[0], CelmatchError)
    assert e.results[1] == [Fired("w1")]
    assert len(eng) == 0


@pytest.mark.parametrize(
    "bad,code",
    [
        ({"data": {}}, "invalid_event"),  # no name
        ('{"name": "x"', "invalid_event"),  # not JSON
        (b"[1, 2]", "invalid_event"),  # not an object
        ("[" * 100 + "]" * 100, "limit_exceeded"),  # too deep as text
    ],
)
def test_bad_events(eng, bad, code):
    with pytest.raises(CelmatchError) as ei:
        eng.process(bad)
    assert ei.value.code == code


def test_event_type_errors(eng):
    for bad in (1, None, [ev()], 1.5, object()):
        with pytest.raises(TypeError):
            eng.process(bad)
    with pytest.raises(TypeError):
        eng.process({"name": NAME, "data": {1: "int key"}})
    with pytest.raises(TypeError):
        eng.process({"name": NAME, "data": {"when": datetime.now()}})
    with pytest.raises(TypeError):
        eng.process({"name": NAME, "data": {"s": {1, 2}}})


def test_nonfinite_floats_rejected(eng):
    with pytest.raises(ValueError):
        eng.process({"name": NAME, "data": {"x": math.nan}})
    with pytest.raises(ValueError):
        eng.process({"name": NAME, "data": {"x": math.inf}})


def test_deep_and_cyclic_dicts(eng):
    deep = {"name": NAME}
    cur = deep
    for _ in range(200):
        cur["d"] = {}
        cur = cur["d"]
    with pytest.raises(CelmatchError) as ei:
        eng.process(deep)
    assert ei.value.code == "limit_exceeded"
    cyclic = {"name": NAME}
    cyclic["self"] = cyclic
    with pytest.raises(CelmatchError) as ei:
        eng.process(cyclic)
    assert ei.value.code == "limit_exceeded"
    lst = []
    lst.append(lst)
    with pytest.raises(CelmatchError):
        eng.process({"name": NAME, "l": lst})


def test_value_conversion_roundtrip(eng):
    # Tuples are lists, big ints become doubles, bools stay bools; maps come back with sorted keys.
    assert eng.eval("async.data.t", {"data": {"t": (1, "a", None)}}) == [1, "a", None]
    assert eng.eval("async.data.b", {"data": {"b": 2**70}}) == float(2**70)
    assert eng.eval("async.data.b == 2", {"data": {"b": 2}}) is True
    assert eng.eval("async.data.f", {"data": {"f": 1.0}}) == 1.0
    assert type(eng.eval("async.data.f", {"data": {"f": 1.0}})) is float
    assert type(eng.eval("async.data.i", {"data": {"i": 1}})) is int
    assert eng.eval("async.data.x", {"data": {"x": True}}) is True
    m = eng.eval("async.data.m", {"data": {"m": {"z": 1, "a": 2}}})
    assert m == {"z": 1, "a": 2} and list(m) == ["a", "z"]
    # A dict subclass is a dict.
    from collections import OrderedDict

    assert eng.eval("async.data.k", OrderedDict(data={"k": "v"})) == "v"


def test_eval_modes_and_errors(eng):
    assert eng.eval("1 + 2", {}) == 3
    assert eng.eval("async.data.x * 2", {"data": {"x": 4}}) == 8
    assert eng.eval("event.data.x + async.data.y", {"data": {"y": 1}}, trigger={"data": {"x": 2}}) == 3
    assert eng.eval("event.data.cartId", {"data": {"cartId": "c1"}}, mode="key") == "c1"
    with pytest.raises(EvalError) as ei:
        eng.eval("async.data.nope", {"data": {}})
    assert ei.value.code == "no_such_key"
    assert isinstance(ei.value, CelmatchError) and isinstance(ei.value, ValueError)
    with pytest.raises(CompileError):
        eng.eval("async.x", {}, mode="key")
    with pytest.raises(ValueError):
        eng.eval("1", {}, mode="other")
    assert Engine("lenient").eval("async.data.nope", {"data": {}}) is None


def test_key(eng):
    assert eng.key("event.data.userId", {"name": "x", "data": {"userId": "u1"}}) == "u1"
    assert eng.key("event.data.userId", json.dumps({"name": "x", "data": {"userId": "u1"}})) == "u1"
    assert eng.key("event.data.n", {"data": {"n": 5}}) == "5"
    assert eng.key("event.data.flag", {"data": {"flag": False}}) is None
    with pytest.raises(CompileError):
        eng.key("async.data.x", {})


def test_explain_and_stats(eng):
    eng.add_wait("w1", NAME, 'async.data.order == "o-1"')
    info = eng.explain("w1")
    assert isinstance(info, dict) and info
    why = eng.explain("w1", ev("o-2"))
    assert isinstance(why, dict)
    assert eng.explain("w1", json.dumps(ev("o-1"))) is not None
    assert eng.explain("nope") is None
    stats = eng.stats()
    assert isinstance(stats, dict)
    assert stats["subscriptions"] == 1


# --- configuration ---------------------------------------------------------------------------


def test_engine_config_errors():
    with pytest.raises(ValueError):
        Engine("sloppy")
    with pytest.raises(TypeError):
        Engine(1)
    with pytest.raises(TypeError):
        Engine(cancel_removes_owner=1)
    with pytest.raises(ValueError):
        Engine(limits={"max_nothing": 1})
    with pytest.raises(TypeError):
        Engine(limits={"max_depth": "deep"})
    with pytest.raises(ValueError):
        Engine(limits={"max_depth": -1})
    with pytest.raises(TypeError):
        Engine(limits=[("max_depth", 3)])
    with pytest.raises(ValueError):
        Engine(lookback={"age": 3})
    with pytest.raises(ValueError):
        Engine(event_fields="kafka")
    with pytest.raises(ValueError):
        Engine(event_fields={"nom": "x"})
    with pytest.raises(TypeError):
        Engine(event_fields={"name": 1})
    with pytest.raises(TypeError):
        Engine("strict", "lenient")  # everything after dialect is keyword-only


def test_config_is_read_by_the_core():
    # Unknown keys name the key and the closest known one, as subscription records do.
    cases = [
        (dict(lookback={"max_event": 3}), 'unknown key "max_event" in lookback; did you mean "max_events"?'),
        (dict(limits={"max_dpeth": 3}), 'unknown key "max_dpeth" in limits; did you mean "max_depth"?'),
        (dict(event_fields={"nmae": "topic"}), 'did you mean "name"?'),
        (dict(limits={"max_depth": "deep"}), '"limits.max_depth" must be a non-negative integer, not "deep"'),
        (dict(limits={"max_depth": -1}), '"limits.max_depth" must be a non-negative integer'),
        (dict(lookback={"max_age": -1}), '"lookback.max_age" must be non-negative'),
        (dict(lookback={"max_age": "ages"}), '"lookback.max_age" must be'),
        (dict(lookback=60), '"lookback" must be an object'),
        (dict(max_claims=-1), '"max_claims" must be a non-negative integer'),
        (dict(event_fields="kafka"), '"event_fields" must be "inngest", "cloudevents" or an object'),
        (dict(dialect="sloppy"), '"dialect" must be "strict" or "lenient"'),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError) as ei:
            Engine(**kwargs)
        assert ei.value.code == "invalid_config", kwargs
        assert message in str(ei.value), (kwargs, str(ei.value))
        # One class for both kinds of mistake: a bad value and an unexpected key.
        assert isinstance(ei.value, CelmatchError) and isinstance(ei.value, ValueError)
        assert isinstance(ei.value, TypeError)
    with pytest.raises(ConfigError) as ei:
        Engine.open(":memory:", durability="sometimes")
    assert ei.value.code == "invalid_config"
    assert '"durability" must be "process" or "power"' in str(ei.value)


def test_config_durations_are_seconds_timedeltas_or_strings():
    # lookback max_age follows Python's one duration rule: seconds (int or float), a timedelta,
    # or a duration string; the buffer then keeps events that young.
    for max_age in (60, 60.0, timedelta(minutes=1), "1m"):
        clock = ManualClock(1_700_000_000)
        eng = Engine(lookback={"max_age": max_age}, clock=clock)
        eng.process({"name": NAME, "data": {}})
        clock.advance(59)
        assert eng.add_wait("w", NAME, lookback=True) == Fired("w"), max_age
        eng.process({"name": NAME, "data": {}})
        clock.advance(61)
        assert eng.add_wait("x", NAME, lookback=True) is None, max_age
    # Negative is the core's invalid_config; NaN and infinities are not seconds at all.
    with pytest.raises(ConfigError) as ei:
        Engine(lookback={"max_age": -5})
    assert '"lookback.max_age" must be non-negative' in str(ei.value)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Engine(lookback={"max_age": bad})
    with pytest.raises(ConfigError):
        Engine(lookback={"max_age": True})


def test_config_defaults_are_the_cores():
    # lookback={} turns the buffer on with the core's defaults (10,000 events, 5 minutes).
    clock = ManualClock(1_700_000_000)
    eng = Engine(lookback={}, clock=clock)
    eng.process_many([{"name": NAME, "data": {"i": i}} for i in range(10_001)])
    assert eng.stats()["lookback_events"] == 10_000
    clock.advance(299)
    assert eng.add_wait("w", NAME, "async.data.i == 10000", lookback=True) == Fired("w")
    clock.advance(2)
    assert eng.add_wait("x", NAME, "async.data.i == 10000", lookback=True) is None
    assert Engine(event_fields="inngest").process({"name": NAME}) == []


def test_event_size_limit_holds_for_dicts():
    eng = Engine(limits={"max_event_bytes": 50})
    eng.add_wait("w", NAME)
    with pytest.raises(CelmatchError) as ei:
        eng.process(ev("x" * 100))
    assert ei.value.code == "limit_exceeded"
    with pytest.raises(CelmatchError) as ei:
        eng.process_many([ev("x" * 100), {"name": NAME}])
    assert ei.value.code == "limit_exceeded" and ei.value.index == 0
    assert ei.value.results[1] == [Fired("w")]
    with pytest.raises(CelmatchError) as ei:
        eng.key("async.data", ev("x" * 100))
    assert ei.value.code == "limit_exceeded"
    assert eng.process({"name": NAME}) == []


def test_limits():
    eng = Engine(limits={"max_expr_bytes": 10})
    with pytest.raises(CompileError) as ei:
        eng.compile('async.data.order == "o-1"')
    assert ei.value.code == "too_long"
    eng = Engine(limits={"max_event_bytes": 50})
    with pytest.raises(CelmatchError) as ei:
        eng.process(json.dumps(ev("x" * 100)))
    assert ei.value.code == "limit_exceeded"
    eng = Engine(limits={"max_event_depth": 3})
    with pytest.raises(CelmatchError) as ei:
        eng.process({"name": NAME, "a": {"b": {"c": {}}}})
    assert ei.value.code == "limit_exceeded"
    eng.process({"name": NAME, "a": {"b": {}}})


def test_event_fields():
    eng = Engine(event_fields="cloudevents")
    eng.add_wait("w1", "com.example.paid", 'async.data.order == "o-1"')
    assert eng.process({"type": "com.example.paid", "id": "e1", "data": {"order": "o-1"}}) == [Fired("w1")]
    eng = Engine(event_fields={"name": "topic"})
    eng.add_wait("w1", "t1")
    assert eng.process({"topic": "t1"}) == [Fired("w1")]
    with pytest.raises(CelmatchError):
        eng.process({"name": "t1"})


def test_stubtest(tmp_path):
    """The type stubs agree with the runtime module (mypy's stubtest), when mypy is installed."""
    import subprocess
    import sys

    pytest.importorskip("mypy")
    # Run in a temporary directory: stubtest leaves a .mypy_cache in its working directory.
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "celmatch"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
