// Code shared by the two bench workers: configuration, the concurrency pool, request counting, the
// challtestsrv http-01 calls and the result line. Nothing here is specific to either ACME client, so both
// pay exactly the same bench overhead.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'

/** What the orchestrator passes to a worker (JSON in the BENCH_CONFIG environment variable). */
export interface WorkerConfig {
  directoryUrl: string
  /** challtestsrv management API, e.g. `http://127.0.0.1:8055`. */
  challtestUrl: string
  /** Certificates to issue. */
  n: number
  /** Issuances in flight at once. */
  concurrency: number
  /** Unique per worker run: certificate names are `b<i>-<runId>.bench.test`. */
  runId: string
  /** webacme only: `AcmeClient` `poll` option (absent: the library's defaults). */
  poll?: { interval?: number; maxInterval?: number }
  /** webacme only: give the client webacme/fetch/node (`nodeFetch`) instead of the global fetch. */
  nodeFetch?: boolean
}

/** Requests seen in one phase, by kind (see {@link requestKind}). */
export interface RequestStats {
  total: number
  byKind: Record<string, number>
  /** Responses with status >= 400, by kind (in nonce-rejection runs these are almost all badNonce). */
  errorsByKind: Record<string, number>
}

/** What a worker prints (one line, prefixed with {@link RESULT_PREFIX}). */
export interface WorkerResult {
  client: 'webacme' | 'acme-client'
  n: number
  concurrency: number
  successes: number
  failures: number
  /** Up to 5 distinct failure messages. */
  errors: string[]
  /** Requests of the issuance phase (account creation excluded). */
  requests: RequestStats
  /** Requests of the setup phase (directory, nonce, account). */
  setupRequests: RequestStats
  /** CPU (user + system) of the issuance phase, ms. */
  cpuMs: number
  /**
   * CPU of the issuance phase by thread (Linux /proc, 10 ms ticks): `main` is the JavaScript thread,
   * `libuv-worker` runs WebCrypto and other thread-pool jobs, `V8 DefaultWorke` is V8's background
   * compilation and GC.
   */
  threadCpuMs: Record<string, number>
  /** CPU of account creation, ms. */
  setupCpuMs: number
  /** CPU of the whole process when it reports (module loading, JIT warm-up included), ms. */
  cpuMsTotal: number
  /** Wall time of the issuance phase, ms. */
  wallMs: number
  /** Peak resident set size of the process (`process.resourceUsage().maxRSS`), MB. */
  peakRssMb: number
  /** Failed issuances by {@link errorCode}. */
  errorCodes: Record<string, number>
  /** Set when account creation failed: nothing was issued then, and every issuance counts as failed. */
  setupError?: string
}

export const RESULT_PREFIX = 'BENCH_RESULT '
/**
 * With `BENCH_HOLD=1` a worker prints this line after account creation and waits for a line on stdin before
 * it starts issuing (bench/faults.ts turns the faults on in between).
 */
export const READY_LINE = 'BENCH_READY'

/**
 * A short, stable label for a failure: the error's `code` (webacme's codes, Node's and axios's) with the HTTP
 * status when there is one; otherwise the message with URLs and numbers blanked (acme-client throws plain
 * `Error`s for problem documents).
 */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown }; message?: unknown }
  const status = typeof e?.status === 'number' ? e.status : e?.response?.status
  const http = typeof status === 'number' ? ` (HTTP ${status})` : ''
  if (typeof e?.code === 'string') return `${e.code}${http}`
  const message = String(e?.message ?? err)
    .replace(/https?:\/\/\S+/g, '<url>')
    .replace(/\d+/g, 'N')
    .slice(0, 80)
  return `${(err as Error)?.name ?? 'Error'}: ${message}${http}`
}

export function readConfig(): WorkerConfig {
  const raw = process.env.BENCH_CONFIG
  if (!raw) throw new Error('BENCH_CONFIG is not set (the bench workers are started by bench/run.ts)')
  return JSON.parse(raw) as WorkerConfig
}

export function certName(config: WorkerConfig, i: number): string {
  return `b${i}-${config.runId}.bench.test`
}

/** Runs `task(0..n-1)` with at most `concurrency` in flight. */
export async function pool(
  n: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < n) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker))
}

/** Classifies an ACME request by Pebble's URL layout (method + resource). */
export function requestKind(method: string, url: string): string {
  const m = method.toUpperCase()
  let path: string
  try {
    path = new URL(url).pathname
  } catch {
    return `${m} ?`
  }
  const kinds: Array<[RegExp, string]> = [
    [/^\/dir$/, 'directory'],
    [/^\/nonce-plz/, 'newNonce'],
    [/^\/sign-me-up/, 'newAccount'],
    [/^\/my-account\//, 'account'],
    [/^\/order-plz/, 'newOrder'],
    [/^\/authZ\//, 'authz'],
    [/^\/chalZ\//, 'challenge'],
    [/^\/finalize-order\//, 'finalize'],
    [/^\/my-order\//, 'order'],
    [/^\/certZ\//, 'certificate'],
  ]
  for (const [re, kind] of kinds) if (re.test(path)) return `${m} ${kind}`
  return `${m} ${path}`
}

/** A request as {@link RequestCounter.request} saw it leave. */
export interface SentRequest {
  kind: string
  url: string
  start: number
}

/** BENCH_TRACE=1: every request is logged to stderr with its start time and duration (bench/run.ts --trace). */
const TRACE = process.env.BENCH_TRACE === '1'

/** Counts requests per phase. The worker switches `phase` to `issue` after account creation. */
export class RequestCounter {
  phase: 'setup' | 'issue' = 'setup'
  readonly stats: Record<'setup' | 'issue', RequestStats> = {
    setup: { total: 0, byKind: {}, errorsByKind: {} },
    issue: { total: 0, byKind: {}, errorsByKind: {} },
  }

  /** Call once per request sent; pass what it returns to {@link RequestCounter.response}. */
  request(method: string, url: string): SentRequest {
    const kind = requestKind(method, url)
    const s = this.stats[this.phase]
    s.total++
    s.byKind[kind] = (s.byKind[kind] ?? 0) + 1
    return { kind, url, start: TRACE ? performance.now() : 0 }
  }

  response(sent: SentRequest, status: number): void {
    if (TRACE) {
      const now = performance.now()
      process.stderr.write(
        `TRACE ${sent.start.toFixed(1)} +${(now - sent.start).toFixed(1)}ms ${status} ${sent.kind} ${sent.url}\n`,
      )
    }
    if (status < 400) return
    const s = this.stats[this.phase]
    s.errorsByKind[sent.kind] = (s.errorsByKind[sent.kind] ?? 0) + 1
  }
}

// challtestsrv: plain node:http with a keep-alive agent, the cheapest way to make these calls. Both
// workers use this very code, so its (small) CPU cost is the same on both sides of every comparison.
const agent = new Agent({ keepAlive: true, maxSockets: 16 })

function challtestPost(base: string, path: string, body: unknown): Promise<void> {
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume()
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`challtestsrv ${path}: ${res.statusCode}`)),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(data)
  })
}

export const challtest = {
  addHttp01: (base: string, token: string, content: string) =>
    challtestPost(base, '/add-http01', { token, content }),
  delHttp01: (base: string, token: string) => challtestPost(base, '/del-http01', { token }),
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000

/** CPU used so far by each thread of this process, summed by thread name (empty where /proc is missing). */
function threadCpu(): Record<string, number> {
  const result: Record<string, number> = {}
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      // Fields after the parenthesised name: state is field 3, utime 14 and stime 15 (clock ticks, 100 Hz).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = Number(fields[11]) + Number(fields[12])
      const name =
        Number(tid) === process.pid ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      result[name] = (result[name] ?? 0) + ticks * 10
    }
  } catch {}
  return result
}

function diffThreads(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  )
}

/**
 * The worker skeleton: `setup()` (account creation) is measured apart from the issuance phase; `issueOne(i)`
 * runs `concurrency` at a time; the result line goes to stdout.
 */
export async function runWorker(
  client: WorkerResult['client'],
  counter: RequestCounter,
  setup: (config: WorkerConfig) => Promise<(i: number) => Promise<void>>,
): Promise<void> {
  const config = readConfig()
  const setupCpu = process.cpuUsage()
  let issueOne: (i: number) => Promise<void>
  let setupError: string | undefined
  try {
    issueOne = await setup(config)
  } catch (err) {
    setupError = `${errorCode(err)}: ${err instanceof Error ? err.message : String(err)}`
    issueOne = () => Promise.reject(err)
  }
  const setupCpuMs = cpuMs(process.cpuUsage(setupCpu))
  if (process.env.BENCH_HOLD === '1') await holdUntilGo()

  counter.phase = 'issue'
  let successes = 0
  let failures = 0
  const errors = new Set<string>()
  const errorCodes: Record<string, number> = {}
  // BENCH_PROFILE_DIR: a V8 CPU profile of the issuance phase only (bench/run.ts --cpu-prof).
  const profileDir = process.env.BENCH_PROFILE_DIR
  const session = profileDir ? new Session() : undefined
  if (session) {
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 200 })
    await session.post('Profiler.start')
  }
  const threads0 = threadCpu()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await pool(config.n, config.concurrency, async (i) => {
    try {
      await issueOne(i)
      successes++
    } catch (err) {
      failures++
      const code = errorCode(err)
      errorCodes[code] = (errorCodes[code] ?? 0) + 1
      if (errors.size < 5) errors.add(err instanceof Error ? err.message : String(err))
    }
  })
  const wallMs = performance.now() - t0
  const issueCpuMs = cpuMs(process.cpuUsage(cpu0))
  const threadCpuMs = diffThreads(threads0, threadCpu())
  if (session && profileDir) {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(join(profileDir, `${client}-${config.runId}.cpuprofile`), JSON.stringify(profile))
    session.disconnect()
  }

  const result: WorkerResult = {
    client,
    n: config.n,
    concurrency: config.concurrency,
    successes,
    failures,
    errors: [...errors],
    requests: counter.stats.issue,
    setupRequests: counter.stats.setup,
    cpuMs: issueCpuMs,
    threadCpuMs,
    setupCpuMs,
    cpuMsTotal: cpuMs(process.cpuUsage()),
    wallMs,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    errorCodes,
    ...(setupError !== undefined && { setupError }),
  }
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`)
  agent.destroy()
}

/** Announces {@link READY_LINE} and resolves at the first line on stdin. */
function holdUntilGo(): Promise<void> {
  process.stdout.write(`${READY_LINE}\n`)
  return new Promise((resolve) => {
    let buffered = ''
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      if (!buffered.includes('\n')) return
      process.stdin.off('data', onData)
      process.stdin.pause()
      resolve()
    }
    process.stdin.on('data', onData)
  })
}
