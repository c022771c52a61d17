// Benchmark: Engine.process() with 1,000,000 pending waits of the form
// `async.data.id == "<uuid>"`, events as objects and as JSON text, against the naive approach:
// evaluating every pending expression (precompiled with @bufbuild/cel) on each event, measured
// on a smaller N and scaled linearly to the same N.
//
//   npm run build && node bench/process.mjs [--n 1000000] [--events 20000] [--baseline-n 2000] [--baseline-events 200]
//
// Use a release build (`npm run build`); `npm run build:debug` numbers mean nothing.
import { randomUUID } from 'node:crypto'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { celEnv, parse, plan } from '@bufbuild/cel'
import { Engine } from '../index.js'

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    events: { type: 'string', default: '20000' },
    'baseline-n': { type: 'string', default: '2000' },
    'baseline-events': { type: 'string', default: '200' },
  },
})
const N = Number(opt.n)
const EVENTS = Number(opt.events)
const BN = Number(opt['baseline-n'])
const BEVENTS = Number(opt['baseline-events'])
const NAME = 'app/order.paid'

const now = () => process.hrtime.bigint()
const ms = (t0, t1) => Number(t1 - t0) / 1e6
const fmt = (x, d = 2) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const expr = (id) => `async.data.id == "${id}"`
const event = (id, i) => ({ name: NAME, id: `evt-${i}`, ts: 1_700_000_000_000 + i, data: { id, amount: 1999, currency: 'EUR', customer: { id: `c-${i % 977}`, tier: 'gold' } } })

console.log(`celmatch process() benchmark — node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.cpus().length}, ${os.platform()}-${os.arch()}`)

// ---- celmatch: N pending waits -------------------------------------------------------------
const ids = Array.from({ length: N }, () => randomUUID())
const rss0 = process.memoryUsage().rss
const eng = new Engine({ dialect: 'strict' })
let t0 = now()
const CHUNK = 10_000
for (let i = 0; i < N; i += CHUNK) {
  const recs = []
  for (let j = i; j < Math.min(N, i + CHUNK); j++) recs.push({ id: `wait-${j}`, event: NAME, if: expr(ids[j]), owner: `run-${j}` })
  eng.addMany(recs)
}
let t1 = now()
const addMs = ms(t0, t1)
const stats = eng.stats()
console.log(`\nadded ${fmt(N, 0)} waits in ${fmt(addMs / 1000)} s (${fmt(N / (addMs / 1000), 0)}/s); engine's estimate ${fmt(stats.memory_bytes / 2 ** 20, 0)} MiB, RSS +${fmt((process.memoryUsage().rss - rss0) / 2 ** 20, 0)} MiB, classes ${JSON.stringify(stats.by_class)}`)

// Events: half hit a pending wait (each a different one, so every hit fires exactly once),
// half miss (unknown ids).
function makeEvents(offset) {
  const evs = []
  for (let i = 0; i < EVENTS; i++) evs.push(event(i % 2 === 0 ? ids[offset + i / 2] : randomUUID(), offset + i))
  return evs
}
function measure(label, evs, process) {
  for (let i = 0; i < Math.min(200, evs.length); i++) process(i % 2 ? evs[i] : makeWarm()) // warm-up, no hits
  const t0 = now()
  let fired = 0
  for (const e of evs) fired += process(e).length
  const t1 = now()
  const total = ms(t0, t1)
  const perEventUs = (total * 1000) / evs.length
  console.log(`${label.padEnd(34)} ${fmt(perEventUs)} µs/event   ${fmt(evs.length / (total / 1000), 0).padStart(9)} events/s   fired ${fired}`)
  if (fired !== evs.length / 2) throw new Error(`expected ${evs.length / 2} fired, got ${fired}`)
  return perEventUs
}
const warmId = randomUUID()
const makeWarm = () => event(warmId, -1)

const objEvents = makeEvents(0)
const strEvents = makeEvents(EVENTS).map((e) => JSON.stringify(e))
console.log(`\nprocess() at N = ${fmt(eng.size, 0)} pending, ${fmt(EVENTS, 0)} events (50% fire one wait):`)
const objUs = measure('  object events', objEvents, (e) => eng.process(e))
const strUs = measure('  JSON-string events', strEvents, (e) => eng.process(e))
const batch = makeEvents(2 * EVENTS)
t0 = now()
let batchFired = 0
for (let i = 0; i < batch.length; i += 100) for (const r of eng.processMany(batch.slice(i, i + 100))) batchFired += r.length
t1 = now()
const manyUs = (ms(t0, t1) * 1000) / batch.length
console.log(`${'  processMany (batches of 100)'.padEnd(34)} ${fmt(manyUs)} µs/event   ${fmt(batch.length / (ms(t0, t1) / 1000), 0).padStart(9)} events/s   fired ${batchFired}`)

// ---- baseline: evaluate every expression per event ------------------------------------------
const env = celEnv()
const bIds = Array.from({ length: BN }, () => randomUUID())
t0 = now()
const programs = bIds.map((id) => plan(env, parse(expr(id))))
t1 = now()
const bCompileUs = (ms(t0, t1) * 1000) / BN
const bEvents = Array.from({ length: BEVENTS }, (_, i) => event(i % 2 === 0 ? bIds[(i * 7919) % BN] : randomUUID(), i))
for (const e of bEvents.slice(0, 20)) for (const p of programs) p({ async: e }) // warm-up
t0 = now()
let bFired = 0
for (const e of bEvents) {
  const ctx = { async: e }
  for (const p of programs) if (p(ctx) === true) bFired++
}
t1 = now()
if (bFired !== BEVENTS / 2) throw new Error(`baseline fired ${bFired}, expected ${BEVENTS / 2}`)
const bPerEventUs = (ms(t0, t1) * 1000) / BEVENTS
const bScaledUs = bPerEventUs * (N / BN)
console.log(`\nbaseline: @bufbuild/cel, every expression planned once, all evaluated per event`)
console.log(`  at N = ${fmt(BN, 0)}: ${fmt(bPerEventUs)} µs/event (${fmt((bPerEventUs * 1000) / BN, 1)} ns per expression); planning ${fmt(bCompileUs)} µs/expression`)
console.log(`  scaled to N = ${fmt(N, 0)}: ${fmt(bScaledUs / 1000)} ms/event (${fmt(1e6 / bScaledUs)} events/s)`)

const ratio = bScaledUs / objUs
console.log(`\nratio at N = ${fmt(N, 0)}: celmatch process() is ${fmt(ratio, 0)}x faster than evaluating each expression (object events); ${fmt(bScaledUs / strUs, 0)}x with JSON-string events`)
console.log(
  JSON.stringify({
    n: N,
    add_per_s: Math.round(N / (addMs / 1000)),
    rss_growth_mib: Math.round((process.memoryUsage().rss - rss0) / 2 ** 20),
    process_object_us: +objUs.toFixed(2),
    process_string_us: +strUs.toFixed(2),
    process_many_us: +manyUs.toFixed(2),
    baseline_n: BN,
    baseline_us_per_event_at_baseline_n: +bPerEventUs.toFixed(1),
    baseline_scaled_ms_per_event: +(bScaledUs / 1000).toFixed(1),
    ratio_object: Math.round(ratio),
    ratio_string: Math.round(bScaledUs / strUs),
  })
)
