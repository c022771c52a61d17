// The generated index.d.ts type-checks the README example (ESM and CJS) with tsc --noEmit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pkgDir, testedDir } from './helpers.mjs'

export const tsc = path.join(pkgDir, 'node_modules', 'typescript', 'bin', 'tsc')

test('index.d.ts is generated and declares the API', () => {
  const dts = fs.readFileSync(path.join(testedDir, 'index.d.ts'), 'utf8')
  for (const s of [
    'export declare class Engine',
    'constructor(options?: EngineOptions)',
    'addWait(wait: WaitInput): Fired | null',
    'process(event: EventInput): Fired[]',
    'processMany(events: EventInput[]): Fired[][]',
    'get size(): number',
    "kind: 'wait' | 'cancel'",
  ]) {
    assert.ok(dts.includes(s), `index.d.ts lacks ${s}`)
  }
})

test('tsc --noEmit on test/types (ESM and CJS examples) and the README quickstart', () => {
  const dir = path.join(pkgDir, 'test', 'types')
  const readme = fs.readFileSync(path.join(pkgDir, 'README.md'), 'utf8')
  const quickstart = /```ts\n([\s\S]*?)```/.exec(readme)
  assert.ok(quickstart, 'README.md has no ```ts block')
  const files = {
    'readme.generated.mts': `// Extracted from README.md by types.test.mjs.\n${quickstart[1]}\nexport {}\n`,
    'tsconfig.generated.json': JSON.stringify({ extends: './tsconfig.json', files: ['example.mts', 'example.cts', 'readme.generated.mts'] }),
  }
  try {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.generated.json')], { encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`)
  } finally {
    for (const name of Object.keys(files)) fs.rmSync(path.join(dir, name), { force: true })
  }
})
