/**
 * `npm run bench:faults`: issuance under injected faults (issue #8), webacme and acme-client 5.4.0 side by side
 * behind the same fault proxy (test/fixtures/fault-proxy.ts) in front of a local Pebble.
 *
 * For each fault rate a fresh Pebble (PEBBLE_VA_NOSLEEP=1) and a fresh proxy are started; each client then runs
 * in its own child process (the workers of `npm run bench`): one account, created while the proxy injects
 * nothing, then N certificates, C at a time, http-01 through challtestsrv, with the library's defaults, while
 * the proxy faults the given share of requests, cycling through every fault kind. The proxy counts the faults it
 * injected and every request that came back sooner than the `Retry-After` it had given for it.
 *
 *   tsx bench/faults.ts [--n 50] [--concurrency 5] [--percent 0,20,30] [--clients webacme,acme-client]
 *                       [--seed 1] [--kinds LIST] [--nonce 0] [--rounds 1] [--json] [--out DIR]
 */

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import {
  FAULT_KINDS,
  type FaultKind,
  type FaultProxyStats,
  startFaultProxy,
} from '../test/fixtures/fault-proxy.ts'
import { caEnv, getTestCa } from '../test/harness/ca.ts'
import { startPebble } from '../test/harness/pebble.ts'
import { BENCH_DIR, buildWorkers, ROOT } from './lib/build.ts'
import { machine, markdownTable, runContext, sourceState } from './lib/meta.ts'
import { READY_LINE, RESULT_PREFIX, type WorkerConfig, type WorkerResult } from './lib/shared.ts'

type ClientName = WorkerResult['client']

const DEFAULTS = {
  n: 50,
  concurrency: 5,
  percent: [0, 20, 30],
  clients: ['webacme', 'acme-client'] as ClientName[],
  seed: 1,
  kinds: [...FAULT_KINDS] as FaultKind[],
  nonce: 0,
  rounds: 1,
}
/** The issue's target: every certificate issued at these fault rates. */
const TARGET_PERCENTS = [20, 30]
const WORKER_TIMEOUT_MS = 30 * 60_000

const USAGE = `usage: tsx bench/faults.ts [options]

  --n N               certificates per run (default ${DEFAULTS.n})
  --concurrency C     issuances in flight at once (default ${DEFAULTS.concurrency})
  --percent LIST      share of requests faulted, comma-separated (default ${DEFAULTS.percent.join(',')})
  --clients LIST      webacme,acme-client (default both)
  --seed S            seed of the proxy's PRNG (default ${DEFAULTS.seed}; round r uses S + r)
  --kinds LIST        fault kinds (default all: ${FAULT_KINDS.join(',')})
  --nonce P           Pebble's badNonce rejection percentage (default ${DEFAULTS.nonce}: every fault is the proxy's)
  --rounds R          runs per client and fault rate, alternated (default ${DEFAULTS.rounds})
  --json              print only the JSON result on stdout
  --out DIR           where faults.json and faults.md go (default: bench/results for the default
                      configuration, bench/.tmp/results otherwise)
  -h, --help          this text`

interface Options {
  n: number
  concurrency: number
  percent: number[]
  clients: ClientName[]
  seed: number
  kinds: FaultKind[]
  nonce: number
  rounds: number
  json: boolean
  out: string | undefined
}

/** One run of one client at one fault rate. */
export interface FaultRun {
  client: ClientName
  percent: number
  round: number
  requested: number
  issued: number
  wallSec: number
  /** Wall time divided by the same client's fault-free run (same round), when there is one. */
  vsFaultFree: number | undefined
  /** Requests the proxy received during the issuance phase. */
  requests: number
  faults: Record<FaultKind, number>
  faultsTotal: number
  retryAfterViolations: number
  /** Early requests within the proxy's grace (50 ms) of the answer: most likely sent before it was read. */
  raced: number
  /** Violations by `METHOD resource`. */
  violationsBy: Record<string, number>
  /** Requests the proxy failed to forward to Pebble (a 502 that is not an injected fault; should be 0). */
  upstreamErrors: number
  /** Failed issuances by error code. */
  failuresBy: Record<string, number>
  setupError?: string
  /** Up to 5 distinct failure messages. */
  errors: string[]
  /** Where the proxy's fault log of this run is (JSON lines). */
  log: string
}

const log = (message: string) => process.stderr.write(`${message}\n`)
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      n: { type: 'string' },
      concurrency: { type: 'string' },
      percent: { type: 'string' },
      clients: { type: 'string' },
      seed: { type: 'string' },
      kinds: { type: 'string' },
      nonce: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const int = (v: string | undefined, fallback: number, what: string, min = 0) => {
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer >= ${min}`)
    return n
  }
  const percent = values.percent?.split(',').map((p) => int(p.trim(), 0, 'percent')) ?? DEFAULTS.percent
  if (percent.some((p) => p > 100)) throw new Error('--percent values must be at most 100')
  const clients = (values.clients?.split(',').map((c) => c.trim()) ?? DEFAULTS.clients) as ClientName[]
  for (const c of clients) if (c !== 'webacme' && c !== 'acme-client') throw new Error(`unknown client ${c}`)
  const kinds = (values.kinds?.split(',').map((k) => k.trim()) ?? DEFAULTS.kinds) as FaultKind[]
  for (const k of kinds) if (!FAULT_KINDS.includes(k)) throw new Error(`unknown fault kind ${k}`)
  return {
    n: int(values.n, DEFAULTS.n, 'n', 1),
    concurrency: int(values.concurrency, DEFAULTS.concurrency, 'concurrency', 1),
    percent,
    clients,
    seed: int(values.seed, DEFAULTS.seed, 'seed'),
    kinds,
    nonce: int(values.nonce, DEFAULTS.nonce, 'nonce'),
    rounds: int(values.rounds, DEFAULTS.rounds, 'rounds', 1),
    json: values.json ?? false,
    out: values.out,
  }
}

function isDefaultConfiguration(o: Options): boolean {
  return (
    o.n === DEFAULTS.n &&
    o.concurrency === DEFAULTS.concurrency &&
    o.percent.join() === DEFAULTS.percent.join() &&
    o.clients.length === 2 &&
    o.seed === DEFAULTS.seed &&
    o.kinds.join() === DEFAULTS.kinds.join() &&
    o.nonce === DEFAULTS.nonce &&
    o.rounds === DEFAULTS.rounds
  )
}

/**
 * Runs one worker: it creates its account, says it is ready, and waits; `onReady` turns the faults on, then the
 * worker is told to go.
 */
async function runHeldWorker(
  script: string,
  config: WorkerConfig,
  env: Record<string, string>,
  onReady: () => void,
): Promise<WorkerResult> {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_CONFIG: JSON.stringify(config), BENCH_HOLD: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let released = false
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c
    if (!released && stdout.split('\n').includes(READY_LINE)) {
      released = true
      onReady()
      child.stdin.write('go\n')
    }
  })
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-8000)
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_TIMEOUT_MS)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c) => resolve(c))
  })
  clearTimeout(timer)
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
  if (!line) {
    throw new Error(
      `worker ${relative(ROOT, script)} exited with ${code} without a result\n${stderr.trim() || stdout.trim()}`,
    )
  }
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as WorkerResult
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1
  return out
}

const SHORT: Record<FaultKind, string> = {
  'reset-before': 'reset before',
  'reset-after': 'reset after',
  unavailable: '503',
  'rate-limited': '429',
  'server-error': '500',
  delay: 'delay',
  'truncated-body': 'cut body',
}

const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, v]) => v > 0)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '–'

interface TargetCheck {
  target: string
  percent: number
  round: number
  value: string
  pass: boolean
}

function evaluateTargets(runs: FaultRun[]): TargetCheck[] {
  const checks: TargetCheck[] = []
  for (const r of runs.filter((r) => r.client === 'webacme')) {
    if (TARGET_PERCENTS.includes(r.percent)) {
      checks.push({
        target: `webacme issues every certificate at ${r.percent} % faults`,
        percent: r.percent,
        round: r.round,
        value: `${r.issued}/${r.requested}`,
        pass: r.issued === r.requested,
      })
    }
    checks.push({
      target: 'webacme: no retry sooner than Retry-After',
      percent: r.percent,
      round: r.round,
      value: String(r.retryAfterViolations),
      pass: r.retryAfterViolations === 0,
    })
  }
  return checks
}

function markdown(runs: FaultRun[], checks: TargetCheck[], meta: Record<string, unknown>): string {
  const lines: string[] = []
  const table = (header: string[], body: Array<Array<string | number>>) =>
    lines.push(...markdownTable(header, body))
  lines.push('# Issuance under injected faults: webacme vs acme-client 5.4.0', '')
  lines.push(
    `${runContext(meta)} (PEBBLE_VA_NOSLEEP=1, ` +
      `badNonce ${meta.nonceRejectPercent} %) · one account, ${meta.n} certificates, ${meta.concurrency} at a time, ` +
      `http-01, defaults · proxy seed ${meta.seed}`,
    '',
  )
  table(
    [
      'client',
      'faults %',
      'issued',
      'wall s',
      '× fault-free',
      'requests',
      'faults injected',
      'Retry-After violations',
      'failures by code',
    ],
    runs.map((r) => [
      r.client + (meta.rounds === 1 ? '' : ` (round ${r.round + 1})`),
      r.percent,
      `${r.issued}/${r.requested}`,
      r.wallSec.toFixed(1),
      r.vsFaultFree === undefined || r.percent === 0 ? '–' : r.vsFaultFree.toFixed(1),
      r.requests,
      r.faultsTotal === 0
        ? '0'
        : `${r.faultsTotal}: ${Object.entries(r.faults)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => `${SHORT[k as FaultKind]} ${v}`)
            .join(', ')}`,
      (r.retryAfterViolations === 0 ? '0' : `${r.retryAfterViolations}: ${list(r.violationsBy)}`) +
        (r.raced ? ` (${r.raced} raced)` : ''),
      (r.setupError ? `setup failed: ${r.setupError.slice(0, 80)}; ` : '') +
        list(r.failuresBy) +
        (r.upstreamErrors ? ` (proxy could not forward ${r.upstreamErrors} requests)` : ''),
    ]),
  )
  lines.push('', '## Targets (issue #8)', '')
  table(
    ['target', 'faults %', 'value', 'result'],
    checks.map((c) => [c.target, c.percent, c.value, c.pass ? 'PASS' : '**MISS**']),
  )
  const missed = checks.filter((c) => !c.pass).length
  lines.push('', missed === 0 ? 'All targets met.' : `${missed} of ${checks.length} checks missed.`)
  const errors = runs.flatMap((r) => r.errors.map((e) => `${r.client}, ${r.percent} %: ${e}`))
  if (errors.length > 0) {
    lines.push('', '## Failures (first messages)', '')
    for (const e of [...new Set(errors)].slice(0, 30)) lines.push(`- ${e.replace(/\s+/g, ' ').slice(0, 300)}`)
  }
  lines.push(
    '',
    'Faults: `reset before` = TCP reset before Pebble saw the request; `reset after` = Pebble acted, the response ' +
      'was lost; `503`/`429` = with `Retry-After` (1 s / 2 s); `500` = HTML body; `delay` = response held 3 s; ' +
      '`cut body` = half the body, then the connection closed. A Retry-After violation is a request with the same ' +
      'method, URL, signer and payload that arrived before the `Retry-After` the proxy gave for it, more than 50 ms ' +
      'after the answer ("raced": within 50 ms, most likely sent before the client could read the answer). See ' +
      'bench/README.md and test/fixtures/fault-proxy.ts.',
    '',
  )
  return lines.join('\n')
}

async function main(): Promise<void> {
  let options: Options
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    log(`${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  const source = sourceState()
  const scripts = await buildWorkers()
  const logDir = join(BENCH_DIR, '.tmp', 'faults')
  await mkdir(logDir, { recursive: true })
  const started = Date.now()
  const runs: FaultRun[] = []

  for (const percent of options.percent) {
    const pebble = await startPebble({ nonceRejectPercent: options.nonce, http01: 'challtestsrv' })
    const proxy = await startFaultProxy({ pebble, percent: 0, kinds: options.kinds })
    try {
      const env = caEnv(await getTestCa())
      for (let r = 0; r < options.rounds; r++) {
        // ABBA: the order of the clients flips every round.
        const order = r % 2 === 0 ? options.clients : [...options.clients].reverse()
        for (const client of order) {
          proxy.configure({ percent: 0 })
          const config: WorkerConfig = {
            directoryUrl: proxy.directoryUrl,
            challtestUrl: pebble.challtest!.url,
            n: options.n,
            concurrency: options.concurrency,
            runId: `${r}${client === 'webacme' ? 'w' : 'a'}${randomBytes(4).toString('hex')}`,
          }
          const result = await runHeldWorker(scripts[client], config, env, () => {
            // Account created: from here on the faults, counted from zero, with the same seed for each client.
            proxy.reset()
            proxy.configure({ percent, seed: options.seed + r })
          })
          const stats: FaultProxyStats = proxy.stats()
          proxy.configure({ percent: 0 })
          const logFile = join(logDir, `${client}-p${percent}-r${r + 1}.jsonl`)
          const entries = [...proxy.faults, ...proxy.violations.map((v) => ({ violation: true, ...v }))]
          await writeFile(logFile, entries.map((e) => `${JSON.stringify(e)}\n`).join(''))
          const fault: FaultRun = {
            client,
            percent,
            round: r,
            requested: options.n,
            issued: result.successes,
            wallSec: round(result.wallMs / 1000, 2),
            vsFaultFree: undefined,
            requests: stats.requests,
            faults: stats.faults,
            faultsTotal: stats.faultsTotal,
            retryAfterViolations: stats.violations.length,
            raced: stats.raced,
            violationsBy: countBy(stats.violations, (v) => `${v.method} ${v.resource}`),
            upstreamErrors: stats.upstreamErrors,
            failuresBy: result.errorCodes,
            ...(result.setupError !== undefined && { setupError: result.setupError }),
            errors: result.errors,
            log: relative(ROOT, logFile),
          }
          runs.push(fault)
          log(
            `faults ${percent} %, round ${r + 1}/${options.rounds}, ${client}: ${fault.issued}/${fault.requested} issued ` +
              `in ${fault.wallSec.toFixed(1)} s, ${fault.faultsTotal} faults of ${fault.requests} requests, ` +
              `${fault.retryAfterViolations} Retry-After violations` +
              (result.failures ? `; failures: ${list(result.errorCodes)}` : ''),
          )
        }
      }
    } finally {
      await proxy.close()
      await pebble.stop()
    }
  }
  for (const r of runs) {
    const base = runs.find((b) => b.client === r.client && b.round === r.round && b.percent === 0)
    if (base && base.wallSec > 0) r.vsFaultFree = round(r.wallSec / base.wallSec, 2)
  }

  const meta = {
    date: new Date().toISOString(),
    ...machine(),
    ...source,
    n: options.n,
    concurrency: options.concurrency,
    seed: options.seed,
    kinds: options.kinds,
    nonceRejectPercent: options.nonce,
    rounds: options.rounds,
    durationSec: Math.round((Date.now() - started) / 1000),
  }
  const checks = evaluateTargets(runs)
  const json = { runs, targets: checks, meta }
  const md = markdown(runs, checks, meta)
  const out =
    options.out ?? join(BENCH_DIR, isDefaultConfiguration(options) ? 'results' : join('.tmp', 'results'))
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'faults.json'), `${JSON.stringify(json, null, 2)}\n`)
  await writeFile(join(out, 'faults.md'), md)
  if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  else process.stdout.write(md)
  log(`\nwrote ${relative(ROOT, join(out, 'faults.json'))} and faults.md (${meta.durationSec} s)`)
}

await main()
