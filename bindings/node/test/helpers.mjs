// Shared test helpers.
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import path from 'node:path'

export const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const repoDir = path.resolve(pkgDir, '..', '..')
export const casesDir = path.join(repoDir, 'tests', 'cases')
/**
 * The package under test: this source tree, or an installed copy (CELMATCH_NODE_PACKAGE, for
 * example `<project>/node_modules/celmatch` after `npm install celmatch-<version>.tgz`).
 */
export const testedDir = process.env.CELMATCH_NODE_PACKAGE ? path.resolve(process.env.CELMATCH_NODE_PACKAGE) : pkgDir
export const { Engine } = createRequire(import.meta.url)(path.join(testedDir, 'index.js'))

/**
 * A JSON parser that keeps what JSON.parse loses: the source span of every value (so an
 * event can be handed to the engine as its original text) and the spelling of numbers (so an
 * `int` 1 and a `double` 1.0 stay different). Nodes:
 *   { t: 'object', entries: [[key, node]], s, e } | { t: 'array', items, s, e }
 *   { t: 'number', raw, s, e } | { t: 'string' | 'boolean' | 'null', v, s, e }
 */
export function parseLossless(text) {
  let i = 0
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++
  }
  const fail = (what) => {
    throw new SyntaxError(`${what} at offset ${i}`)
  }
  const value = () => {
    ws()
    const s = i
    const c = text[i]
    if (c === '{') {
      i++
      const entries = []
      ws()
      if (text[i] === '}') return { t: 'object', entries, s, e: ++i }
      for (;;) {
        ws()
        const k = value()
        if (k.t !== 'string') fail('object key')
        ws()
        if (text[i++] !== ':') fail('expected :')
        entries.push([k.v, value()])
        ws()
        const d = text[i++]
        if (d === '}') return { t: 'object', entries, s, e: i }
        if (d !== ',') fail('expected , or }')
      }
    }
    if (c === '[') {
      i++
      const items = []
      ws()
      if (text[i] === ']') return { t: 'array', items, s, e: ++i }
      for (;;) {
        items.push(value())
        ws()
        const d = text[i++]
        if (d === ']') return { t: 'array', items, s, e: i }
        if (d !== ',') fail('expected , or ]')
      }
    }
    if (c === '"') {
      i++
      while (text[i] !== '"') {
        if (i >= text.length) fail('unterminated string')
        i += text[i] === '\\' ? 2 : 1
      }
      i++
      return { t: 'string', v: JSON.parse(text.slice(s, i)), s, e: i }
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length
        return { t: v === null ? 'null' : 'boolean', v, s, e: i }
      }
    }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (!m) fail('unexpected character')
    i += m[0].length
    return { t: 'number', raw: m[0], s, e: i }
  }
  const root = value()
  ws()
  if (i !== text.length) fail('trailing text')
  return root
}

export const field = (node, key) => node.entries.find(([k]) => k === key)?.[1]
export const rawOf = (text, node) => text.slice(node.s, node.e)

const isDouble = (raw) => /[.eE]/.test(raw)
const numEq = (a, b) => (isDouble(a) ? Number(a) === Number(b) : BigInt(a) === BigInt(b))

/** Deep equality of lossless nodes that tells `1` (int) from `1.0` (double). */
export function same(a, b) {
  if (a.t !== b.t) return false
  switch (a.t) {
    case 'number':
      return isDouble(a.raw) === isDouble(b.raw) && numEq(a.raw, b.raw)
    case 'array':
      return a.items.length === b.items.length && a.items.every((x, i) => same(x, b.items[i]))
    case 'object': {
      if (a.entries.length !== b.entries.length) return false
      const bm = new Map(b.entries)
      return a.entries.every(([k, v]) => bm.has(k) && same(v, bm.get(k)))
    }
    default:
      return a.v === b.v
  }
}

/** A lossless node as the JS value the binding returns: integers beyond 2^53 as BigInt. */
export function toJs(n) {
  switch (n.t) {
    case 'number': {
      const v = Number(n.raw)
      return !isDouble(n.raw) && !Number.isSafeInteger(v) ? BigInt(n.raw) : v
    }
    case 'array':
      return n.items.map(toJs)
    case 'object':
      return Object.fromEntries(n.entries.map(([k, v]) => [k, toJs(v)]))
    default:
      return n.v
  }
}
