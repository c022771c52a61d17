"""Replays the shared operation sequences (tests/cases/engine/*.json, format in
tests/cases/README.md) through the Python API.

Like the Rust runner, every case runs once per dialect it names and once per way of handing
events to the engine: a dict, JSON text as str, JSON as bytes, and process_many with a
one-event batch. Times in the cases are epoch milliseconds; the Python API takes seconds. A
case's `config` is handed over as keyword arguments; a case with `config_error` expects
Engine(...) to raise it.
"""

import json

import pytest

from celmatch import CelmatchError, ConfigError, Engine, ManualClock
from conftest import load_cases

DEFAULT_NOW_MS = 1_700_000_000_000
DIALECTS = {"strict": ["strict"], "lenient": ["lenient"], "both": ["strict", "lenient"]}
FEEDS = ["dict", "str", "bytes", "many"]


def _params():
    out = []
    for fname, doc in load_cases("engine"):
        names = set()
        for case in doc["cases"]:
            assert case["name"] not in names, f"{fname}: duplicate case name {case['name']}"
            names.add(case["name"])
            config = case.get("config") or {}
            for dialect in DIALECTS[config.get("dialect", "strict")]:
                for feed in FEEDS:
                    out.append(pytest.param(case, dialect, feed, id=f"{fname[:-5]}::{case['name']}[{dialect},{feed}]"))
    return out


def make_engine(config, dialect):
    """The case's configuration record as keyword arguments: the record's keys are the Python
    keyword arguments, which the core reads as every binding's options. Only Python's units
    are converted: `now` (epoch ms) becomes a ManualClock and `lookback.max_age` numbers, in
    milliseconds in the cases, become seconds."""
    config = dict(config)
    config.pop("dialect", None)
    clock = ManualClock(config.pop("now", DEFAULT_NOW_MS) / 1000)
    lookback = config.get("lookback")
    if isinstance(lookback, dict) and isinstance(lookback.get("max_age"), (int, float)):
        config["lookback"] = {**lookback, "max_age": lookback["max_age"] / 1000}
    return Engine(dialect, clock=clock, **config), clock


def fired_json(f):
    out = {"id": f.id, "kind": f.kind}
    if f.owner is not None:
        out["owner"] = f.owner
    return out


def error_json(e):
    assert isinstance(e, CelmatchError), e
    return {"error": e.code}


def added_json(r):
    if isinstance(r, BaseException):
        return error_json(r)
    return None if r is None else fired_json(r)


# The shared cases write times and spans in milliseconds (the NDJSON record); Python's
# add_many takes Python units: seconds.
MS_KEYS = ("timeout", "lookback", "deadline", "not_before", "notBefore")


def python_record(r):
    if not isinstance(r, dict):
        return r
    return {k: v / 1000 if k in MS_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in r.items()}


def add_many(eng, records):
    records = [python_record(r) for r in records]
    try:
        return [added_json(r) for r in eng.add_many(records)]
    except CelmatchError as e:
        return [added_json(r) for r in e.results]


def process(eng, event, feed):
    if not isinstance(event, dict) and feed in ("dict", "many"):
        # The Python API takes events as dicts or JSON text; any other Python value is a
        # TypeError. A case's non-object event (a string, list, number, null) is JSON text.
        event_arg = json.dumps(event)
    else:
        event_arg = event
    arg = {"dict": event_arg, "str": json.dumps(event), "bytes": json.dumps(event).encode(), "many": [event_arg]}[feed]
    try:
        out = eng.process_many(arg)[0] if feed == "many" else eng.process(arg)
    except CelmatchError as e:
        return error_json(e)
    return [fired_json(f) for f in out]


def seconds(ms):
    return None if ms is None else ms / 1000


def run_step(eng, clock, step, feed):
    ops = [k for k in step if k not in ("expect", "note")]
    assert len(ops) == 1, f"a step has exactly one operation: {step}"
    op = ops[0]
    arg = step[op]
    try:
        if op == "add":
            return add_many(eng, [arg])[0]
        if op == "add_many":
            return add_many(eng, arg)
        if op == "process":
            return process(eng, arg, feed)
        if op == "remove":
            return eng.remove(arg)
        if op == "remove_owner":
            return eng.remove_owner(arg)
        if op == "expire":
            return eng.expire(seconds(arg))
        if op == "advance":
            clock.advance(arg / 1000)
            return NO_RESULT
        if op == "key":
            return eng.key(arg["expr"], arg["event"])
        if op == "claim":
            return eng.claim(arg["scope"], arg["key"], arg["ttl_ms"] / 1000, seconds(arg.get("now_ms")))
        if op == "len":
            return len(eng)
    except CelmatchError as e:
        return error_json(e)
    raise AssertionError(f"unknown operation {op!r}")


NO_RESULT = object()

PARAMS = _params()


@pytest.mark.skipif(not PARAMS, reason="no tests/cases/engine/*.json")
@pytest.mark.parametrize("case,dialect,feed", PARAMS)
def test_engine_case(case, dialect, feed):
    if "config_error" in case:
        want = case["config_error"]
        with pytest.raises(ConfigError) as ei:
            make_engine(case["config"], dialect)
        assert ei.value.code == want["code"]
        assert want.get("message", "") in str(ei.value), str(ei.value)
        return
    eng, clock = make_engine(case.get("config") or {}, dialect)
    for i, step in enumerate(case["steps"]):
        got = run_step(eng, clock, step, feed)
        if got is NO_RESULT:
            continue
        assert "expect" in step, f"step {i}: no expect"
        want = step["expect"]
        assert got == want and type(got) is type(want), f"step {i} {json.dumps(step)}: got {got!r}, want {want!r}"
