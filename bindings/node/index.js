'use strict'
// Loads the compiled addon shipped in this package (`celmatch.<platform>-<arch>[-<abi>].node`,
// built by `npm run build`). Nothing is downloaded or built at install time.

const { readdirSync } = require('node:fs')
const { join } = require('node:path')

function isMusl() {
  if (process.platform !== 'linux') return false
  try {
    const report = process.report && process.report.getReport()
    return !(report && report.header && report.header.glibcVersionRuntime)
  } catch {
    return false
  }
}

function findAddon() {
  if (process.env.CELMATCH_NATIVE_PATH) return process.env.CELMATCH_NATIVE_PATH
  const prefix = `celmatch.${process.platform}-${process.arch}`
  const found = readdirSync(__dirname).filter((f) => f.endsWith('.node') && (f === `${prefix}.node` || f.startsWith(`${prefix}-`)))
  if (found.length > 1 && process.platform === 'linux') {
    const abi = isMusl() ? 'musl' : 'gnu'
    const preferred = found.find((f) => f.includes(`-${abi}`))
    if (preferred) return join(__dirname, preferred)
  }
  if (found.length > 0) return join(__dirname, found[0])
  const err = new Error(
    `celmatch: no compiled addon for ${process.platform}-${process.arch} in ${__dirname}. ` +
      'Build one with `npm run build` in bindings/node (needs Rust), or set CELMATCH_NATIVE_PATH.'
  )
  err.code = 'ERR_CELMATCH_NO_ADDON'
  throw err
}

const binding = require(findAddon())

/** The native class, behind a JS class so that calling it without `new` is a TypeError. */
class Engine extends binding.Engine {
  /** A durable engine (see the native `open`), with this class's methods. */
  static open(path, options) {
    return Object.setPrototypeOf(binding.Engine.open(path, options), Engine.prototype)
  }

  /** The pending subscriptions, read a page at a time (the engine is never held for long). */
  *[Symbol.iterator]() {
    let cursor = 0
    while (cursor !== null) {
      const page = this.listPage(cursor, 1024)
      yield* page.subscriptions
      cursor = page.next
    }
  }
}

module.exports.Engine = Engine
module.exports.Cluster = binding.Cluster
