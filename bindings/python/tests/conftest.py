"""Shared helpers for the celmatch Python tests."""

import json
import math
from pathlib import Path

import pytest

#: tests/cases at the repository root: the corpus every language's suite replays.
CASES = Path(__file__).resolve().parents[3] / "tests" / "cases"


def load_cases(kind):
    """(file name, document) for every tests/cases/<kind>/*.json, sorted."""
    folder = CASES / kind
    if not folder.is_dir():
        return []
    return [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(folder.glob("*.json"))]


def same(a, b):
    """JSON equality that tells 1 (int) from 1.0 (float) and True from 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if type(a) is not type(b):
            return False
        if isinstance(a, float) and math.isnan(a):
            return math.isnan(b)
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.fixture
def eng():
    from celmatch import Engine

    return Engine()
