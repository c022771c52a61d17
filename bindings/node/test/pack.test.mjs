// The packed tarball: install it into a fresh project (no build step, no install scripts)
// and use it from ESM, CommonJS and TypeScript. The tarball is `npm pack` of this source tree,
// or CELMATCH_NODE_TARBALL (the one dist/build.sh made).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pkgDir } from './helpers.mjs'
import { tsc } from './types.test.mjs'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))

test('npm pack → npm install ./celmatch-<version>.tgz → import (ESM, CJS, TS)', { timeout: 300_000 }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'celmatch-pack-'))
  try {
    const spec = process.env.CELMATCH_NODE_TARBALL ? [path.resolve(process.env.CELMATCH_NODE_TARBALL)] : []
    const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', tmp, ...spec], { cwd: pkgDir, encoding: 'utf8' }))
    const { filename, files } = packed[0]
    assert.equal(filename, `celmatch-${pkg.version}.tgz`)
    const names = files.map((f) => f.path).sort()
    assert.ok(names.some((n) => /^celmatch\.[a-z0-9]+-[a-z0-9]+(-[a-z0-9]+)?\.node$/.test(n)), `no addon in ${names}`)
    for (const n of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'package.json']) assert.ok(names.includes(n), `${n} missing`)
    assert.ok(!names.some((n) => n.startsWith('src/') || n === 'Cargo.toml' || n.startsWith('test/')), `sources packed: ${names}`)

    const app = path.join(tmp, 'app')
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    execFileSync(npm, ['install', '--no-audit', '--no-fund', '--offline', path.join(tmp, filename)], { cwd: app, encoding: 'utf8' })
    const installed = path.join(app, 'node_modules', 'celmatch')
    assert.ok(fs.existsSync(path.join(installed, 'package.json')))
    assert.ok(!fs.existsSync(path.join(installed, 'target')), 'something was built at install time')

    const script = `
      eng.addWait({ id: 'w', event: 'app/paid', if: 'async.data.id == "o1"', timeout: '30m' })
      const fired = eng.process({ name: 'app/paid', data: { id: 'o1' } })
      let code
      try { eng.compile('async.data.a ==') } catch (e) { code = e.code + '@' + e.line }
      console.log(JSON.stringify({ fired, code, size: eng.size }))`
    fs.writeFileSync(path.join(app, 'esm.mjs'), `import { Engine } from 'celmatch'\nimport def from 'celmatch'\nconst eng = new Engine({ dialect: 'strict' })\nif (def.Engine !== Engine) throw new Error('default export differs')\n${script}`)
    fs.writeFileSync(path.join(app, 'cjs.cjs'), `const { Engine } = require('celmatch')\nconst eng = new Engine({ dialect: 'strict' })\n${script}`)
    const want = { fired: [{ id: 'w', kind: 'wait' }], code: 'parse_error@1', size: 0 }
    for (const f of ['esm.mjs', 'cjs.cjs']) {
      const r = spawnSync(process.execPath, [f], { cwd: app, encoding: 'utf8' })
      assert.equal(r.status, 0, `${f}: ${r.stderr}`)
      assert.deepEqual(JSON.parse(r.stdout), want, f)
    }

    // TypeScript consumers, ESM and CJS, resolve the shipped declarations.
    fs.writeFileSync(path.join(app, 'use.mts'), `import { Engine, type Fired } from 'celmatch'\nconst f: Fired[] = new Engine().process({ name: 'e' })\nvoid f\n`)
    fs.writeFileSync(path.join(app, 'use.cts'), `import celmatch = require('celmatch')\nconst f: celmatch.Fired[] = new celmatch.Engine().process('{"name":"e"}')\nvoid f\n`)
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: [] }, files: ['use.mts', 'use.cts'] })
    )
    const r = spawnSync(process.execPath, [tsc, '-p', app], { cwd: app, encoding: 'utf8' })
    assert.equal(r.status, 0, `tsc in the consumer:\n${r.stdout}${r.stderr}`)
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
})
