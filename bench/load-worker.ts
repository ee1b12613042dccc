// One run of the load bench (started by bench/load.ts), in its own process: a node:http server answering
// http-01 through the library's http01Solver on the port Pebble's VA dials, one AcmeClient with the library's
// defaults, one account, then `issueCertificate` for N names all at once. Reports issued/N, peak RSS, the event
// loop delay while issuing (perf_hooks.monitorEventLoopDelay) and throughput, as one JSON line on stdout.

import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { AcmeClient, generateKeyPair, http01Solver, issueCertificate } from '../src/index.ts'
import { LOAD_RESULT_PREFIX, type LoadConfig, type LoadResult } from './lib/load.ts'
import { errorCode } from './lib/shared.ts'

const config = JSON.parse(process.env.LOAD_CONFIG ?? 'null') as LoadConfig | null
if (!config) throw new Error('LOAD_CONFIG is not set (the load bench worker is started by bench/load.ts)')

const http01 = http01Solver()
let http01Requests = 0
let http01Open = 0
let http01MaxOpen = 0
let http01MaxMs = 0
const server = createServer((req, res) => {
  const t0 = performance.now()
  http01Requests++
  http01MaxOpen = Math.max(http01MaxOpen, ++http01Open)
  res.on('close', () => {
    http01Open--
    http01MaxMs = Math.max(http01MaxMs, performance.now() - t0)
  })
  const path = (req.url ?? '/').split('?')[0] ?? '/'
  http01.lookup(path).then(
    (body) => {
      if (body === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(body)
    },
    () => res.writeHead(500).end(),
  )
})
await new Promise<void>((resolve, reject) => {
  server.once('error', reject)
  server.listen({ port: config.httpPort, host: '127.0.0.1', exclusive: true }, () => resolve())
})

let requests = 0
let errorResponses = 0
const countingFetch: typeof fetch = async (input, init) => {
  requests++
  const res = await fetch(input, init)
  if (res.status >= 400) errorResponses++
  return res
}
const client = new AcmeClient({
  directoryUrl: config.directoryUrl,
  accountKey: await generateKeyPair('ES256'),
  fetch: countingFetch,
})
await client.createAccount({ termsOfServiceAgreed: true })
requests = 0
errorResponses = 0

const profileDir = process.env.LOAD_PROFILE_DIR
const session = profileDir ? new Session() : undefined
if (session) {
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 500 })
  await session.post('Profiler.start')
}

let peakHeap = 0
const sampler = setInterval(() => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
}, 250)
const LOOP_RESOLUTION_MS = 10
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
const settledAt: number[] = []
const cpu0 = process.cpuUsage()
const t0 = performance.now()
loop.enable()
const outcomes = await Promise.allSettled(
  Array.from({ length: config.n }, (_, i) =>
    issueCertificate({ client, identifiers: [`l${i}-${config.runId}.load.test`], solvers: [http01] }).then(
      (issued) => {
        settledAt.push(performance.now() - t0)
        return issued.order.status
      },
    ),
  ),
)
const wallMs = performance.now() - t0
loop.disable()
clearInterval(sampler)
const cpu = process.cpuUsage(cpu0)
if (session && profileDir) {
  const { profile } = await session.post('Profiler.stop')
  writeFileSync(join(profileDir, `load-${config.n}-${config.runId}.cpuprofile`), JSON.stringify(profile))
  session.disconnect()
}

const failuresBy: Record<string, number> = {}
const errors = new Set<string>()
for (const o of outcomes) {
  if (o.status === 'fulfilled') continue
  const code = errorCode(o.reason)
  failuresBy[code] = (failuresBy[code] ?? 0) + 1
  if (errors.size < 5) errors.add(o.reason instanceof Error ? o.reason.message : String(o.reason))
}
const issued = outcomes.filter((o) => o.status === 'fulfilled').length
// The histogram holds the time between two ticks of its 10 ms timer; the delay is what exceeds the 10 ms.
const ms = (ns: number) => Math.max(0, Math.round((ns - LOOP_RESOLUTION_MS * 1e6) / 1e4) / 100)
const result: LoadResult = {
  n: config.n,
  issued,
  failures: config.n - issued,
  failuresBy,
  errors: [...errors],
  wallMs: Math.round(wallMs),
  certsPerSec: Math.round((issued / (wallMs / 1000)) * 100) / 100,
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10,
  peakHeapMb: Math.round(peakHeap / 1e5) / 10,
  loopDelay: {
    p50: ms(loop.percentile(50)),
    p99: ms(loop.percentile(99)),
    max: ms(loop.max),
    mean: ms(loop.mean),
  },
  requests,
  errorResponses,
  http01Requests,
  http01MaxOpen,
  http01MaxMs: Math.round(http01MaxMs),
  issuedAt: [0.25, 0.5, 0.75, 1].map((f) => settledAt.filter((t) => t <= wallMs * f).length),
  cpuMs: Math.round((cpu.user + cpu.system) / 1000),
}
process.stdout.write(`${LOAD_RESULT_PREFIX}${JSON.stringify(result)}\n`)
server.close()
server.closeAllConnections()
process.exit(0)
