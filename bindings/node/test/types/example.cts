// The same package through require() (CommonJS).
import celmatch = require('celmatch')

const eng = new celmatch.Engine({ dialect: 'lenient' })
const fired: celmatch.Fired[] = eng.process('{"name":"e"}')
const size: number = eng.size
void [fired, size]
