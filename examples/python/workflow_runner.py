"""An end-to-end durable workflow runner on celmatch, in about a hundred lines.

Runs start from `app/order.created` events, at most one run per order (an idempotency
claim on `event.data.orderId`). Each run waits for its order to be paid (a wait with a
7-day timeout, bound to the run's trigger) and is cancelled if the order is cancelled first
(a cancellation rule). Events arrive from a queue; fired waits resume their runs; a timer
loop expires waits whose deadline passed. Half-way through, the process "restarts": the
engine is closed and reopened from its store, and nothing is lost.

Run: python examples/python/workflow_runner.py [STORE]   (exits non-zero if anything is off)
"""

import os
import sys
import tempfile

from celmatch import Engine, ManualClock

DAY = 24 * 3600
T0 = 1_700_000_000


class Runner:
    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self.engine = Engine.open(store, clock=clock)
        # The runs' own state lives in the host's database in a real system; a dict stands
        # in for it here (the restart below restarts the engine, which is the point).
        self.outcome = {}  # run id -> "waiting" | "paid" | "cancelled" | "timed out"

    def restart(self):
        """What a crash and restart does: everything in memory is gone but the store."""
        self.engine.close()
        self.engine = Engine.open(self.store, clock=self.clock)

    def start_run(self, trigger):
        # One run per order: the first claim of the key wins, duplicates are dropped.
        key = self.engine.key("event.data.orderId", trigger)
        if key is None or not self.engine.claim("order-run", key, 7 * DAY):
            return None
        run = f"run-{key}"
        self.engine.add_wait(
            f"{run}/paid",
            "app/order.paid",
            "async.data.orderId == event.data.orderId",
            trigger=trigger,
            owner=run,
            timeout=7 * DAY,
        )
        self.engine.add_cancel(f"{run}/cancel", "app/order.cancelled", "async.data.orderId == event.data.orderId", trigger=trigger, owner=run)
        self.outcome[run] = "waiting"
        return run

    def handle(self, event):
        if event["name"] == "app/order.created":
            self.start_run(event)
            return
        for fired in self.engine.process(event):
            if fired.kind == "wait":
                self.outcome[fired.owner] = "paid"
            else:
                self.outcome[fired.owner] = "cancelled"
            # The run is over either way: drop what else it was waiting for.
            self.engine.remove_owner(fired.owner)

    def tick(self):
        while True:
            expired = self.engine.expire(limit=100)
            for sub in expired:
                run = sub.split("/")[0]
                self.outcome[run] = "timed out"
                self.engine.remove_owner(run)
            if len(expired) < 100:
                return


def order(name, order_id, **data):
    return {"name": name, "data": {"orderId": order_id, **data}}


def main():
    store = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "runner.db")
    clock = ManualClock(T0)
    runner = Runner(store, clock)
    queue = [order("app/order.created", f"o{i}") for i in range(6)]
    queue += [order("app/order.created", "o1")]  # a duplicate trigger: no second run
    queue += [order("app/order.paid", "o0"), order("app/order.cancelled", "o1")]
    for event in queue:
        runner.handle(event)
    runner.restart()  # ---- the process restarts here; the store holds everything ----
    assert len(runner.engine) == 2 * 4, f"after the restart {len(runner.engine)} subscriptions are pending"
    for event in [order("app/order.paid", "o2"), order("app/order.paid", "o9"), order("app/order.cancelled", "o3")]:
        runner.handle(event)
    runner.handle(order("app/order.created", "o2"))  # the claim survived the restart
    clock.advance(8 * DAY)
    runner.tick()
    want = {"run-o0": "paid", "run-o1": "cancelled", "run-o2": "paid", "run-o3": "cancelled", "run-o4": "timed out", "run-o5": "timed out"}
    assert runner.outcome == want, runner.outcome
    assert len(runner.engine) == 0
    runner.engine.close()
    for run, state in sorted(runner.outcome.items()):
        print(f"{run}: {state}")


if __name__ == "__main__":
    main()
