// One run of the load bench (started by bench/load.ts), in its own process: a node:http server answering
// http-01 through the library's http01Solver on the port Pebble's VA dials, one AcmeClient with the library's
// defaults, one account, then `issueCertificate` for N names all at once. Reports issued/N, peak RSS, the event
// loop delay while issuing (perf_hooks.monitorEventLoopDelay) and throughput, as one JSON line on stdout.

import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { nodeFetch } from '../src/fetch/node-fetch.ts'
import { AcmeClient, generateKeyPair, http01Solver, issueCertificate } from '../src/index.ts'
import { LOAD_RESULT_PREFIX, type LoadConfig, type LoadResult } from './lib/load.ts'
import { errorCode } from './lib/shared.ts'

const config = JSON.parse(process.env.LOAD_CONFIG ?? 'null') as LoadConfig | null
if (!config) throw new Error('LOAD_CONFIG is not set (the load bench worker is started by bench/load.ts)')

const http01 = http01Solver()
const http01Backlog = config.http01Backlog ?? 511

/** What happened to each challenge: when our POST was answered, when the CA's first request arrived. */
interface ChallengeTimes {
  postedAt?: number
  firstRequestAt?: number
}
const byToken = new Map<string, ChallengeTimes>()
const tokenByChallengeUrl = new Map<string, string>()
const solver: typeof http01 = {
  ...http01,
  async present(context) {
    if (context.challenge.token) {
      byToken.set(context.challenge.token, {})
      tokenByChallengeUrl.set(context.challenge.url, context.challenge.token)
    }
    await http01.present(context)
  },
}

let http01Requests = 0
let http01Open = 0
let http01MaxOpen = 0
let http01MaxMs = 0
let acceptToRequestMaxMs = 0
const acceptedAt = new WeakMap<object, number>()
const PREFIX = '/.well-known/acme-challenge/'
const server = createServer((req, res) => {
  const t0 = performance.now()
  http01Requests++
  http01MaxOpen = Math.max(http01MaxOpen, ++http01Open)
  acceptToRequestMaxMs = Math.max(acceptToRequestMaxMs, t0 - (acceptedAt.get(req.socket) ?? t0))
  res.on('close', () => {
    http01Open--
    http01MaxMs = Math.max(http01MaxMs, performance.now() - t0)
  })
  const path = (req.url ?? '/').split('?')[0] ?? '/'
  const times = path.startsWith(PREFIX) ? byToken.get(path.slice(PREFIX.length)) : undefined
  if (times && times.firstRequestAt === undefined) times.firstRequestAt = t0
  http01.lookup(path).then(
    (body) => {
      if (body === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(body)
    },
    () => res.writeHead(500).end(),
  )
})
server.on('connection', (socket) => acceptedAt.set(socket, performance.now()))
await new Promise<void>((resolve, reject) => {
  server.once('error', reject)
  server.listen({ port: config.httpPort, host: '127.0.0.1', exclusive: true, backlog: http01Backlog }, () =>
    resolve(),
  )
})

let requests = 0
let errorResponses = 0
const countingFetch: typeof fetch = async (input, init) => {
  requests++
  const res = await (config.nodeFetch ? nodeFetch : fetch)(input, init)
  if (res.status >= 400) errorResponses++
  const token = init?.method === 'POST' && res.ok ? tokenByChallengeUrl.get(String(input)) : undefined
  const times = token === undefined ? undefined : byToken.get(token)
  if (times && times.postedAt === undefined) times.postedAt = performance.now()
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

/**
 * TcpExt ListenOverflows of the whole machine (Linux): connections the kernel dropped because a listener's
 * accept queue was full, e.g. the CA's validation requests to a busy http-01 server. Undefined elsewhere.
 */
function listenOverflows(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('TcpExt:'))
    const names = lines[0]?.split(/\s+/) ?? []
    const values = lines[1]?.split(/\s+/) ?? []
    const i = names.indexOf('ListenOverflows')
    return i > 0 ? Number(values[i]) : undefined
  } catch {
    return undefined
  }
}

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
const overflows0 = listenOverflows()
const cpu0 = process.cpuUsage()
const t0 = performance.now()
loop.enable()
// Each issuance's outcome as it settles; one still undefined at the deadline never settled (a hang, reported).
let lastSettled = performance.now()
const outcomes: Array<PromiseSettledResult<unknown> | undefined> = Array.from(
  { length: config.n },
  () => undefined,
)
const all = Promise.all(
  outcomes.map((_, i) =>
    issueCertificate({ client, identifiers: [`l${i}-${config.runId}.load.test`], solvers: [solver] }).then(
      (issued) => {
        settledAt.push(performance.now() - t0)
        lastSettled = performance.now()
        outcomes[i] = { status: 'fulfilled', value: issued.order.status }
      },
      (reason: unknown) => {
        lastSettled = performance.now()
        outcomes[i] = { status: 'rejected', reason }
      },
    ),
  ),
)
const deadlineMs = config.deadlineMs ?? 600_000
const stallMs = config.stallMs ?? 60_000
let deadline: ReturnType<typeof setTimeout> | undefined
let watchdog: ReturnType<typeof setInterval> | undefined
let stalled = false
await Promise.race([
  all,
  new Promise((resolve) => (deadline = setTimeout(resolve, deadlineMs))),
  // A CA that stops answering: every request in flight waits out its timeout and its retries; report it, once
  // nothing has settled for stallMs, instead of waiting for the deadline.
  new Promise<void>((resolve) => {
    watchdog = setInterval(() => {
      if (performance.now() - lastSettled < stallMs) return
      stalled = true
      resolve()
    }, 1000)
  }),
])
clearTimeout(deadline)
clearInterval(watchdog)
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
  if (o === undefined || o.status === 'fulfilled') continue
  const code = errorCode(o.reason)
  failuresBy[code] = (failuresBy[code] ?? 0) + 1
  if (errors.size < 5) errors.add(o.reason instanceof Error ? o.reason.message : String(o.reason))
}
const issued = outcomes.filter((o) => o?.status === 'fulfilled').length
const stillPending = outcomes.filter((o) => o === undefined).length
const posted = [...byToken.values()].filter((t) => t.postedAt !== undefined)
const latencies = posted
  .filter((t) => t.firstRequestAt !== undefined)
  .map((t) => t.firstRequestAt! - t.postedAt!)
  .sort((a, b) => a - b)
const at = (q: number) =>
  Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0)
// The histogram holds the time between two ticks of its 10 ms timer; the delay is what exceeds the 10 ms.
const ms = (ns: number) => Math.max(0, Math.round((ns - LOOP_RESOLUTION_MS * 1e6) / 1e4) / 100)
const result: LoadResult = {
  n: config.n,
  issued,
  failures: config.n - issued - stillPending,
  stillPending,
  ...(stalled ? { stalled: true } : {}),
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
  http01Backlog,
  acceptToRequestMaxMs: Math.round(acceptToRequestMaxMs),
  challengesPosted: posted.length,
  challengesNeverFetched: posted.length - latencies.length,
  validationLatencyMs: { p50: at(0.5), p99: at(0.99), max: Math.round(latencies.at(-1) ?? 0) },
  ...(overflows0 !== undefined && { listenOverflows: (listenOverflows() ?? overflows0) - overflows0 }),
}
process.stdout.write(`${LOAD_RESULT_PREFIX}${JSON.stringify(result)}\n`)
server.close()
server.closeAllConnections()
process.exit(0)
