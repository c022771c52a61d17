"""Listing what is registered: get, `in`, iteration, subscriptions_of, and bounded expiry."""

from datetime import datetime, timedelta, timezone

import pytest

from celmatch import CelmatchError, Engine, ManualClock

T0 = 1_700_000_000


def test_get_returns_the_subscription_as_registered_and_it_adds_back():
    eng = Engine(clock=ManualClock(T0))
    eng.add_wait(
        "w1",
        "app/paid",
        'event.data.order == async.data.order && async.data.status == "paid"',
        trigger={"name": "app/ordered", "data": {"order": "o-1", "unused": [1, 2]}},
        owner="run-1",
        timeout=60,
    )
    eng.add_cancel("c1", "app/user.deleted", not_before=T0, owner="run-1")
    w = eng.get("w1")
    assert w == {
        "id": "w1",
        "kind": "wait",
        "event": "app/paid",
        "condition": 'event.data.order == async.data.order && async.data.status == "paid"',
        "trigger": {"data": {"order": "o-1"}},
        "owner": "run-1",
        "deadline": datetime.fromtimestamp(T0 + 60, tz=timezone.utc),
        "not_before": None,
        "exclude_event_id": None,
    }
    c = eng.get("c1")
    assert c is not None and c["kind"] == "cancel" and c["not_before"] == datetime.fromtimestamp(T0, tz=timezone.utc)
    assert eng.get("nobody") is None

    # What get returns is what add_wait takes: a fresh engine behaves the same.
    copy = Engine(clock=ManualClock(T0))
    args = {k: v for k, v in w.items() if k not in ("kind", "not_before", "exclude_event_id")}
    copy.add_wait(**args)
    event = {"name": "app/paid", "data": {"order": "o-1", "status": "paid"}}
    assert [f.id for f in copy.process(event)] == ["w1"]


def test_contains_iteration_and_owners():
    eng = Engine()
    for i in range(2500):  # more than one page
        eng.add_wait(f"w{i}", "app/e", f"async.data.n == {i}", owner=f"run-{i % 3}")
    assert "w7" in eng and "w9999" not in eng
    ids = {s["id"] for s in eng}
    assert ids == {f"w{i}" for i in range(2500)}
    assert len(list(iter(eng))) == len(eng) == 2500
    mine = eng.subscriptions_of("run-1")
    assert len(mine) == 833 and all(s["owner"] == "run-1" for s in mine)
    assert eng.subscriptions_of("nobody") == []
    assert eng.remove_owner("run-1") == 833
    assert "w1" not in eng and eng.subscriptions_of("run-1") == []


def test_expire_in_bounded_batches():
    eng = Engine(clock=ManualClock(T0))
    for i in range(10):
        eng.add_wait(f"w{i}", "app/e", timeout=i + 1)
    batches = []
    while True:
        batch = eng.expire(T0 + 100, limit=4)
        batches.append(batch)
        if len(batch) < 4:
            break
    assert batches == [["w0", "w1", "w2", "w3"], ["w4", "w5", "w6", "w7"], ["w8", "w9"]]
    assert len(eng) == 0


def test_add_many_takes_python_units_and_what_get_returns():
    eng = Engine(clock=ManualClock(T0))
    eng.add_many(
        [
            {"id": "a", "event": "app/e", "timeout": 60},
            {"id": "b", "event": "app/e", "timeout": timedelta(minutes=2)},
            {"id": "c", "event": "app/e", "deadline": T0 + 180},
            {"id": "d", "event": "app/e", "deadline": datetime.fromtimestamp(T0 + 240, tz=timezone.utc)},
            {"id": "e", "event": "app/e", "timeout": "5m"},
        ]
    )
    assert [eng.get(i)["deadline"] for i in "abcde"] == [datetime.fromtimestamp(T0 + s, tz=timezone.utc) for s in (60, 120, 180, 240, 300)]
    # A record from get adds back (its "condition" spelling included).
    rec = eng.get("a")
    copy = Engine(clock=ManualClock(T0))
    copy.add_many([rec])
    assert copy.get("a") == rec


def test_add_many_rejects_unknown_keys():
    eng = Engine()
    with pytest.raises(CelmatchError) as ei:
        eng.add_many([{"id": "w", "event": "app/e", "iff": "true"}])
    assert ei.value.code == "invalid_subscription" and "did you mean" in str(ei.value)
    assert len(eng) == 0
