/**
 * A CA that stops answering (issue #19 item 5): `renewDue` over N due certificates against a dead CA, with the
 * client's circuit breaker (the default) or without it (`breaker: false`, the behaviour before). Counts the HTTP
 * attempts that reach the CA, and the wall time the run takes to fail them all, with the library's default retry
 * policy.
 *
 * - `--dead reset`: a real listener that accepts every connection and resets it (counted on the socket);
 * - `--dead refused`: a closed port (nothing listens; counted by the client's `onHttp`).
 *
 *   tsx bench/dead-ca.ts [--n 1000] [--breaker on|off] [--dead reset|refused]
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import {
  AcmeClient,
  CircuitBreaker,
  generateKeyPair,
  isAcmeError,
  renewDue,
  saveCertificate,
} from '../src/index.ts'
import { MemoryStorage } from '../src/storage/memory.ts'
import { makeCertificate } from '../test/fixtures/certificates.ts'
import { freePorts } from '../test/harness/ports.ts'

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    breaker: { type: 'string', default: 'on' },
    dead: { type: 'string', default: 'reset' },
  },
})
const n = Number(values.n)
const useBreaker = values.breaker !== 'off'

let accepted = 0
let base: string
let close = async () => {}
if (values.dead === 'reset') {
  const server = createServer((req) => {
    accepted++
    req.socket.resetAndDestroy()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  close = () => new Promise((r) => server.close(() => r()))
} else {
  const [port] = await freePorts(1)
  base = `http://127.0.0.1:${port}`
}

let attempts = 0
const client = new AcmeClient({
  directoryUrl: `${base}/directory`,
  allowInsecure: true,
  accountKey: await generateKeyPair('ES256'),
  accountUrl: `${base}/account/1`,
  onHttp: () => attempts++,
  ...(useBreaker ? { breaker: new CircuitBreaker() } : { breaker: false as const }),
})
const storage = new MemoryStorage()
const made = await makeCertificate({
  names: ['dead-ca.example'],
  notBefore: new Date(Date.now() - 86_400_000),
  notAfter: new Date(Date.now() + 30 * 86_400_000),
})
for (let i = 0; i < n; i++) {
  await saveCertificate(storage, `n${i}.dead-ca.example`, { certificate: made.pem, certificateKey: made.key })
}
const started = performance.now()
const result = await renewDue({
  storage,
  client,
  solvers: [{ type: 'http-01', present: async () => {}, cleanup: async () => {} }],
  ari: false,
  lookahead: 365 * 86_400_000,
})
const seconds = (performance.now() - started) / 1000
const codes: Record<string, number> = {}
for (const f of result.failed) {
  const code = isAcmeError(f.error) ? f.error.code : String(f.error)
  codes[code] = (codes[code] ?? 0) + 1
}
console.log(
  JSON.stringify({
    n,
    breaker: useBreaker,
    dead: values.dead,
    failed: result.failed.length,
    codes,
    attemptsReported: attempts,
    ...(values.dead === 'reset' && { requestsAtCa: accepted }),
    seconds: Math.round(seconds * 10) / 10,
    perIssuance: Math.round((seconds / n) * 1000) / 1000,
  }),
)
await close()
