// The Engine API as Node callers use it: subscriptions, events, time, keys, claims, introspection.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Engine } from './helpers.mjs'

const T0 = Date.UTC(2025, 0, 1) // a fixed "now" for manual-clock engines
const MIN = 60_000
const DAY = 86_400_000

test('a wait fires once, for the matching event only', () => {
  const eng = new Engine({ dialect: 'strict' })
  assert.equal(eng.addWait({ id: 'w1', event: 'app/order.paid', if: 'async.data.id == "o1"', owner: 'run-1' }), null)
  assert.equal(eng.size, 1)
  assert.deepEqual(eng.process({ name: 'app/order.paid', data: { id: 'o2' } }), [])
  assert.deepEqual(eng.process({ name: 'app/other', data: { id: 'o1' } }), [])
  assert.deepEqual(eng.process({ name: 'app/order.paid', data: { id: 'o1' } }), [{ id: 'w1', kind: 'wait', owner: 'run-1' }])
  assert.equal(eng.size, 0)
  assert.deepEqual(eng.process({ name: 'app/order.paid', data: { id: 'o1' } }), [])
})

test('Fired has no owner property when the subscription has none', () => {
  const eng = new Engine()
  eng.addWait({ id: 'w', event: 'e' })
  const [f] = eng.process({ name: 'e' })
  assert.deepEqual(Object.keys(f).sort(), ['id', 'kind'])
})

test('events as objects and as JSON text behave the same', () => {
  const eng = new Engine()
  for (let i = 0; i < 4; i++) eng.addWait({ id: `w${i}`, event: 'e', if: `async.data.n == ${i}` })
  assert.deepEqual(eng.process('{"name":"e","data":{"n":1}}'), [{ id: 'w1', kind: 'wait' }])
  assert.deepEqual(eng.process({ name: 'e', data: { n: 2 } }), [{ id: 'w2', kind: 'wait' }])
  assert.deepEqual(eng.processMany([{ name: 'e', data: { n: 0 } }, '{"name":"e","data":{"n":3}}', { name: 'e' }]), [
    [{ id: 'w0', kind: 'wait' }],
    [{ id: 'w3', kind: 'wait' }],
    [],
  ])
})

test('the trigger binds event.* when the wait is added', () => {
  const eng = new Engine()
  eng.addWait({ id: 'w', event: 'app/approved', if: 'async.data.order == event.data.order', trigger: { name: 'app/created', data: { order: 42 } } })
  assert.equal(eng.compile('async.data.order == 42').shape, eng.explain('w').shape)
  assert.deepEqual(eng.process({ name: 'app/approved', data: { order: 41 } }), [])
  assert.deepEqual(eng.process({ name: 'app/approved', data: { order: 42 } }), [{ id: 'w', kind: 'wait' }])
})

test('waits and cancellations fire in registration order; removeOwner and remove', () => {
  const eng = new Engine()
  eng.addWait({ id: 'a', event: 'e', owner: 'r1' })
  eng.addCancel({ id: 'b', event: 'e', owner: 'r2' })
  eng.addWait({ id: 'c', event: 'e', owner: 'r1' })
  eng.addWait({ id: 'd', event: 'other', owner: 'r1' })
  assert.equal(eng.remove('c'), true)
  assert.equal(eng.remove('c'), false)
  assert.deepEqual(eng.process({ name: 'e' }).map((f) => `${f.id}:${f.kind}`), ['a:wait', 'b:cancel'])
  assert.equal(eng.removeOwner('r1'), 1)
  assert.equal(eng.removeOwner('r1'), 0)
  assert.equal(eng.size, 0)
})

test('cancelRemovesOwner: a firing cancellation removes its owner\'s other subscriptions', () => {
  for (const cancelRemovesOwner of [false, true]) {
    const eng = new Engine({ cancelRemovesOwner })
    eng.addWait({ id: 'w', event: 'app/step', owner: 'run' })
    eng.addCancel({ id: 'c', event: 'app/cancel', owner: 'run' })
    assert.deepEqual(eng.process({ name: 'app/cancel' }), [{ id: 'c', kind: 'cancel', owner: 'run' }])
    assert.equal(eng.size, cancelRemovesOwner ? 0 : 1)
  }
})

test('timeouts: durations as strings or ms, deadlines as ms, Date or RFC 3339; expire(now?)', () => {
  const eng = new Engine({ now: T0 })
  eng.addWait({ id: 'm30', event: 'e', timeout: '30m' })
  eng.addWait({ id: 'd2.5', event: 'e', timeout: '2.5d' })
  eng.addWait({ id: 'd7', event: 'e', timeout: '7d' })
  eng.addWait({ id: 'ms', event: 'e', timeout: 90_000 })
  eng.addCancel({ id: 'date', event: 'e', deadline: new Date(T0 + 3 * DAY) })
  eng.addCancel({ id: 'rfc', event: 'e', deadline: new Date(T0 + 4 * DAY).toISOString() })
  eng.addWait({ id: 'epoch', event: 'e', deadline: T0 + 5 * DAY })
  assert.deepEqual(eng.expire(), [])
  assert.deepEqual(eng.expire(T0 + 30 * MIN - 1), ['ms'])
  assert.deepEqual(eng.expire(new Date(T0 + 30 * MIN)), ['m30'])
  eng.setNow(T0 + 3 * DAY)
  assert.equal(eng.now, T0 + 3 * DAY)
  assert.deepEqual(eng.expire(), ['d2.5', 'date'])
  eng.advance('2d')
  assert.deepEqual(eng.expire(), ['rfc', 'epoch'])
  assert.deepEqual(eng.expire(new Date(T0 + 7 * DAY).toISOString()), ['d7'])
  assert.equal(eng.size, 0)
})

test('an expired subscription no longer fires even before expire() runs', () => {
  const eng = new Engine({ now: T0 })
  eng.addWait({ id: 'w', event: 'e', timeout: '1m' })
  eng.advance(MIN)
  assert.deepEqual(eng.process({ name: 'e' }), [])
})

test('notBefore (camelCase or snake_case) and excludeEventId', () => {
  const eng = new Engine({ now: T0 })
  eng.addWait({ id: 'nb', event: 'e', notBefore: new Date(T0) })
  eng.addMany([{ id: 'nb2', event: 'e', not_before: T0 }, { id: 'ex', event: 'e', exclude_event_id: 'evt-1' }])
  assert.deepEqual(eng.process({ name: 'e', id: 'evt-1', ts: T0 - 1 }).map((f) => f.id), [])
  assert.deepEqual(eng.process({ name: 'e', id: 'evt-2', ts: T0 - 1 }).map((f) => f.id), ['ex'])
  assert.deepEqual(eng.process({ name: 'e', id: 'evt-3', ts: T0 }).map((f) => f.id), ['nb', 'nb2'])
})

test('lookback: a wait added after its event fires at once from the buffer', () => {
  const eng = new Engine({ now: T0, lookback: { maxAgeMs: '10m', maxEvents: 100, maxBytes: 1 << 20 } })
  eng.process({ name: 'app/paid', data: { id: 'o1' }, ts: T0 - MIN })
  assert.deepEqual(eng.addWait({ id: 'late', event: 'app/paid', if: 'async.data.id == "o1"', lookback: '5m', owner: 'r' }), {
    id: 'late',
    kind: 'wait',
    owner: 'r',
  })
  assert.equal(eng.size, 0)
  assert.equal(eng.addWait({ id: 'other', event: 'app/paid', if: 'async.data.id == "o2"', lookback: 300_000 }), null)
  assert.deepEqual(eng.addMany([{ id: 'm', event: 'app/paid', lookback: '5m' }, { id: 'n', event: 'app/x', lookback: '5m' }]), [
    { id: 'm', kind: 'wait' },
    null,
  ])
  assert.equal(eng.stats().lookback_events, 1)
})

test('eventFields: CloudEvents and custom field names', () => {
  const ce = new Engine({ eventFields: 'cloudevents', now: T0 })
  ce.addWait({ id: 'w', event: 'com.example.paid', if: 'async.data.id == "x"', notBefore: T0 })
  assert.deepEqual(ce.process({ type: 'com.example.paid', id: '1', time: new Date(T0 - 1), data: { id: 'x' } }), [])
  assert.deepEqual(ce.process({ type: 'com.example.paid', id: '2', time: new Date(T0), data: { id: 'x' } }), [{ id: 'w', kind: 'wait' }])
  const custom = new Engine({ eventFields: { name: 'topic', id: 'key', time: 'at' } })
  custom.addWait({ id: 'w', event: 't', excludeEventId: 'k1' })
  assert.deepEqual(custom.process({ topic: 't', key: 'k1' }), [])
  assert.deepEqual(custom.process({ topic: 't', key: 'k2' }), [{ id: 'w', kind: 'wait' }])
})

test('Dates inside events reach CEL as RFC 3339 strings', () => {
  const eng = new Engine()
  eng.addWait({ id: 'w', event: 'e', if: 'timestamp(async.data.at) > timestamp("2024-01-01T00:00:00Z")' })
  assert.deepEqual(eng.process({ name: 'e', data: { at: new Date('2023-06-01T00:00:00Z') } }), [])
  assert.deepEqual(eng.process({ name: 'e', data: { at: new Date('2024-06-01T00:00:00Z') } }), [{ id: 'w', kind: 'wait' }])
})

test('undefined properties are ignored like JSON.stringify does', () => {
  const eng = new Engine()
  assert.equal(eng.addWait({ id: 'w', event: 'e', if: undefined, owner: undefined, timeout: undefined }), null)
  assert.deepEqual(eng.process({ name: 'e', data: undefined }), [{ id: 'w', kind: 'wait' }])
})

test('addMany: kinds, results, identical re-add is a no-op', () => {
  const eng = new Engine()
  const recs = [
    { id: 'a', event: 'e', if: 'async.data.x == 1' },
    { id: 'b', kind: 'cancel', event: 'e', owner: 'o' },
    { id: 'c', kind: 'wait', event: 'f', timeout: '1h' },
  ]
  assert.deepEqual(eng.addMany(recs), [null, null, null])
  assert.deepEqual(eng.addMany(recs), [null, null, null])
  assert.equal(eng.size, 3)
  assert.deepEqual(eng.addMany([]), [])
  const s = eng.stats()
  assert.equal(s.waits, 2)
  assert.equal(s.cancels, 1)
})

test('addWait / addCancel: the same id twice', () => {
  const eng = new Engine()
  eng.addWait({ id: 'x', event: 'e', if: 'async.data.a == 1' })
  assert.equal(eng.addWait({ id: 'x', event: 'e', if: 'async.data.a == 1' }), null)
  assert.throws(() => eng.addCancel({ id: 'x', event: 'e' }), { code: 'id_conflict' })
  assert.equal(eng.size, 1)
})

test('key() and claim()', () => {
  const eng = new Engine()
  assert.equal(eng.key('event.data.user.id', { name: 'e', data: { user: { id: 'u1' } } }), 'u1')
  assert.equal(eng.key('event.data.user', '{"name":"e","data":{"user":{"b":1,"a":2}}}'), '{"a":2,"b":1}')
  assert.equal(eng.key('event.data.n', { name: 'e', data: { n: null } }), null)
  assert.equal(eng.key('event.data.n > 3', { name: 'e', data: { n: 1 } }), null)
  assert.equal(eng.claim('idem', 'k1', 1000, T0), true)
  assert.equal(eng.claim('idem', 'k1', 1000, T0 + 999), false)
  assert.equal(eng.claim('other', 'k1', 1000, T0 + 999), true)
  assert.equal(eng.claim('idem', 'k1', '1s', new Date(T0 + 1000)), true)
  assert.equal(eng.claim('idem', 'k2', '30m'), true)
  assert.equal(eng.claim('idem', 'k2', '30m'), false)
})

test('compile(), explain(), stats(), size', () => {
  const eng = new Engine()
  const c = eng.compile('async.data.id == "x" && async.data.n > 5')
  assert.equal(c.shape, '(async.data.id == $0 && async.data.n > $1)')
  assert.deepEqual(c.params, ['x', 5])
  assert.equal(c.conjunctions.length, 1)
  assert.deepEqual(eng.compile('1 < 2').constant, true)

  eng.addWait({ id: 'w', event: 'e', if: 'async.data.id == "x"', owner: 'o' })
  const ex = eng.explain('w')
  assert.equal(ex.id, 'w')
  assert.deepEqual(ex.classes, ['eq'])
  assert.equal(ex.verdict, undefined)
  assert.equal(eng.explain('w', { name: 'e', data: { id: 'y' } }).verdict.fires, false)
  assert.equal(eng.explain('w', '{"name":"e","data":{"id":"x"}}').verdict.fires, true)
  assert.equal(eng.explain('nope'), null)

  const s = eng.stats()
  assert.equal(s.subscriptions, 1)
  assert.equal(s.by_class.eq, 1)
  assert.equal(typeof s.memory_bytes, 'number')

  assert.equal(eng.size, 1)
  let proto = Object.getPrototypeOf(eng)
  while (proto && !Object.getOwnPropertyDescriptor(proto, 'size')) proto = Object.getPrototypeOf(proto)
  const d = Object.getOwnPropertyDescriptor(proto, 'size')
  assert.equal(typeof d.get, 'function')
  assert.equal(d.set, undefined)
})

test('eval(): values as JS, both modes, trigger binding', () => {
  const strict = new Engine({ dialect: 'strict' })
  const lenient = new Engine({ dialect: 'lenient' })
  const ev = { name: 'e', data: { n: 2, s: 'ab', l: [1, 2] } }
  assert.equal(strict.eval('async.data.n * 2', ev), 4)
  assert.equal(strict.eval('async.data.s + "c"', ev), 'abc')
  assert.deepEqual(strict.eval('async.data.l.map(x, x * 10)', ev), [10, 20])
  assert.deepEqual(strict.eval('{"k": async.data.n}', ev), { k: 2 })
  assert.equal(strict.eval('async.data.n == event.data.n', ev, { data: { n: 2 } }), true)
  assert.equal(strict.eval('event.data.n', ev, undefined, 'key'), 2)
  assert.equal(strict.eval('9223372036854775807', ev), 9223372036854775807n)
  assert.equal(strict.evalJson('1.0', ev), '1.0')
  assert.equal(strict.evalJson('1', ev), '1')
  assert.throws(() => strict.eval('async.data.missing', ev), { code: 'no_such_key' })
  assert.equal(lenient.eval('async.data.missing', ev), null)
})

test('many subscriptions, one event: only the indexed match is returned', () => {
  const eng = new Engine()
  const ids = []
  for (let i = 0; i < 20_000; i++) ids.push({ id: `w${i}`, event: 'app/x', if: `async.data.id == "id-${i}"` })
  eng.addMany(ids)
  assert.equal(eng.size, 20_000)
  assert.deepEqual(eng.process({ name: 'app/x', data: { id: 'id-12345' } }), [{ id: 'w12345', kind: 'wait' }])
  assert.equal(eng.size, 19_999)
})

test('engines are independent', () => {
  const a = new Engine()
  const b = new Engine()
  a.addWait({ id: 'w', event: 'e' })
  assert.deepEqual(b.process({ name: 'e' }), [])
  assert.equal(a.size, 1)
})

test('the manual clock: now option as ms, Date or RFC 3339; system clock otherwise', () => {
  assert.equal(new Engine({ now: T0 }).now, T0)
  assert.equal(new Engine({ now: new Date(T0) }).now, T0)
  assert.equal(new Engine({ now: new Date(T0).toISOString() }).now, T0)
  const sys = new Engine().now
  assert.ok(Math.abs(sys - Date.now()) < 5_000)
})

test('lookback settings turn the buffer on with the same default count as Python', () => {
  const eng = new Engine({ lookback: { maxAgeMs: '5m' } })
  eng.process({ name: 'e', data: {} })
  assert.equal(eng.stats().lookback_events, 1)
  const off = new Engine({ lookback: { maxEvents: 0 } })
  off.process({ name: 'e', data: {} })
  assert.equal(off.stats().lookback_events, 0)
})
