"""Durable engines: Engine.open / save / close, bad stores, and a kill -9 test."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from celmatch import CelmatchError, Engine, ManualClock

T0 = 1_700_000_000


def test_open_reopen_and_context_manager(tmp_path):
    path = tmp_path / "store.db"
    with Engine.open(path, clock=ManualClock(T0)) as eng:
        assert eng.durable
        eng.add_wait("w1", "app/paid", "async.data.order == event.data.order", trigger={"data": {"order": "o1"}}, owner="run-1", timeout=60)
        eng.add_many([{"id": f"b{i}", "event": "app/b", "if": f"async.data.n == {i}", "owner": "run-2"} for i in range(10)])
        assert eng.claim("cart", "c1", 3600, now=T0)
        assert [f.id for f in eng.process({"name": "app/b", "data": {"n": 3}})] == ["b3"]
        assert eng.remove_owner("run-2") == 9
    with pytest.raises(CelmatchError) as ei:
        eng.process({"name": "app/b", "data": {}})
    assert ei.value.code == "engine_closed"
    with Engine.open(str(path), clock=ManualClock(T0 + 1)) as again:
        assert len(again) == 1 and "w1" in again
        assert again.get("w1")["owner"] == "run-1"
        assert not again.claim("cart", "c1", 3600, now=T0 + 1)
        assert [f.id for f in again.process({"name": "app/paid", "data": {"order": "o1"}})] == ["w1"]


def test_save_and_bad_stores(tmp_path):
    eng = Engine()
    eng.add_wait("w", "app/e", "async.data.k == 1")
    eng.save(tmp_path / "saved.db")
    with Engine.open(tmp_path / "saved.db") as back:
        assert "w" in back
        with pytest.raises(CelmatchError) as ei:
            Engine.open(tmp_path / "saved.db")
        assert ei.value.code == "store_locked"
    (tmp_path / "junk.db").write_bytes(b"\x5a" * 8192)
    for path, code in [(tmp_path / "junk.db", "corrupt_store"), (tmp_path / "no" / "dir" / "x.db", "io_error")]:
        with pytest.raises(CelmatchError) as ei:
            Engine.open(path)
        assert ei.value.code == code
    with pytest.raises(ValueError):
        Engine.open(tmp_path / "x.db", durability="sometimes")


CHILD = textwrap.dedent(
    """
    import random, sys
    from celmatch import Engine
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    eng = Engine.open(path)
    added = []
    i = 0
    def say(line):
        sys.stdout.write(line + "\\n"); sys.stdout.flush()
    while True:
        i += 1
        wid = f"s{seed}-{i}"
        r = rng.random()
        if r < 0.5 or not added:
            say("do add")
            eng.add_wait(wid, "app/e", f"async.data.seed == {seed} && async.data.k == {i}", owner=f"o{i % 7}")
            added.append(i)
            say(f"add {wid}")
        elif r < 0.8:
            k = rng.choice(added)
            say(f"do end s{seed}-{k}")
            for f in eng.process({"name": "app/e", "data": {"seed": seed, "k": k}}):
                say(f"end {f.id}")
        else:
            k = rng.choice(added)
            say(f"do end s{seed}-{k}")
            if eng.remove(f"s{seed}-{k}"):
                say(f"end s{seed}-{k}")
        say("done")
    """
)


def test_killed_at_random_moments_loses_nothing_acknowledged(tmp_path):
    kills = int(os.environ.get("CELMATCH_CRASH_KILLS", "8"))
    path = str(tmp_path / "crash.db")
    rng = random.Random(5)
    pending, ended = set(), set()
    for seed in range(kills):
        child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(seed)], stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.2, 0.6))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        in_flight = None
        for line in out.splitlines():
            parts = line.split(" ")
            if parts[0] == "do":
                in_flight = parts
            elif parts == ["done"]:
                in_flight = None
            elif parts[0] == "add" and len(parts) == 2:
                pending.add(parts[1])
            elif parts[0] == "end" and len(parts) == 2:
                pending.discard(parts[1])
                ended.add(parts[1])
        with Engine.open(path) as eng:
            present = {s["id"] for s in eng}
        maybe_ended = {in_flight[2]} if in_flight and in_flight[1] == "end" else set()
        lost = pending - present - maybe_ended
        assert not lost, f"kill {seed}: acknowledged and lost: {sorted(lost)}"
        assert not (ended & present), f"kill {seed}: ended but back: {sorted(ended & present)}"
        ended |= pending - present
        pending = present
    assert pending or ended
