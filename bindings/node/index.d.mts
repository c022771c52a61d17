export * from './index.js'
import * as celmatch from './index.js'
export default celmatch
