// Listing what is registered: get, has, list, iteration, subscriptionsOf, and bounded expiry.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Engine } from './helpers.mjs'

const T0 = Date.UTC(2025, 0, 1)

test('get returns the subscription as registered, and it adds back', () => {
  const eng = new Engine({ now: T0 })
  eng.addWait({
    id: 'w1',
    event: 'app/paid',
    if: 'event.data.order == async.data.order && async.data.status == "paid"',
    trigger: { name: 'app/ordered', data: { order: 'o-1', unused: [1, 2] } },
    owner: 'run-1',
    timeout: '1m',
  })
  eng.addCancel({ id: 'c1', event: 'app/user.deleted', notBefore: T0, owner: 'run-1', excludeEventId: 'e0' })
  const w = eng.get('w1')
  assert.deepEqual(w, {
    id: 'w1',
    kind: 'wait',
    event: 'app/paid',
    if: 'event.data.order == async.data.order && async.data.status == "paid"',
    trigger: { data: { order: 'o-1' } },
    owner: 'run-1',
    deadline: T0 + 60_000,
  })
  assert.deepEqual(eng.get('c1'), { id: 'c1', kind: 'cancel', event: 'app/user.deleted', owner: 'run-1', not_before: T0, exclude_event_id: 'e0' })
  assert.equal(eng.get('nobody'), null)
  assert.equal(eng.has('w1'), true)
  assert.equal(eng.has('nobody'), false)

  // A record from get is an addMany record: a fresh engine behaves the same.
  const copy = new Engine({ now: T0 })
  copy.addMany([w])
  assert.deepEqual(copy.process({ name: 'app/paid', data: { order: 'o-1', status: 'paid' } }), [{ id: 'w1', kind: 'wait', owner: 'run-1' }])
})

test('list, iteration and subscriptionsOf', () => {
  const eng = new Engine()
  for (let i = 0; i < 2500; i++) eng.addWait({ id: `w${i}`, event: 'app/e', if: `async.data.n == ${i}`, owner: `run-${i % 3}` })
  const ids = new Set([...eng].map((s) => s.id))
  assert.equal(ids.size, 2500)
  assert.ok(ids.has('w0') && ids.has('w2499'))
  assert.equal(eng.list().length, 2500)
  const page = eng.listPage(0, 10)
  assert.equal(page.subscriptions.length, 10)
  assert.equal(typeof page.next, 'number')
  const mine = eng.subscriptionsOf('run-1')
  assert.equal(mine.length, 833)
  assert.ok(mine.every((s) => s.owner === 'run-1'))
  assert.deepEqual(eng.subscriptionsOf('nobody'), [])
  assert.equal(eng.removeOwner('run-1'), 833)
  assert.deepEqual(eng.subscriptionsOf('run-1'), [])
})

test('expire in bounded batches', () => {
  const eng = new Engine({ now: T0 })
  for (let i = 0; i < 10; i++) eng.addWait({ id: `w${i}`, event: 'app/e', timeout: (i + 1) * 1000 })
  const batches = []
  for (;;) {
    const batch = eng.expire(T0 + 100_000, 4)
    batches.push(batch)
    if (batch.length < 4) break
  }
  assert.deepEqual(batches, [['w0', 'w1', 'w2', 'w3'], ['w4', 'w5', 'w6', 'w7'], ['w8', 'w9']])
  assert.equal(eng.size, 0)
  assert.throws(() => eng.expire(null, -1), { code: 'invalid_argument' })
})
