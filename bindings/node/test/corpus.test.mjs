// Replays the shared cases in tests/cases (format: tests/cases/README.md) through the Node
// binding, so Node is held to the same behaviour as Rust and Python.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { Engine, casesDir, parseLossless, field, rawOf, same, toJs } from './helpers.mjs'

const evalDir = path.join(casesDir, 'eval')
const evalFiles = fs.readdirSync(evalDir).filter((f) => f.endsWith('.json')).sort()

const dialectsOf = (d) => (d === undefined || d === 'both' ? ['strict', 'lenient'] : [d])

/** Runs one case in one dialect; returns null or a description of the mismatch. */
function runEvalCase(text, node, dialect) {
  const str = (k) => field(node, k)?.v
  const expr = str('expr')
  const mode = str('mode') ?? 'condition'
  const eventNode = field(node, 'event')
  const triggerNode = field(node, 'trigger')
  const event = eventNode ? rawOf(text, eventNode) : '{}'
  const trigger = triggerNode ? rawOf(text, triggerNode) : undefined
  const expectNode = field(node, 'expect')
  const wantCode = str('compile_error') ?? str('error')
  const eng = new Engine({ dialect })
  let got
  try {
    got = eng.evalJson(expr, event, trigger, mode)
  } catch (e) {
    if (!(e instanceof Error) || typeof e.code !== 'string') return `threw a non-coded error: ${e}`
    if (wantCode === undefined) return `threw ${e.code}: ${e.message}`
    if (e.code !== wantCode) return `threw ${e.code} (${e.message}), want ${wantCode}`
    if (str('compile_error') !== undefined && !(e.line >= 1 && e.column >= 1)) return `compile error without line/column: ${e.line}:${e.column}`
    if (str('error') !== undefined && e.line !== undefined) return `evaluation error ${e.code} should not carry a position`
    return null
  }
  if (wantCode !== undefined) return `returned ${got}, want error ${wantCode}`
  if (!same(parseLossless(got), expectNode)) return `got ${got}, want ${rawOf(text, expectNode)}`
  // eval() gives the same value as plain JS (integers beyond 2^53 come back as BigInt).
  const js = eng.eval(expr, event, trigger, mode)
  const viaJson = toJs(parseLossless(got))
  try {
    assert.deepStrictEqual(js, viaJson)
  } catch {
    return `eval() returned ${String(js)}, evalJson() ${got}`
  }
  return null
}

let total = 0
for (const file of evalFiles) {
  test(`eval corpus: ${file}`, () => {
    const text = fs.readFileSync(path.join(evalDir, file), 'utf8')
    const doc = parseLossless(text)
    const cases = field(doc, 'cases').items
    assert.ok(cases.length > 0, 'no cases')
    const failures = []
    let runs = 0
    for (const c of cases) {
      for (const dialect of dialectsOf(field(c, 'dialect')?.v)) {
        runs++
        const why = runEvalCase(text, c, dialect)
        if (why) failures.push(`${field(c, 'name').v} [${dialect}] ${field(c, 'expr').v}: ${why}`)
      }
    }
    total += runs
    assert.equal(failures.length, 0, `${failures.length} of ${runs} case runs failed:\n${failures.join('\n')}`)
  })
}

test('eval corpus: every file ran', () => {
  assert.ok(evalFiles.length >= 1)
  assert.ok(total > 500, `only ${total} case runs`)
})

// ---- engine/*.json: operation sequences --------------------------------------------------------

const engineDir = path.join(casesDir, 'engine')
const engineFiles = fs.existsSync(engineDir) ? fs.readdirSync(engineDir).filter((f) => f.endsWith('.json')).sort() : []

/** How documents reach the binding: as JS values, as JSON text, or in a one-item batch. */
const FEEDS = ['value', 'text', 'batch']

/** The case's configuration record is handed over as the options, as it is: the core reads
 *  it (its snake_case spellings are accepted beside the documented camelCase ones). */
function engineFor(config, dialect) {
  return new Engine({ ...config, dialect, now: config.now ?? 1_700_000_000_000 })
}

/** A JSON value as a JS argument: a string would be read as JSON text, so send its text. */
const asValue = (v) => (typeof v === 'string' ? JSON.stringify(v) : v)
const outcome = (fn) => {
  try {
    return fn()
  } catch (e) {
    if (!(e instanceof Error) || typeof e.code !== 'string') throw new Error(`non-coded error: ${e}`)
    return { error: e.code }
  }
}

/** `addMany` throws when a record fails; rebuild the per-record outcomes from the error. */
function addMany(eng, records) {
  try {
    return eng.addMany(records)
  } catch (e) {
    if (!Array.isArray(e.errors)) return { error: e.code }
    const failed = new Map(e.errors.map((x) => [x.index, { error: x.code }]))
    return e.results.map((r, i) => failed.get(i) ?? r)
  }
}

function runStep(eng, step, feed) {
  const op = Object.keys(step).find((k) => k !== 'expect' && k !== 'note')
  const arg = step[op]
  switch (op) {
    case 'add': {
      if (feed === 'batch') {
        const r = addMany(eng, [arg])
        return Array.isArray(r) ? r[0] : r
      }
      const doc = feed === 'text' ? JSON.stringify(arg) : asValue(arg)
      return outcome(() => (arg && arg.kind === 'cancel' ? eng.addCancel(doc) : eng.addWait(doc)))
    }
    case 'add_many':
      return addMany(eng, feed === 'text' ? JSON.stringify(arg) : arg)
    case 'process':
      if (feed === 'batch') {
        return outcome(() => eng.processMany([asValue(arg)])[0])
      }
      return outcome(() => eng.process(feed === 'text' ? JSON.stringify(arg) : asValue(arg)))
    case 'remove':
      return eng.remove(arg)
    case 'remove_owner':
      return eng.removeOwner(arg)
    case 'expire':
      return eng.expire(arg)
    case 'advance':
      eng.advance(arg)
      return undefined
    case 'key':
      return outcome(() => eng.key(arg.expr, feed === 'text' ? JSON.stringify(arg.event) : asValue(arg.event)))
    case 'claim':
      return outcome(() => eng.claim(arg.scope, arg.key, arg.ttl_ms, arg.now_ms ?? undefined))
    case 'len':
      return eng.size
    default:
      throw new Error(`unknown operation ${op}`)
  }
}

let engineRuns = 0
for (const file of engineFiles) {
  test(`engine corpus: ${file}`, () => {
    const doc = JSON.parse(fs.readFileSync(path.join(engineDir, file), 'utf8'))
    assert.ok(doc.cases.length > 0, 'no cases')
    const failures = []
    let runs = 0
    for (const c of doc.cases) {
      const config = c.config ?? {}
      for (const dialect of dialectsOf(config.dialect ?? 'strict')) {
        for (const feed of FEEDS) {
          runs++
          if (c.config_error !== undefined) {
            let err
            try {
              engineFor(config, dialect)
            } catch (e) {
              err = e
            }
            const want = c.config_error
            if (err?.code !== want.code || !err.message.includes(want.message ?? '')) {
              failures.push(`${c.name} [${dialect}, ${feed}]: got ${err?.code} ${err?.message}, want ${JSON.stringify(want)}`)
            }
            continue
          }
          const eng = engineFor(config, dialect)
          for (const [i, step] of c.steps.entries()) {
            let got
            try {
              got = runStep(eng, step, feed)
            } catch (e) {
              failures.push(`${c.name} [${dialect}, ${feed}] step ${i}: threw ${e.code ?? ''} ${e.message}`)
              break
            }
            if (got === undefined) continue
            try {
              assert.deepStrictEqual(JSON.parse(JSON.stringify(got)), step.expect)
            } catch {
              failures.push(`${c.name} [${dialect}, ${feed}] step ${i} ${JSON.stringify(step)}: got ${JSON.stringify(got)}`)
              break
            }
          }
        }
      }
    }
    engineRuns += runs
    assert.equal(failures.length, 0, `${failures.length} of ${runs} runs failed:\n${failures.join('\n')}`)
  })
}

test('engine corpus: present and replayed', { skip: engineFiles.length === 0 && 'tests/cases/engine not present' }, () => {
  assert.ok(engineRuns > 0)
})
