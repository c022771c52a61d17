// processAsync / processManyAsync: matching on the libuv thread pool, same answers as process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Engine } from './helpers.mjs'

test('processAsync fires what process would, off the JS thread', async () => {
  const eng = new Engine()
  for (let i = 0; i < 100; i++) eng.addWait({ id: `w${i}`, event: 'e', if: `async.data.n == ${i}`, owner: `r${i % 3}` })
  assert.deepEqual(await eng.processAsync({ name: 'e', data: { n: 5 } }), [{ id: 'w5', kind: 'wait', owner: 'r2' }])
  assert.deepEqual(await eng.processAsync('{"name":"e","data":{"n":6}}'), [{ id: 'w6', kind: 'wait', owner: 'r0' }])
  // Many at once, all for the same wait: exactly one of them fires it.
  const all = await Promise.all(Array.from({ length: 32 }, () => eng.processAsync({ name: 'e', data: { n: 7 } })))
  assert.equal(all.flat().length, 1)
  await assert.rejects(eng.processAsync({ data: {} }), { code: 'invalid_event' })
})

test('processManyAsync reports per event, as processMany does', async () => {
  const eng = new Engine()
  eng.addWait({ id: 'a', event: 'e', if: 'async.data.n == 1' })
  eng.addWait({ id: 'b', event: 'e', if: 'async.data.n == 2' })
  assert.deepEqual(await eng.processManyAsync([{ name: 'e', data: { n: 1 } }, { name: 'e', data: { n: 3 } }]), [[{ id: 'a', kind: 'wait' }], []])
  await assert.rejects(eng.processManyAsync(['garbage', { name: 'e', data: { n: 2 } }]), (err) => {
    assert.equal(err.code, 'invalid_event')
    assert.equal(err.index, 0)
    assert.deepEqual(err.results, [null, [{ id: 'b', kind: 'wait' }]])
    return true
  })
})
