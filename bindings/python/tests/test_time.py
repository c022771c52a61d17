"""Times and durations: datetime / timedelta / epoch seconds."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from celmatch import CelmatchError, Engine, Fired

NAME = "app/tick"
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
T0_S = T0.timestamp()  # 1893553445.0


def test_deadline_datetime_and_epoch_seconds():
    eng = Engine()
    eng.add_wait("dt", NAME, deadline=T0)
    eng.add_wait("secs", NAME, deadline=T0_S + 10)
    eng.add_wait("int", NAME, deadline=int(T0_S) + 20)
    # A datetime in another zone names the same instant.
    eng.add_wait("tz", NAME, deadline=T0.astimezone(timezone(timedelta(hours=5, minutes=30))) + timedelta(seconds=30))
    assert eng.expire(now=T0 - timedelta(milliseconds=1)) == []
    assert eng.expire(now=T0) == ["dt"]
    assert eng.expire(now=T0_S + 9.999) == []
    assert eng.expire(now=T0_S + 10) == ["secs"]
    assert eng.expire(now=int(T0_S) + 25) == ["int"]
    assert eng.expire(now=T0 + timedelta(seconds=30)) == ["tz"]
    assert len(eng) == 0


def test_millisecond_precision():
    eng = Engine()
    eng.add_wait("a", NAME, deadline=T0 + timedelta(milliseconds=1))
    eng.add_wait("b", NAME, deadline=T0_S + 0.002)
    assert eng.expire(now=T0 + timedelta(microseconds=999)) == []
    assert eng.expire(now=T0 + timedelta(milliseconds=1)) == ["a"]
    assert eng.expire(now=T0_S + 0.002) == ["b"]


def test_timeout_seconds_and_timedelta():
    eng = Engine()
    start = time.time()
    eng.add_wait("s", NAME, timeout=60)
    eng.add_wait("f", NAME, timeout=90.5)
    eng.add_cancel("td", NAME, timeout=timedelta(minutes=2))
    assert eng.expire(now=start + 59) == []
    assert eng.expire(now=start + 61) == ["s"]
    assert eng.expire(now=start + 92) == ["f"]
    assert eng.expire(now=start + 122) == ["td"]


def test_expire_default_now():
    eng = Engine()
    eng.add_wait("past", NAME, deadline=time.time() - 1)
    eng.add_wait("future", NAME, deadline=datetime.now(timezone.utc) + timedelta(hours=1))
    assert eng.expire() == ["past"]
    assert len(eng) == 1


def test_expired_waits_do_not_fire():
    eng = Engine()
    eng.add_wait("late", NAME, deadline=time.time() - 1)
    assert eng.process({"name": NAME}) == []


def test_not_before():
    eng = Engine()
    eng.add_cancel("c", NAME, not_before=T0)
    assert eng.process({"name": NAME, "ts": int(T0_S * 1000) - 1}) == []
    assert eng.process({"name": NAME, "ts": "2030-01-02T03:04:05Z"}) == [Fired("c", "cancel")]
    eng.add_cancel("c2", NAME, not_before=T0_S)
    assert eng.process({"name": NAME, "ts": int(T0_S * 1000)}) == [Fired("c2", "cancel")]


def test_time_type_errors():
    eng = Engine()
    for bad in ("2030-01-01", True, [1], datetime(2030, 1, 1).date()):
        with pytest.raises(TypeError):
            eng.add_wait("w", NAME, deadline=bad)
        with pytest.raises(TypeError):
            eng.add_wait("w", NAME, timeout=bad)
        with pytest.raises(TypeError):
            eng.expire(now=bad)
    with pytest.raises(TypeError):
        eng.add_wait("w", NAME, timeout=T0)  # an instant is not a duration
    with pytest.raises(TypeError):
        eng.add_wait("w", NAME, deadline=timedelta(seconds=1))  # nor a duration an instant
    assert len(eng) == 0


def test_naive_datetime_rejected():
    eng = Engine()
    with pytest.raises(ValueError) as ei:
        eng.add_wait("w", NAME, deadline=datetime(2030, 1, 1))
    assert "naive" in str(ei.value)
    with pytest.raises(ValueError):
        eng.expire(now=datetime(2030, 1, 1))


def test_zero_and_negative_durations():
    eng = Engine()
    now = time.time()
    # A negative timeout is a mistake (a deadline in the past is how to say "already due").
    with pytest.raises(CelmatchError) as ei:
        eng.add_wait("w", NAME, timeout=-1)
    assert ei.value.code == "invalid_subscription"
    eng.add_wait("z", NAME, timeout=timedelta(0))
    eng.add_wait("d", NAME, deadline=now - 10)
    assert sorted(eng.expire(now=now + 0.5)) == ["d", "z"]
    # A claim with a zero or negative ttl never holds.
    assert eng.claim("s", "k", -5, now=T0) is True
    assert eng.claim("s", "k", 0, now=T0) is True
    assert eng.claim("s", "k", 0, now=T0) is True
    with pytest.raises(ValueError):
        eng.add_wait("w", NAME, timeout=float("nan"))
    with pytest.raises(ValueError):
        eng.add_wait("w", NAME, timeout=float("inf"))


def test_claim_ttl_and_now():
    eng = Engine()
    assert eng.claim("dedupe", "k1", 60, now=T0) is True
    assert eng.claim("dedupe", "k1", 60, now=T0 + timedelta(seconds=59)) is False
    assert eng.claim("other", "k1", 60, now=T0) is True
    assert eng.claim("dedupe", "k1", timedelta(seconds=10), now=T0_S + 60) is True
    assert eng.claim("dedupe", "k1", 1.5, now=T0_S + 69.999) is False
    assert eng.claim("dedupe", "k1", 1.5, now=T0_S + 70) is True
    assert eng.claim("dedupe", "k2", 30) is True
    assert eng.claim("dedupe", "k2", 30) is False


def test_lookback():
    eng = Engine(lookback={"max_age": timedelta(minutes=10), "max_events": 100})
    eng.process({"name": NAME, "data": {"x": 1}})
    eng.process({"name": NAME, "data": {"x": 2}})
    assert eng.add_wait("w1", NAME, "async.data.x == 2", lookback=True) == Fired("w1")
    assert len(eng) == 0
    assert eng.add_wait("w2", NAME, "async.data.x == 3", lookback=True) is None
    assert len(eng) == 1
    assert eng.add_wait("w3", NAME, "async.data.x == 1", lookback=60) == Fired("w3")
    assert eng.add_wait("w4", NAME, "async.data.x == 1", lookback=timedelta(seconds=30)) == Fired("w4")
    # Without lookback the buffer is not searched.
    assert eng.add_wait("w5", NAME, "async.data.x == 1") is None
    assert eng.add_wait("w6", NAME, "async.data.x == 1", lookback=False) is None


def test_lookback_window_excludes_old_events():
    eng = Engine(lookback={"max_age": 3600, "max_events": 100})
    old = int((time.time() - 120) * 1000)
    eng.process({"name": NAME, "ts": old, "data": {"x": 1}})
    assert eng.add_wait("w1", NAME, "async.data.x == 1", lookback=60) is None
    assert eng.add_wait("w2", NAME, "async.data.x == 1", lookback=300) == Fired("w2")


def test_lookback_off_by_default():
    eng = Engine()
    eng.process({"name": NAME, "data": {"x": 1}})
    assert eng.add_wait("w1", NAME, "async.data.x == 1", lookback=True) is None


def test_lookback_on_cancel_is_rejected():
    # add_cancel has no lookback parameter at all.
    with pytest.raises(TypeError):
        Engine().add_cancel("c", NAME, lookback=True)
