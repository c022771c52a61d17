"""Replays the shared evaluation corpus (tests/cases/eval/*.json, format in
tests/cases/README.md) through Engine.eval and Engine.compile, in every dialect a case names."""

import pytest

from celmatch import CelmatchError, CompileError, Engine, EvalError
from conftest import load_cases, same

DIALECTS = {"strict": ["strict"], "lenient": ["lenient"], "both": ["strict", "lenient"]}


def _params():
    out = []
    for fname, doc in load_cases("eval"):
        for case in doc["cases"]:
            for dialect in DIALECTS[case.get("dialect", "both")]:
                out.append(pytest.param(case, dialect, id=f"{fname[:-5]}::{case['name']}[{dialect}]"))
    return out


PARAMS = _params()
_engines = {}


def engine(dialect):
    if dialect not in _engines:
        _engines[dialect] = Engine(dialect)
    return _engines[dialect]


def test_corpus_is_there():
    assert len(PARAMS) > 400, "tests/cases/eval should hold the shared corpus"


@pytest.mark.parametrize("case,dialect", PARAMS)
def test_eval_case(case, dialect):
    eng = engine(dialect)
    expr = case["expr"]
    mode = case.get("mode", "condition")
    event = case.get("event", {})
    trigger = case.get("trigger")
    outcomes = [k for k in ("expect", "error", "compile_error") if k in case]
    assert len(outcomes) == 1, f"case needs exactly one of expect/error/compile_error: {case}"

    if "compile_error" in case:
        with pytest.raises(CompileError) as ei:
            eng.eval(expr, event, trigger, mode)
        assert ei.value.code == case["compile_error"], str(ei.value)
        assert isinstance(ei.value, CelmatchError) and isinstance(ei.value, ValueError)
        assert ei.value.line >= 1 and ei.value.column >= 1
        if mode == "condition" and trigger is None:
            with pytest.raises(CompileError) as ei2:
                eng.compile(expr)
            assert ei2.value.code == case["compile_error"]
        return

    if mode == "condition" and trigger is None:
        compiled = eng.compile(expr)
        assert isinstance(compiled.shape, str) and isinstance(compiled.params, list)

    if "error" in case:
        with pytest.raises(EvalError) as ei:
            eng.eval(expr, event, trigger, mode)
        assert ei.value.code == case["error"], str(ei.value)
        return

    got = eng.eval(expr, event, trigger, mode)
    assert same(got, case["expect"]), f"got {got!r}, want {case['expect']!r}"
