#!/usr/bin/env python3
"""Benchmark: celmatch Engine.process() at 1,000,000 pending subscriptions vs evaluating every
condition one by one with a CEL package from PyPI.

Every subscription is a wait on the event name "app/event" with the condition
``async.data.id == "<uuid4>"``. Each measured event carries the uuid of one pending
subscription, so every process() call fires (and removes) exactly one wait.

The baseline is what an engine without an index does: evaluate each pending condition against
the event. It is run at a smaller N (default 1,000) and scaled linearly to the full N (its cost
is one evaluation per pending condition).

Usage (after `bindings/python/ci.sh setup`, which installs a release build):
    bindings/python/.venv/bin/pip install common-expression-language   # baseline, optional
    bindings/python/.venv/bin/python bindings/python/bench/bench_process.py
Options: --subs, --events, --baseline-subs, --baseline-events, --seed. It also runs bytes
events on two threads at once (process releases the GIL) and reports the ratio to one.
"""

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid

from celmatch import Engine, __version__

NAME = "app/event"


def uuids(rng, n):
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def event(u, i):
    return {"name": NAME, "id": f"evt-{i}", "data": {"id": u, "amount": i % 100, "source": "bench"}}


def fmt_us(seconds):
    return f"{seconds * 1e6:,.2f} µs"


def load(eng, ids, batch=100_000):
    """add_many in batches (bounded memory); returns (seconds in add_many, seconds in all)."""
    in_call = 0.0
    t0 = time.perf_counter()
    for start in range(0, len(ids), batch):
        records = [{"id": f"w{start + j}", "event": NAME, "if": f'async.data.id == "{u}"'} for j, u in enumerate(ids[start : start + batch])]
        t1 = time.perf_counter()
        eng.add_many(records)
        in_call += time.perf_counter() - t1
    return in_call, time.perf_counter() - t0


def run_celmatch(args, ids, rng):
    eng = Engine()
    in_call, total = load(eng, ids)
    assert len(eng) == args.subs
    print(f"celmatch {__version__}: loaded {args.subs:,} subscriptions in {total:.2f} s, of which add_many "
          f"{in_call:.2f} s ({in_call / args.subs * 1e6:.2f} µs each; the rest builds the record dicts)")

    targets = rng.sample(range(args.subs), 4 * args.events)
    results = {}
    forms = [
        ("dict", lambda e: e),
        ("str", json.dumps),
        ("bytes", lambda e: json.dumps(e).encode()),
    ]
    for k, (label, make) in enumerate(forms):
        chosen = targets[k * args.events : (k + 1) * args.events]
        evs = [make(event(ids[i], i)) for i in chosen]
        gc.collect()
        lat = []
        fired = 0
        t_all = time.perf_counter()
        for e in evs:
            t0 = time.perf_counter()
            out = eng.process(e)
            lat.append(time.perf_counter() - t0)
            fired += len(out)
        total = time.perf_counter() - t_all
        assert fired == len(evs), (fired, len(evs))
        lat.sort()
        results[label] = total / len(evs)
        print(f"  process({label:5}) at ~{len(eng) + len(evs):,} pending: {fmt_us(total / len(evs))} per event "
              f"(p50 {fmt_us(lat[len(lat) // 2])}, p99 {fmt_us(lat[int(len(lat) * 0.99)])}, "
              f"max {fmt_us(lat[-1])}), "
              f"{len(evs) / total:,.0f} events/s, every event fired 1")

    # Two threads at once (process releases the GIL): bytes events split between them.
    from concurrent.futures import ThreadPoolExecutor

    chosen = targets[3 * args.events : 4 * args.events]
    evs = [json.dumps(event(ids[i], i)).encode() for i in chosen]
    halves = [evs[0::2], evs[1::2]]
    gc.collect()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        fired = sum(pool.map(lambda part: sum(len(eng.process(e)) for e in part), halves))
    total = time.perf_counter() - t0
    assert fired == len(evs), (fired, len(evs))
    results["threads2"] = total / len(evs)
    print(f"  process(bytes) on 2 threads: {len(evs) / total:,.0f} events/s "
          f"({results['bytes'] / results['threads2']:.2f}x one thread)")

    # Events that match nothing (the common case for most of a million waits).
    evs = [json.dumps(event(u, i)) for i, u in enumerate(uuids(rng, args.events))]
    t0 = time.perf_counter()
    out = eng.process_many(evs)
    total = time.perf_counter() - t0
    assert not any(out)
    results["miss"] = total / len(evs)
    print(f"  process_many(str, no match) at {len(eng):,} pending: {fmt_us(total / len(evs))} per event, "
          f"{len(evs) / total:,.0f} events/s")
    return results


def run_baseline(args, rng):
    try:
        import cel  # common-expression-language
    except ImportError:
        print("baseline skipped: pip install common-expression-language")
        return None
    try:
        from importlib.metadata import version

        ver = version("common-expression-language")
    except Exception:
        ver = "?"
    ids = uuids(rng, args.baseline_subs)
    t0 = time.perf_counter()
    programs = [cel.compile(f'async.data.id == "{u}"') for u in ids]
    compile_s = time.perf_counter() - t0
    evs = [event(ids[rng.randrange(len(ids))], i) for i in range(args.baseline_events)]
    per_event = []
    for e in evs:
        t0 = time.perf_counter()
        ctx = cel.Context({"async": e})  # built once per event, shared by every program
        hits = [p for p in programs if p.execute(ctx) is True]
        per_event.append(time.perf_counter() - t0)
        assert len(hits) >= 1
    mean = statistics.fmean(per_event)
    scaled = mean * args.subs / args.baseline_subs
    print(f"baseline common-expression-language {ver}: compiled {args.baseline_subs:,} programs in {compile_s:.2f} s; "
          f"evaluating all of them per event: {fmt_us(mean)} per event at {args.baseline_subs:,} "
          f"({fmt_us(mean / args.baseline_subs)} per evaluation) -> {scaled * 1e3:,.1f} ms per event "
          f"scaled to {args.subs:,}")
    return scaled


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subs", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--baseline-subs", type=int, default=1_000)
    ap.add_argument("--baseline-events", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}; "
          f"Python {platform.python_version()}")
    rng = random.Random(args.seed)
    ids = uuids(rng, args.subs)
    results = run_celmatch(args, ids, rng)
    del ids
    gc.collect()
    scaled = run_baseline(args, rng)
    if scaled:
        print("ratio (baseline scaled to {:,} / celmatch):".format(args.subs))
        for label in ("dict", "str", "bytes"):
            print(f"  {label:5}: {scaled / results[label]:,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
