"""Routing (the shared cases in tests/cases/routing) and the Cluster client against a
redis-server of its own, with a `celmatch worker` process (the CLI built by cargo)."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from celmatch import CelmatchError, Cluster, CompileError, Engine
from conftest import load_cases

ROOT = Path(__file__).resolve().parents[3]


def _routing_params():
    out = []
    for fname, doc in load_cases("routing"):
        for case in doc["cases"]:
            out.append(pytest.param(doc["routes"], case, id=f"{fname}:{case['name']}"))
    return out


ROUTING = _routing_params()


def test_routing_cases_are_there():
    assert len(ROUTING) >= 20


@pytest.mark.parametrize("routes,case", ROUTING)
def test_routing_case(routes, case):
    eng = Engine()
    expected = None if case.get("slots") == "broadcast" else case.get("slots")
    if "subscription" in case:
        call = lambda: eng.route(routes, case["subscription"])
    else:
        call = lambda: eng.route_event(routes, case["event"])
    if "error" in case:
        with pytest.raises(CelmatchError) as e:
            call()
        assert e.value.code == case["error"]
    else:
        assert call() == expected


def test_route_errors():
    with pytest.raises(CelmatchError) as e:
        Engine().route({"a": "x..y"}, {"id": "w", "event": "a"})
    assert e.value.code == "invalid_subscription"
    with pytest.raises(CompileError):
        Engine().route({"a": "x"}, {"id": "w", "event": "a", "if": "async.x =="})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli():
    path = os.environ.get("CELMATCH_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "celmatch")
    assert os.access(path, os.X_OK), f"no celmatch CLI at {path} (cargo build -p celmatch-cli, or set CELMATCH_BIN)"
    return path


@pytest.fixture
def redis_url(tmp_path):
    assert shutil.which("redis-server"), "redis-server is not installed (tests/setup.sh installs it)"
    port = _free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                         stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/"
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.time() < deadline, "redis-server did not start"
            time.sleep(0.02)
    yield url
    p.terminate()
    p.wait()


ROUTES = {"order.paid": "data.orderId"}


def test_cluster_end_to_end(redis_url):
    c = Cluster(redis_url, prefix="py", ranges=4, routes=ROUTES)
    assert c.ranges == 4
    trig = {"name": "order.created", "data": {"orderId": "o1"}}
    assert c.add({"id": "w1", "event": "order.paid", "if": "async.data.orderId == event.data.orderId", "trigger": trig, "owner": "r1"})
    assert not c.add({"id": "w1", "event": "order.paid", "if": "async.data.orderId == event.data.orderId", "trigger": trig, "owner": "r1"})
    with pytest.raises(CelmatchError) as e:
        c.add({"id": "w1", "event": "order.paid"})
    assert e.value.code == "id_conflict"
    with pytest.raises(CompileError):
        c.add({"id": "bad", "event": "order.paid", "if": "async.data.orderId =="})
    assert c.add({"id": "c1", "kind": "cancel", "event": "order.refunded", "owner": "r1"})
    assert c.add({"id": "t1", "event": "order.paid", "if": "async.data.orderId == 'never'", "timeout": 0.2})
    assert c.add({"id": "gone", "event": "order.paid", "if": "async.data.orderId == 'o1'"})
    assert c.remove("gone") and not c.remove("gone")
    assert c.stats()["subscriptions"] == 3
    c.publish({"name": "order.paid", "id": "e1", "data": {"orderId": "o1"}})
    c.publish({"name": "order.refunded", "id": "e2"})
    worker = subprocess.Popen([_cli(), "worker", "--redis", redis_url, "--prefix", "py", "--lease-ms", "500", "--id", "pyw"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while len(c.outcomes()) < 3 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        worker.kill()
        worker.wait()
    got = {(o["id"], o["outcome"], o["event"]) for o in c.outcomes()}
    assert got == {("w1", "fired", "e1"), ("c1", "fired", "e2"), ("t1", "expired", "")}
    w1 = next(o for o in c.outcomes() if o["id"] == "w1")
    assert (w1["worker"], w1["record"]["owner"]) == ("pyw", "r1")
    batch, cursor = c.read_outcomes()
    assert len(batch) == 3 and c.read_outcomes(cursor) == ([], cursor)
    assert c.trim_outcomes(cursor) == 3 and c.outcomes() == []
    with pytest.raises(CelmatchError) as e:
        c.read_outcomes("nonsense")
    assert e.value.code == "invalid_argument"
    assert c.claim("idem", "k", 10) and not c.claim("idem", "k", 10)
    with pytest.raises(CelmatchError) as e:
        Cluster(redis_url, prefix="py", ranges=8)
    assert e.value.code == "invalid_argument"


def test_cluster_unreachable():
    with pytest.raises(CelmatchError) as e:
        Cluster(f"redis://127.0.0.1:{_free_port()}/")
    assert e.value.code == "redis_error"
