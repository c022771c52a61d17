// Durable engines: Engine.open / save / close, bad stores, and a kill -9 test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { Engine, testedDir } from './helpers.mjs'

const T0 = Date.UTC(2025, 0, 1)
const tmp = () => mkdtempSync(join(tmpdir(), 'celmatch-durable-'))

test('open, reopen, close', () => {
  const path = join(tmp(), 'store.db')
  const eng = Engine.open(path, { now: T0 })
  assert.equal(eng.durable, true)
  eng.addWait({ id: 'w1', event: 'app/paid', if: 'async.data.order == event.data.order', trigger: { data: { order: 'o1' } }, owner: 'run-1', timeout: '1h' })
  eng.addMany(Array.from({ length: 10 }, (_, i) => ({ id: `b${i}`, event: 'app/b', if: `async.data.n == ${i}`, owner: 'run-2' })))
  assert.equal(eng.claim('cart', 'c1', '1h'), true)
  assert.deepEqual(eng.process({ name: 'app/b', data: { n: 3 } }), [{ id: 'b3', kind: 'wait', owner: 'run-2' }])
  assert.equal(eng.removeOwner('run-2'), 9)
  assert.throws(() => Engine.open(path), { code: 'store_locked' })
  eng.close()
  assert.throws(() => eng.process({ name: 'app/b' }), { code: 'engine_closed' })
  const again = Engine.open(path, { now: T0, durability: 'power' })
  assert.deepEqual([...again].map((s) => s.id), ['w1'])
  assert.equal(again.claim('cart', 'c1', '1h'), false)
  assert.deepEqual(again.process({ name: 'app/paid', data: { order: 'o1' } }), [{ id: 'w1', kind: 'wait', owner: 'run-1' }])
  again.close()
})

test('save and bad stores', () => {
  const dir = tmp()
  const eng = new Engine()
  eng.addWait({ id: 'w', event: 'app/e', if: 'async.data.k == 1' })
  eng.save(join(dir, 'saved.db'))
  const back = Engine.open(join(dir, 'saved.db'))
  assert.equal(back.has('w'), true)
  back.close()
  writeFileSync(join(dir, 'junk.db'), Buffer.alloc(8192, 0x5a))
  assert.throws(() => Engine.open(join(dir, 'junk.db')), { code: 'corrupt_store' })
  assert.throws(() => Engine.open(join(dir, 'no', 'dir', 'x.db')), { code: 'io_error' })
  assert.throws(() => Engine.open(join(dir, 'x.db'), { durability: 'sometimes' }), { code: 'invalid_config' })
})

const CHILD = `
const { Engine } = require(${JSON.stringify(join(testedDir, 'index.js'))})
const [path, seed] = process.argv.slice(1)
const eng = Engine.open(path)
// Synchronous writes: a line is in the pipe before the next operation starts (process.stdout
// may buffer, and a buffered acknowledgment never reaches the parent).
const say = (l) => require('node:fs').writeSync(1, l + '\\n')
const added = []
let x = Number(seed) * 7919 + 1
const rand = () => (x = (x * 48271) % 2147483647) / 2147483647
for (let i = 1; ; i++) {
  const id = 's' + seed + '-' + i
  const r = rand()
  if (r < 0.5 || added.length === 0) {
    say('do add'); eng.addWait({ id, event: 'app/e', if: 'async.data.seed == ' + seed + ' && async.data.k == ' + i }); added.push(i); say('add ' + id)
  } else {
    const k = added[Math.floor(rand() * added.length)]
    say('do end s' + seed + '-' + k)
    for (const f of eng.process({ name: 'app/e', data: { seed: Number(seed), k } })) say('end ' + f.id)
  }
  say('done')
}
`

test('killed at random moments, nothing acknowledged is lost', async () => {
  const path = join(tmp(), 'crash.db')
  let pending = new Set()
  const ended = new Set()
  for (let seed = 0; seed < 5; seed++) {
    const child = spawn(process.execPath, ['-e', CHILD, path, String(seed)], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    await new Promise((r) => setTimeout(r, 300 + seed * 40))
    child.kill('SIGKILL')
    await new Promise((r) => child.on('close', r))
    let inFlight = null
    for (const line of out.split('\n')) {
      const p = line.split(' ')
      if (p[0] === 'do') inFlight = p
      else if (line === 'done') inFlight = null
      else if (p[0] === 'add' && p.length === 2) pending.add(p[1])
      else if (p[0] === 'end' && p.length === 2) (pending.delete(p[1]), ended.add(p[1]))
    }
    const eng = Engine.open(path)
    const present = new Set([...eng].map((s) => s.id))
    eng.close()
    const maybe = inFlight && inFlight[1] === 'end' ? inFlight[2] : null
    for (const id of pending) assert.ok(present.has(id) || id === maybe, `kill ${seed}: acknowledged ${id} lost`)
    for (const id of ended) assert.ok(!present.has(id), `kill ${seed}: ended ${id} came back`)
    pending = present
  }
})
