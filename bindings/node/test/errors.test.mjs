// Errors: every failure is an Error with a string `code` (the core's code); compile errors
// carry `line` and `column`; no input crashes the process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Engine } from './helpers.mjs'

/** Asserts `fn` throws an `Error` with this code (and these extra properties). */
function throwsCode(fn, code, props = {}) {
  let err
  try {
    fn()
  } catch (e) {
    err = e
  }
  assert.ok(err, `expected ${code}, nothing thrown`)
  assert.ok(err instanceof Error, `not an Error: ${err}`)
  assert.equal(err.code, code, `code ${err.code} (${err.message}), want ${code}`)
  assert.equal(typeof err.message, 'string')
  assert.ok(err.message.length > 0)
  for (const [k, v] of Object.entries(props)) assert.deepEqual(err[k], v, `${k}`)
  return err
}

test('compile errors: codes with line and column', () => {
  const eng = new Engine({ limits: { maxExprBytes: 64, maxDepth: 8 } })
  const pe = throwsCode(() => eng.compile('async.data.a ==\n  )'), 'parse_error', { line: 2 })
  // The `)` is at column 3.
  assert.equal(pe.column, 3)
  throwsCode(() => eng.compile('nope.a == 1'), 'unknown_variable', { line: 1, column: 1 })
  throwsCode(() => eng.compile('async.data.a == 1 && frob(async.data.b)'), 'unknown_function', { line: 1 })
  throwsCode(() => eng.compile('event.data.a == 1'), 'unknown_variable')
  throwsCode(() => eng.compile(`async.data.s == "${'x'.repeat(100)}"`), 'too_long', { line: 1 })
  throwsCode(() => eng.compile('(((((((((((async.data.a)))))))))))'), 'too_deep')
  throwsCode(() => eng.addWait({ id: 'w', event: 'e', if: 'false' }), 'never_matches', { line: 1, column: 1 })
  throwsCode(() => eng.addWait({ id: 'w', event: 'e', if: '"str"' }), 'not_boolean', { line: 1, column: 1 })
  throwsCode(() => eng.addWait({ id: 'w', event: 'e', if: 'async.data.x == event.data.y', trigger: { data: {} } }), 'missing_trigger_field')
  const e = throwsCode(() => eng.addWait({ id: 'w', event: 'e', if: 'async.data.a = 1' }), 'parse_error')
  assert.equal(e.line, 1)
  assert.equal(eng.size, 0)
})

test('evaluation errors carry the evaluator code and no position', () => {
  const eng = new Engine()
  const e = throwsCode(() => eng.eval('1 / async.data.z', { name: 'e', data: { z: 0 } }), 'division_by_zero')
  assert.equal(e.line, undefined)
  throwsCode(() => eng.eval('async.data.nope', { name: 'e', data: {} }), 'no_such_key')
  throwsCode(() => eng.eval('async.data.l[5]', { name: 'e', data: { l: [] } }), 'index_out_of_range')
})

test('invalid events', () => {
  const eng = new Engine({ limits: { maxEventBytes: 1000, maxEventDepth: 5 } })
  eng.addWait({ id: 'w', event: 'e' })
  for (const bad of [42, null, undefined, true, Symbol('x'), () => 1, 10n, '{', 'not json', '[]', '"str"', [], {}, { name: 5 }, { data: {} }]) {
    throwsCode(() => eng.process(bad), 'invalid_event')
  }
  throwsCode(() => eng.process({ name: 'e', big: 'x'.repeat(2000) }), 'limit_exceeded')
  throwsCode(() => eng.process('{"name":"e","a":[[[[[[[]]]]]]]}'), 'limit_exceeded')
  throwsCode(() => eng.key('event.name', 42), 'invalid_event')
  throwsCode(() => eng.explain('w', 'nope'), 'invalid_event')
  assert.equal(eng.size, 1, 'a bad event consumes nothing')
})

test('invalid subscriptions', () => {
  const eng = new Engine()
  for (const bad of [
    null,
    42,
    'x',
    [],
    {},
    { id: 'a' },
    { event: 'e' },
    { id: 5, event: 'e' },
    { id: '', event: 'e' },
    { id: 'a', event: 'e', timeout: 'soon' },
    { id: 'a', event: 'e', timeout: true },
    { id: 'a', event: 'e', deadline: 'tomorrow' },
    { id: 'a', event: 'e', notBefore: {} },
    { id: 'a', event: 'e', trigger: 'str' },
    { id: 'a', event: 'e', if: 5 },
    { id: 'a', event: 'e', kind: 'cancel' },
    { id: 'a', event: 'e', kind: 'both' },
  ]) {
    throwsCode(() => eng.addWait(bad), 'invalid_subscription')
  }
  throwsCode(() => eng.addCancel({ id: 'c', event: 'e', lookback: '5m' }), 'invalid_subscription')
  throwsCode(() => eng.addCancel({ id: 'c', event: 'e', kind: 'wait' }), 'invalid_subscription')
  assert.equal(eng.size, 0)
})

test('addMany: bad records fail alone; the error lists them and carries every result', () => {
  const eng = new Engine()
  eng.addWait({ id: 'taken', event: 'e' })
  const err = throwsCode(
    () =>
      eng.addMany([
        { id: 'ok1', event: 'e' },
        { id: 'noevent' },
        { id: 'bad', event: 'e', if: 'async.data.a ==' },
        { id: 'taken', event: 'other' },
        { id: 'ok2', event: 'e', kind: 'cancel' },
      ]),
    'invalid_subscription',
    { index: 1 }
  )
  assert.deepEqual(
    err.errors.map((e) => [e.index, e.code]),
    [
      [1, 'invalid_subscription'],
      [2, 'parse_error'],
      [3, 'id_conflict'],
    ]
  )
  assert.equal(err.errors[1].line, 1)
  assert.equal(err.results.length, 5)
  assert.equal(eng.size, 3, 'taken, ok1 and ok2 are stored')
  throwsCode(() => eng.addMany('not an array'), 'invalid_argument')
  throwsCode(() => eng.addMany({ id: 'x', event: 'e' }), 'invalid_argument')
  throwsCode(() => eng.addMany([null]), 'invalid_subscription', { index: 0 })
})

test('processMany processes every valid event and reports the invalid ones (as Python does)', () => {
  const eng = new Engine()
  eng.addWait({ id: 'a', event: 'e', if: 'async.data.n == 1' })
  eng.addWait({ id: 'b', event: 'e', if: 'async.data.n == 2' })
  const err = throwsCode(() => eng.processMany([{ name: 'e', data: { n: 1 } }, 'garbage', { name: 'e', data: { n: 2 } }, { data: {} }]), 'invalid_event', {
    index: 1,
  })
  assert.deepEqual(err.results, [[{ id: 'a', kind: 'wait' }], null, [{ id: 'b', kind: 'wait' }], null])
  assert.deepEqual(
    err.errors.map((e) => [e.index, e.code]),
    [
      [1, 'invalid_event'],
      [3, 'invalid_event'],
    ]
  )
  assert.equal(eng.size, 0, 'the events after the bad one were processed')
  throwsCode(() => eng.processMany({ name: 'e' }), 'invalid_argument')
})

test('invalid options', () => {
  for (const bad of [
    42,
    'strict',
    { dialect: 'loose' },
    { dialect: 1 },
    { typo: true },
    { lookback: { maxEvents: -1 } },
    { lookback: { maxAgeMs: 'ages' } },
    { lookback: { maxItems: 3 } },
    { limits: { maxDepth: 1.5 } },
    { limits: { depth: 3 } },
    { eventFields: 'kafka' },
    { eventFields: { name: 1 } },
    { eventFields: { topic: 'x' } },
    { cancelRemovesOwner: 'yes' },
    { now: 'yesterday' },
    { lookback: { maxAgeMs: -1 } },
    { maxClaims: 1, max_claims: 2 },
    { durability: 'power' },
  ]) {
    throwsCode(() => new Engine(bad), 'invalid_config')
  }
  assert.ok(new Engine(undefined))
  assert.ok(new Engine(null))
  assert.ok(new Engine({}))
  assert.ok(new Engine({ dialect: undefined, lookback: null }))
})

test('options are read by the core: unknown keys are named, with the closest known one', () => {
  const message = (options) => {
    try {
      new Engine(options)
    } catch (e) {
      assert.equal(e.code, 'invalid_config')
      return e.message
    }
    assert.fail('no error')
  }
  assert.match(message({ dialcet: 'strict' }), /unknown key "dialcet" in the engine configuration; did you mean "dialect"\?/)
  assert.match(message({ lookback: { maxEvent: 3 } }), /"maxEvent" in lookback; did you mean "maxEvents"\?/)
  assert.match(message({ limits: { maxDepht: 3 } }), /"maxDepht" in limits; did you mean "maxDepth"\?/)
  assert.match(message({ eventFields: { nmae: 'topic' } }), /did you mean "name"\?/)
  assert.match(message({ cancelRemovesOwner: 'yes' }), /"cancelRemovesOwner" must be a boolean/)
  assert.match(message({ limits: { maxDepth: 1.5 } }), /"limits.maxDepth" must be a non-negative integer/)
  assert.match(message({ lookback: { maxAgeMs: -1 } }), /"lookback.maxAgeMs" must be non-negative milliseconds/)
  assert.match(message({ durability: 'power' }), /durability is an option of Engine.open/)
  // The core's canonical snake_case spellings are accepted too (one record shape everywhere).
  const eng = new Engine({ event_fields: 'cloudevents', cancel_removes_owner: true, lookback: { max_age: '1m', max_events: 5 } })
  eng.process({ type: 'e', data: {} })
  assert.equal(eng.stats().lookback_events, 1)
})

test('invalid arguments', () => {
  const eng = new Engine()
  throwsCode(() => eng.compile(5), 'invalid_argument')
  throwsCode(() => eng.compile(), 'invalid_argument')
  throwsCode(() => eng.remove(5), 'invalid_argument')
  throwsCode(() => eng.removeOwner({}), 'invalid_argument')
  throwsCode(() => eng.expire('later'), 'invalid_argument')
  throwsCode(() => eng.expire(new Date(NaN)), 'invalid_argument')
  throwsCode(() => eng.expire(Infinity), 'invalid_argument')
  throwsCode(() => eng.expire({}), 'invalid_argument')
  throwsCode(() => eng.claim('s', 'k', 'forever'), 'invalid_argument')
  throwsCode(() => eng.claim('s', 5, 100), 'invalid_argument')
  throwsCode(() => eng.eval('1', {}, undefined, 'sideways'), 'invalid_argument')
  throwsCode(() => eng.eval('1', {}, { data: {} }, 'key'), 'invalid_argument')
  throwsCode(() => eng.setNow(0), 'invalid_argument') // system clock
  throwsCode(() => eng.advance('1m'), 'invalid_argument')
  throwsCode(() => new Engine({ now: 0 }).advance('nope'), 'invalid_argument')
})

test('hostile values never crash the process', () => {
  const eng = new Engine({ lookback: { maxEvents: 10 } })
  eng.addWait({ id: 'keep', event: 'e' })
  const circular = { name: 'e' }
  circular.self = circular
  let deep = { name: 'e' }
  for (let i = 0; i < 100_000; i++) deep = { a: deep }
  const throwingGetter = {
    get name() {
      throw new Error('boom')
    },
  }
  const throwingToJSON = { toJSON() { throw new RangeError('nope') } }
  const proxy = new Proxy({}, { ownKeys() { throw new Error('trap') }, get() { throw new Error('trap') } })
  const values = [
    undefined, null, true, 0, -1, NaN, Infinity, -0, 1e308, 2 ** 53 + 1, 10n, Symbol('s'), () => {}, 'x', '', '\u0000',
    '\ud800', 'x'.repeat(2_000_000), '{"name":"e","data":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}', [], [1, [2]],
    {}, { name: 'e' }, circular, deep, throwingGetter, throwingToJSON, proxy, new Date(NaN), new Map([[1, 2]]), new Uint8Array(4),
    Object.create(null), new Error('e'), Promise.resolve(1), new WeakMap(),
  ]
  const methods = [
    (v) => eng.process(v),
    (v) => eng.processMany(v),
    (v) => eng.processMany([v]),
    (v) => eng.addWait(v),
    (v) => eng.addCancel(v),
    (v) => eng.addMany(v),
    (v) => eng.addMany([v]),
    (v) => eng.addWait({ id: 'x', event: 'e', if: v }),
    (v) => eng.addWait({ id: 'x2', event: 'e', trigger: v, if: 'event.data.a == async.data.a' }),
    (v) => eng.addWait({ id: 'x3', event: 'e', timeout: v }),
    (v) => eng.addWait({ id: 'x4', event: 'e', deadline: v }),
    (v) => eng.compile(v),
    (v) => eng.remove(v),
    (v) => eng.removeOwner(v),
    (v) => eng.expire(v),
    (v) => eng.key(v, { name: 'e' }),
    (v) => eng.key('event.name', v),
    (v) => eng.claim(v, 'k', 1),
    (v) => eng.claim('s', 'k', v),
    (v) => eng.claim('s', 'k', 1, v),
    (v) => eng.explain(v),
    (v) => eng.explain('keep', v),
    (v) => eng.eval(v, {}),
    (v) => eng.eval('1', v),
    (v) => eng.eval('event.data', {}, v),
    (v) => eng.eval('1', {}, undefined, v),
    (v) => new Engine(v),
    (v) => new Engine({ limits: v }),
    (v) => new Engine({ eventFields: v }),
  ]
  let threw = 0
  for (const m of methods) {
    for (const v of values) {
      try {
        m(v)
      } catch (e) {
        threw++
        assert.ok(e instanceof Error, `non-Error thrown: ${String(e)}`)
        assert.equal(typeof e.code, 'string', `no code on ${e.message}`)
      }
    }
  }
  assert.ok(threw > 500)
  // Still healthy afterwards.
  const before = eng.size
  eng.addWait({ id: 'after', event: 'z' })
  assert.equal(eng.size, before + 1)
  assert.deepEqual(eng.process({ name: 'z' }), [{ id: 'after', kind: 'wait' }])
})

test('misuse of the class is a TypeError, not a crash', () => {
  assert.throws(() => Engine(), TypeError)
  assert.throws(() => Engine.prototype.process.call({}, { name: 'e' }), TypeError)
  class Mine extends Engine {
    pending() {
      return this.size
    }
  }
  const m = new Mine()
  m.addWait({ id: 'w', event: 'e' })
  assert.equal(m.pending(), 1)
})
