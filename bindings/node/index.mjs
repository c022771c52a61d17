// ESM entry: the same addon instance as the CommonJS entry (`index.js`).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const binding = require('./index.js')

export const Engine = binding.Engine
export const Cluster = binding.Cluster
export default binding
