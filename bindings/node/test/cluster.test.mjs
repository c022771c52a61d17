// Routing (the shared cases in tests/cases/routing) and the Cluster client against a
// redis-server of its own, with a `celmatch worker` process (the CLI built by cargo).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { Engine, casesDir, repoDir, testedDir } from './helpers.mjs'

const { Cluster } = createRequire(import.meta.url)(path.join(testedDir, 'index.js'))

const routingDir = path.join(casesDir, 'routing')
const routingFiles = fs.readdirSync(routingDir).filter((f) => f.endsWith('.json')).sort()

test('shared routing cases give the same slots', () => {
  const eng = new Engine()
  let ran = 0
  for (const f of routingFiles) {
    const doc = JSON.parse(fs.readFileSync(path.join(routingDir, f), 'utf8'))
    for (const c of doc.cases) {
      const call = () => ('subscription' in c ? eng.route(doc.routes, c.subscription) : eng.routeEvent(doc.routes, c.event))
      if ('error' in c) {
        assert.throws(call, (e) => e.code === c.error, `${f}: ${c.name}`)
      } else {
        assert.deepEqual(call(), c.slots === 'broadcast' ? null : c.slots, `${f}: ${c.name}`)
      }
      ran++
    }
  }
  assert.ok(ran >= 20, `only ${ran} routing cases`)
})

test('route rejects a bad routing table', () => {
  assert.throws(() => new Engine().route({ a: 'x..y' }, { id: 'w', event: 'a' }), (e) => e.code === 'invalid_subscription')
  assert.throws(() => new Engine().route({ a: 'x' }, { id: 'w', event: 'a', if: 'async.x ==' }), (e) => e.code === 'parse_error')
})

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function canConnect(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1')
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function cliPath() {
  const p = process.env.CELMATCH_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repoDir, 'target'), 'debug', 'celmatch')
  assert.ok(fs.existsSync(p), `no celmatch CLI at ${p} (cargo build -p celmatch-cli, or set CELMATCH_BIN)`)
  return p
}

test('Cluster: register, publish, a worker fires, outcomes', async () => {
  assert.equal(spawnSync('redis-server', ['--version']).status, 0, 'redis-server is not installed (tests/setup.sh installs it)')
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'celmatch-node-redis-'))
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  let worker
  try {
    for (let i = 0; !(await canConnect(port)); i++) {
      assert.ok(i < 500, 'redis-server did not start')
      await sleep(20)
    }
    const url = `redis://127.0.0.1:${port}/`
    const c = new Cluster(url, { prefix: 'js', ranges: 4, routes: { 'order.paid': 'data.orderId' } })
    assert.equal(c.ranges, 4)
    const trigger = { name: 'order.created', data: { orderId: 'o1' } }
    const w1 = { id: 'w1', event: 'order.paid', if: 'async.data.orderId == event.data.orderId', trigger, owner: 'r1' }
    assert.equal(c.add(w1), true)
    assert.equal(c.add(w1), false)
    assert.throws(() => c.add({ id: 'w1', event: 'order.paid' }), (e) => e.code === 'id_conflict')
    assert.throws(() => c.add({ id: 'bad', event: 'order.paid', if: 'async.data.orderId ==' }), (e) => e.code === 'parse_error')
    assert.equal(c.add({ id: 'c1', kind: 'cancel', event: 'order.refunded', owner: 'r1' }), true)
    assert.equal(c.add({ id: 't1', event: 'order.paid', if: "async.data.orderId == 'never'", timeout: 200 }), true)
    assert.equal(c.add({ id: 'gone', event: 'order.paid', if: "async.data.orderId == 'o1'" }), true)
    assert.equal(c.remove('gone'), true)
    assert.equal(c.remove('gone'), false)
    assert.equal(c.stats().subscriptions, 3)
    assert.match(c.publish({ name: 'order.paid', id: 'e1', data: { orderId: 'o1' } }), /^\d+-\d+$/)
    c.publish(JSON.stringify({ name: 'order.refunded', id: 'e2' }))
    assert.throws(() => c.publish({ data: {} }), (e) => e.code === 'invalid_event')
    worker = spawn(cliPath(), ['worker', '--redis', url, '--prefix', 'js', '--lease-ms', '500', '--id', 'jsw'], { stdio: 'ignore' })
    for (let i = 0; c.outcomes().length < 3 && i < 400; i++) await sleep(50)
    const got = c.outcomes().map((o) => `${o.id} ${o.outcome} ${o.event}`).sort()
    assert.deepEqual(got, ['c1 fired e2', 't1 expired ', 'w1 fired e1'])
    const o = c.outcomes().find((x) => x.id === 'w1')
    assert.equal(o.worker, 'jsw')
    assert.equal(o.record.owner, 'r1')
    const page = c.readOutcomes()
    assert.equal(page.outcomes.length, 3)
    assert.deepEqual(c.readOutcomes(page.cursor, 10), { outcomes: [], cursor: page.cursor })
    assert.equal(c.trimOutcomes(page.cursor), 3)
    assert.deepEqual(c.outcomes(), [])
    assert.throws(() => c.readOutcomes('nonsense'), (e) => e.code === 'invalid_argument')
    assert.equal(c.claim('idem', 'k', 10_000), true)
    assert.equal(c.claim('idem', 'k', 10_000), false)
    assert.throws(() => new Cluster(url, { prefix: 'js', ranges: 8 }), (e) => e.code === 'invalid_argument')
  } finally {
    worker?.kill('SIGKILL')
    redis.kill()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('Cluster: an unreachable server is redis_error', async () => {
  const port = await freePort()
  assert.throws(() => new Cluster(`redis://127.0.0.1:${port}/`), (e) => e.code === 'redis_error')
})
