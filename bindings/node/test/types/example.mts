// The README quickstart, type-checked against the generated index.d.ts (ESM import).
import { Engine, type Fired, type CelmatchError, type EngineOptions, type CompileInfo } from 'celmatch'

const options: EngineOptions = {
  dialect: 'strict',
  lookback: { maxAgeMs: '10m', maxEvents: 1000, maxBytes: 1 << 20 },
  limits: { maxExprBytes: 4096 },
  eventFields: 'cloudevents',
  cancelRemovesOwner: true,
}
const eng = new Engine(options)
const eng2 = new Engine({ eventFields: { name: 'name', id: 'id', time: 'ts' } })
new Engine()

const info: CompileInfo = eng.compile('async.data.id == "o1"')
const shape: string = info.shape

const hit: Fired | null = eng.addWait({
  id: 'wait-1',
  event: 'app/invoice.paid',
  if: 'async.data.invoice == event.data.invoice',
  trigger: { name: 'app/invoice.created', data: { invoice: 'inv-1' } },
  owner: 'run-1',
  timeout: '7d',
  lookback: '5m',
})
eng.addCancel({ id: 'cancel-1', event: 'app/run.cancelled', owner: 'run-1', deadline: new Date(), notBefore: Date.now() })
eng.addMany([
  { id: 'a', event: 'e', kind: 'cancel', not_before: '2025-01-01T00:00:00Z' },
  { id: 'b', event: 'e', timeout: 90_000 },
])

const fired: Fired[] = eng.process({ name: 'app/invoice.paid', data: { invoice: 'inv-1' } })
for (const f of fired) {
  const kind: 'wait' | 'cancel' = f.kind
  const owner: string | undefined = f.owner
  void kind, owner
}
const batches: Fired[][] = eng.processMany([{ name: 'x' }, '{"name":"y"}'])
const expired: string[] = eng.expire(new Date())
eng.expire()
const key: string | null = eng.key('event.data.user.id', { name: 'e', data: { user: { id: 'u' } } })
const first: boolean = eng.claim('idempotency', key ?? 'none', '24h')
const removed: boolean = eng.remove('wait-1')
const n: number = eng.removeOwner('run-1') + eng.size + eng.stats().subscriptions
const why = eng.explain('cancel-1', { name: 'app/run.cancelled' })
const fires: boolean | undefined = why?.verdict?.fires
const v: unknown = eng.eval('async.data.n + 1', { name: 'e', data: { n: 1 } }, null, 'condition')

try {
  eng.compile('async.data.a ==')
} catch (e) {
  const err = e as CelmatchError
  const where: string = `${err.code} at ${err.line}:${err.column}`
  void where
}

// Wrong use is rejected by the types.
// @ts-expect-error: size is a getter, not a method
eng.size()
// @ts-expect-error: id must be a string
eng.addWait({ id: 1, event: 'e' })
// @ts-expect-error: event is required
eng.addCancel({ id: 'c' })
// @ts-expect-error: unknown dialect
new Engine({ dialect: 'loose' })
// @ts-expect-error: lookback is for waits only
eng.addCancel({ id: 'c', event: 'e', lookback: '5m' })
// @ts-expect-error: the event is an object or JSON text
eng.process(42)

void [eng2, shape, hit, batches, expired, first, removed, n, fires, v]
