// An end-to-end durable workflow runner on celmatch (the TypeScript twin of
// examples/python/workflow_runner.py).
//
// Runs start from `app/order.created` events, at most one run per order (an idempotency claim
// on `event.data.orderId`). Each run waits for its order to be paid (a wait with a 7-day
// timeout, bound to the run's trigger) and is cancelled if the order is cancelled first. Events
// arrive from a queue; fired waits resume their runs; a timer loop expires waits whose deadline
// passed. Half-way through the engine is closed and reopened from its store: nothing is lost.
//
// Run: bash examples/typescript/run.sh   (exits non-zero if anything is off)
import { Engine } from 'celmatch'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const DAY = 24 * 3600 * 1000
const T0 = Date.UTC(2025, 0, 1)

type Event = { name: string; data: Record<string, unknown> }
type Outcome = 'waiting' | 'paid' | 'cancelled' | 'timed out'

class Runner {
  engine: Engine
  // The runs' own state lives in the host's database in a real system; a map stands in here.
  outcome = new Map<string, Outcome>()

  constructor(private store: string, now: number) {
    this.engine = Engine.open(store, { now })
  }

  /** What a crash and restart does: everything in memory is gone but the store. */
  restart(): void {
    const now = this.engine.now
    this.engine.close()
    this.engine = Engine.open(this.store, { now })
  }

  startRun(trigger: Event): void {
    const key = this.engine.key('event.data.orderId', trigger)
    if (key === null || !this.engine.claim('order-run', key, '7d')) return
    const run = `run-${key}`
    this.engine.addWait({ id: `${run}/paid`, event: 'app/order.paid', if: 'async.data.orderId == event.data.orderId', trigger, owner: run, timeout: '7d' })
    this.engine.addCancel({ id: `${run}/cancel`, event: 'app/order.cancelled', if: 'async.data.orderId == event.data.orderId', trigger, owner: run })
    this.outcome.set(run, 'waiting')
  }

  handle(event: Event): void {
    if (event.name === 'app/order.created') return this.startRun(event)
    for (const fired of this.engine.process(event)) {
      const run = fired.owner as string
      this.outcome.set(run, fired.kind === 'wait' ? 'paid' : 'cancelled')
      this.engine.removeOwner(run) // the run is over: drop what else it waited for
    }
  }

  tick(): void {
    for (;;) {
      const expired = this.engine.expire(null, 100)
      for (const id of expired) {
        const run = id.split('/')[0]
        this.outcome.set(run, 'timed out')
        this.engine.removeOwner(run)
      }
      if (expired.length < 100) return
    }
  }
}

const order = (name: string, orderId: string): Event => ({ name, data: { orderId } })

const store = process.argv[2] ?? join(mkdtempSync(join(tmpdir(), 'celmatch-runner-')), 'runner.db')
const runner = new Runner(store, T0)
const queue = [...Array.from({ length: 6 }, (_, i) => order('app/order.created', `o${i}`)), order('app/order.created', 'o1')]
queue.push(order('app/order.paid', 'o0'), order('app/order.cancelled', 'o1'))
for (const e of queue) runner.handle(e)
runner.restart() // ---- the process restarts here; the store holds everything ----
assert.equal(runner.engine.size, 2 * 4)
for (const e of [order('app/order.paid', 'o2'), order('app/order.paid', 'o9'), order('app/order.cancelled', 'o3')]) runner.handle(e)
runner.handle(order('app/order.created', 'o2')) // the claim survived the restart
runner.engine.advance(8 * DAY)
runner.tick()
assert.deepEqual(Object.fromEntries(runner.outcome), {
  'run-o0': 'paid',
  'run-o1': 'cancelled',
  'run-o2': 'paid',
  'run-o3': 'cancelled',
  'run-o4': 'timed out',
  'run-o5': 'timed out',
})
assert.equal(runner.engine.size, 0)
runner.engine.close()
for (const [run, state] of [...runner.outcome].sort()) console.log(`${run}: ${state}`)
