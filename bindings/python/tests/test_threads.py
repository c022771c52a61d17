"""One Engine shared by threads: processing while adding, each subscription fires once, and
the GIL is released while the engine works."""

import json
import random
import threading
from collections import Counter

from celmatch import Engine

NAME = "app/k"
N = 6000


def test_concurrent_process_while_adding_fires_each_once():
    eng = Engine()
    fired = []  # (thread, id); list.append is atomic
    adding_done = threading.Event()
    errors = []

    def adder():
        try:
            ids = list(range(N))
            for start in range(0, N, 500):
                chunk = ids[start : start + 500]
                if start // 500 % 2:
                    eng.add_many([{"id": f"w{i}", "event": NAME, "if": f'async.data.k == "k{i}"'} for i in chunk])
                else:
                    for i in chunk:
                        kind = eng.add_cancel if i % 7 == 0 else eng.add_wait
                        kind(f"w{i}", NAME, f'async.data.k == "k{i}"', owner=f"o{i % 13}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            adding_done.set()

    def processor(seed):
        rng = random.Random(seed)
        try:
            while True:
                last_pass = adding_done.is_set()
                keys = list(range(N))
                rng.shuffle(keys)
                for j, i in enumerate(keys):
                    event = {"name": NAME, "data": {"k": f"k{i}"}}
                    form = j % 3
                    if form == 0:
                        out = eng.process(event)
                    elif form == 1:
                        out = eng.process(json.dumps(event))
                    else:
                        out = eng.process_many([json.dumps(event).encode()])[0]
                    fired.extend((seed, f.id) for f in out)
                if last_pass:
                    return
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=processor, args=(s,)) for s in range(4)]
    threads.append(threading.Thread(target=adder))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive()
    assert not errors, errors
    counts = Counter(fid for _, fid in fired)
    assert len(counts) == N, f"{N - len(counts)} subscriptions never fired"
    dupes = {k: v for k, v in counts.items() if v != 1}
    assert not dupes, f"fired more than once: {list(dupes.items())[:10]}"
    assert len(eng) == 0
    # More than one thread did the firing.
    assert len({t for t, _ in fired}) > 1


def test_concurrent_adds_and_removes():
    eng = Engine()
    barrier = threading.Barrier(4)
    removed = {}

    def work(t):
        barrier.wait()
        for i in range(2000):
            eng.add_wait(f"t{t}-{i}", NAME, f'async.data.k == "{i}"', owner=f"t{t}")
        removed[t] = eng.remove_owner(f"t{t}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert removed == {t: 2000 for t in range(4)}
    assert len(eng) == 0


def test_gil_is_released_while_matching():
    eng = Engine()
    eng.add_many([{"id": f"w{i}", "event": NAME, "if": f'async.data.k == "k{i}"'} for i in range(50_000)])
    events = [json.dumps({"name": NAME, "data": {"k": f"nomatch{i}"}}) for i in range(100_000)]
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        best = 0
        for _ in range(3):
            before = ticks[0]
            eng.process_many(events)  # str events: no Python work inside the call after the copy
            best = max(best, ticks[0] - before)
    finally:
        stop.set()
        spinner.join()
    # With the GIL held for the whole call the spinner could not run at all.
    assert best > 1000, best
