// The engine inside worker_threads, and a clean process exit afterwards.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { pkgDir } from './helpers.mjs'

test('engines work in worker_threads and the process exits cleanly', () => {
  const r = spawnSync(process.execPath, [path.join(pkgDir, 'test', 'fixtures', 'workers.mjs')], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`)
  assert.equal(r.signal, null, `killed by ${r.signal} (hung?)\n${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1))
  assert.deepEqual(
    out.results.map((x) => [x.i, x.fired, x.size, x.code]),
    [1, 2, 3, 4].map((i) => [i, [`w${i}`], 4999, 'invalid_event'])
  )
  assert.deepEqual(out.cjs, { same: true, size: 0 })
  assert.deepEqual(out.main, [{ id: 'main', kind: 'wait' }])
})
