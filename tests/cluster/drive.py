"""Drives the cluster test (see run.sh): servers, workers, producer, kills, and the check.

Every subscription is registered with a known fate: fired by a known event, expired at its
deadline, removed before any event, or removed while its event is in flight (then either
outcome is right, but exactly one). At the end each must have exactly one outcome.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KILLS = int(os.environ.get("CELMATCH_CLUSTER_KILLS", "2"))
PER_PHASE = int(os.environ.get("CELMATCH_CLUSTER_WAITS", "300"))
MODE = os.environ.get("CELMATCH_CLUSTER_REDIS", "single")
WORKERS = 3
LEASE_MS = 1000
SEED = int(os.environ.get("CELMATCH_CLUSTER_SEED", "7"))


def free_port(taken=(), bus=False):
    """A free loopback port; with `bus`, one whose cluster bus port (+10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p in taken or (bus and (p + 10000 > 65535 or p + 10000 in taken)):
            continue
        if bus:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        return p


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    """One server, or three cluster-enabled masters joined by redis-cli."""

    def __init__(self, tmp):
        self.procs = []
        ports = []
        for _ in range(3 if MODE == "cluster" else 1):
            ports.append(free_port(ports + [p + 10000 for p in ports], bus=MODE == "cluster"))
        for p in ports:
            d = os.path.join(tmp, f"redis-{p}")
            os.makedirs(d)
            args = ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d]
            if MODE == "cluster":
                args += ["--cluster-enabled", "yes", "--cluster-config-file", os.path.join(d, "nodes.conf")]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 10
        while not all(ping(p) for p in ports):
            if time.time() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise SystemExit(f"cluster: redis-server did not start (ports {ports})")
            time.sleep(0.02)
        if MODE == "cluster":
            nodes = [f"127.0.0.1:{p}" for p in ports]
            subprocess.run(["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # The cluster is usable once every node agrees all slots are covered.
            while True:
                infos = [subprocess.run(["redis-cli", "-p", str(p), "cluster", "info"], capture_output=True, text=True).stdout for p in ports]
                if all("cluster_state:ok" in i for i in infos):
                    break
                if time.time() > deadline + 20:
                    raise SystemExit("cluster: the Redis Cluster did not become ready")
                time.sleep(0.1)
            self.url = "redis+cluster://" + ",".join(nodes)
        else:
            self.url = f"redis://127.0.0.1:{ports[0]}/"

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


class Run:
    def __init__(self, bin, redis, tmp):
        self.bin, self.redis, self.tmp = bin, redis, tmp
        self.common = ["--redis", redis.url, "--prefix", "ct", "--ranges", "16", "--route", "order.paid=data.orderId"]
        self.workers = []
        self.started = 0

    def cli(self, *args, stdin=""):
        r = subprocess.run([self.bin, "cluster", *args, *self.common], input=stdin, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"cluster: `celmatch cluster {args[0]}` failed ({r.returncode}): {r.stderr.strip()}")
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def start_worker(self):
        self.started += 1
        name = f"worker-{self.started}"
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        p = subprocess.Popen([self.bin, "worker", *self.common, "--lease-ms", str(LEASE_MS), "--id", name, "--verbose"],
                             stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(p)

    def kill_one(self, rng):
        p = self.workers.pop(rng.randrange(len(self.workers)))
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_workers(self):
        for p in self.workers:
            p.kill()
            p.wait()

    def logs(self, tail=15):
        out = []
        for f in sorted(os.listdir(self.tmp)):
            if f.endswith(".log"):
                with open(os.path.join(self.tmp, f)) as fh:
                    lines = fh.readlines()
                    out.append(f"--- {f}\n" + "".join(lines[-tail:] if tail else lines))
        return "\n".join(out)


def phase(p, rng, now_ms):
    """Subscriptions of one phase, the ids to remove, and the events to publish. `expect`
    maps id → allowed outcomes; `by` maps id → the event id that may fire it."""
    subs, removes, events, expect, by = [], [], [], {}, {}
    for i in range(PER_PHASE):
        sid = f"p{p}-s{i}"
        owner = f"run-p{p}-{i // 4}"
        order = f"o-{p}-{i}"
        kind = rng.choice(["eq", "eq", "eq", "in", "broadcast", "cancel", "deadline", "removed", "race"])
        trigger = {"name": "order.created", "data": {"orderId": order}}
        rec = {"id": sid, "event": "order.paid", "owner": owner}
        ev = {"name": "order.paid", "id": f"e-{sid}", "data": {"orderId": order}}
        if kind in ("eq", "deadline", "removed", "race"):
            rec.update({"if": "async.data.orderId == event.data.orderId && async.data.amount > 10", "trigger": trigger})
            ev["data"]["amount"] = 20
        elif kind == "in":
            rec["if"] = f"async.data.orderId in ['{order}', '{order}-b']"
            ev["data"]["orderId"] = f"{order}-b"
        elif kind == "broadcast":
            rec["if"] = f"async.data.ref == '{sid}'"
            ev["data"] = {"orderId": f"x-{rng.randrange(10**6)}", "ref": sid}
        elif kind == "cancel":
            rec.update({"kind": "cancel", "event": "order.cancelled", "if": f"async.data.run == '{owner}' && async.data.sub == '{sid}'"})
            ev = {"name": "order.cancelled", "id": f"e-{sid}", "data": {"run": owner, "sub": sid}}
        if kind == "deadline":
            rec["deadline"] = now_ms + rng.randrange(200, 1500)
            expect[sid] = {"expired"}
        elif kind == "removed":
            removes.append(sid)
            expect[sid] = {"removed"}
        elif kind == "race":
            removes.append(sid)
            events.append(ev)
            expect[sid] = {"removed", "fired"}
        else:
            events.append(ev)
            expect[sid] = {"fired"}
        by[sid] = ev["id"]
        subs.append(rec)
    return subs, removes, events, expect, by


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    rng = random.Random(SEED)
    tmp = tempfile.mkdtemp(prefix="celmatch-cluster-")
    redis = Redis(tmp)
    run = Run(args.bin, redis, tmp)
    ok = False
    try:
        for _ in range(WORKERS):
            run.start_worker()
        expect, by, removed = {}, {}, {}
        published = 0
        t0 = time.time()
        for p in range(KILLS + 1):
            subs, removes, events, exp, b = phase(p, rng, int(time.time() * 1000))
            expect.update(exp)
            by.update(b)
            for r in run.cli("add", stdin="".join(json.dumps(s) + "\n" for s in subs)):
                assert r["added"], r
            # Removals that race their events: some run before the publish, some after.
            rng.shuffle(removes)
            half = len(removes) // 2
            for r in run.cli("remove", *removes[:half]) if half else []:
                removed[r["id"]] = r["removed"]
            rng.shuffle(events)
            run.cli("publish", stdin="".join(json.dumps(e) + "\n" for e in events))
            published += len(events)
            for r in run.cli("remove", *removes[half:]) if removes[half:] else []:
                removed[r["id"]] = r["removed"]
            if p < KILLS:
                # Soon after publishing, so the victim is likely to hold unacknowledged events.
                time.sleep(rng.uniform(0, 0.03))
                run.kill_one(rng)
                run.start_worker()
        # Settle: every subscription has an outcome or was removed.
        deadline = time.time() + 30 + 3 * LEASE_MS / 1000
        while True:
            outcomes = run.cli("fired")
            done = {o["id"] for o in outcomes} | {i for i, r in removed.items() if r}
            if done >= set(expect) or time.time() > deadline:
                break
            time.sleep(0.1)
        elapsed = time.time() - t0
        # Give late duplicates a chance to show.
        time.sleep(2 * LEASE_MS / 1000)
        outcomes = run.cli("fired")
        stats = run.cli("stats")[0]
        count, wrong = {}, []
        for o in outcomes:
            count[o["id"]] = count.get(o["id"], 0) + 1
            if o["id"] not in expect:
                wrong.append(f"unknown {o['id']}")
            elif o["outcome"] not in expect[o["id"]]:
                wrong.append(f"{o['id']}: {o['outcome']}, expected {sorted(expect[o['id']])}")
            elif o["outcome"] == "fired" and o["event"] != by[o["id"]]:
                wrong.append(f"{o['id']}: fired by {o['event']}, not {by[o['id']]}")
        lost = dup = 0
        for sid, allowed in expect.items():
            n = count.get(sid, 0) + (1 if removed.get(sid) else 0)
            if sid in removed and not removed[sid] and "fired" not in allowed:
                wrong.append(f"{sid}: not removed")
            if n == 0:
                lost += 1
                wrong.append(f"{sid}: lost (expected {sorted(allowed)})")
            elif n > 1:
                dup += 1
                wrong.append(f"{sid}: {n} outcomes")
        if stats["subscriptions"] != 0 or stats["pending"] != 0:
            wrong.append(f"left in Redis: {stats['subscriptions']} subscriptions, {stats['pending']} pending events")
        fired = sum(1 for o in outcomes if o["outcome"] == "fired")
        eps = published / elapsed if elapsed > 0 else 0
        print(f"cluster: waits {len(expect)}, fired {fired}, lost {lost}, duplicated {dup}, kills {KILLS}, events/s {eps:.0f} (workers {WORKERS})", flush=True)
        if os.environ.get("CELMATCH_CLUSTER_VERBOSE"):
            text = run.logs(tail=None)
            claimed = sum(int(l.split("claimed ")[1].split()[0]) for l in text.splitlines() if "claimed " in l)
            print(f"cluster: {text.count('took range')} ranges taken, {claimed} pending events claimed from other workers", file=sys.stderr)
        if wrong:
            print("\n".join(wrong[:20]), file=sys.stderr)
            print(run.logs(), file=sys.stderr)
        ok = not wrong
    finally:
        run.stop_workers()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
