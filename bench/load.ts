/**
 * `npm run bench:load`: one process, one client, `issueCertificate` for N names at once (issue #8, "Load").
 *
 * For each N a fresh Pebble (PEBBLE_VA_NOSLEEP=1) is started with `http01: 'self'`; the worker process
 * (bench/load-worker.ts) listens on Pebble's http-01 port with a node:http server answering through the
 * library's `http01Solver`, so the CA's validation requests compete with the client for the same event loop.
 * challtestsrv's DNS answers 127.0.0.1 for every name. The worker creates one account, then starts all N
 * issuances at once with the library's defaults and reports issued/N, peak RSS, event-loop delay and
 * certificates per second.
 *
 *   tsx bench/load.ts [--n 100,300,1000] [--nonce P] [--cpu-prof] [--json] [--out DIR]
 */

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { caEnv, getTestCa } from '../test/harness/ca.ts'
import { type Pebble, startPebble } from '../test/harness/pebble.ts'
import { BENCH_DIR, bundle, ROOT } from './lib/build.ts'
import { LOAD_RESULT_PREFIX, type LoadConfig, type LoadResult } from './lib/load.ts'
import { machine, markdownTable, runContext, sourceState } from './lib/meta.ts'

const DEFAULTS = { n: [100, 300, 1000] }
/** The goals. */
const GOALS = { rssMb: 150, loopP99Ms: 50 }
/** Issuances not settled by then are reported as still pending (a hang), and the run ends. */
const DEADLINE_MS = 10 * 60_000
/** Runs of one N on a fresh Pebble when Pebble deadlocks (see {@link isPebbleDeadlock}). */
const PEBBLE_ATTEMPTS = 3
const WORKER_TIMEOUT_MS = DEADLINE_MS + 5 * 60_000

const USAGE = `usage: tsx bench/load.ts [options]

  --n LIST     names issued at once, one run each (default ${DEFAULTS.n.join(',')})
  --nonce P    Pebble's badNonce rejection percentage (default: Pebble's own, 5)
  --backlog B  listen backlog of the in-process http-01 server (default 511, Node's default)
  --node-fetch the client uses webacme/fetch/node (nodeFetch) instead of the global fetch
  --cpu-prof   V8 CPU profile of each issuance phase (bench/.tmp/prof/load-*.cpuprofile; read it with
               tsx bench/profile.ts)
  --json       print only the JSON result on stdout
  --out DIR    where load.json and load.md go (default: bench/results for the default configuration,
               bench/.tmp/results otherwise)
  -h, --help   this text`

interface Options {
  n: number[]
  nonce: number | undefined
  backlog: number | undefined
  nodeFetch: boolean
  cpuProf: boolean
  json: boolean
  out: string | undefined
}

const log = (message: string) => process.stderr.write(`${message}\n`)

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      n: { type: 'string' },
      nonce: { type: 'string' },
      backlog: { type: 'string' },
      'node-fetch': { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const n = values.n?.split(',').map((v) => Number(v.trim())) ?? DEFAULTS.n
  if (n.some((v) => !Number.isInteger(v) || v < 1)) throw new Error('--n must list positive integers')
  const backlog = values.backlog === undefined ? undefined : Number(values.backlog)
  if (backlog !== undefined && !(Number.isInteger(backlog) && backlog > 0))
    throw new Error('--backlog must be > 0')
  const nonce = values.nonce === undefined ? undefined : Number(values.nonce)
  if (nonce !== undefined && !(Number.isInteger(nonce) && nonce >= 0 && nonce <= 100)) {
    throw new Error('--nonce must be 0-100')
  }
  return {
    n,
    nonce,
    backlog,
    nodeFetch: values['node-fetch'] ?? false,
    cpuProf: values['cpu-prof'] ?? false,
    json: values.json ?? false,
    out: values.out,
  }
}

async function runLoadWorker(
  script: string,
  config: LoadConfig,
  env: Record<string, string>,
  profileDir: string | undefined,
): Promise<LoadResult> {
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      LOAD_CONFIG: JSON.stringify(config),
      ...(profileDir && { LOAD_PROFILE_DIR: profileDir }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c
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
  const line = stdout.split('\n').find((l) => l.startsWith(LOAD_RESULT_PREFIX))
  if (!line)
    throw new Error(`load worker exited with ${code} without a result\n${stderr.trim() || stdout.trim()}`)
  return JSON.parse(line.slice(LOAD_RESULT_PREFIX.length)) as LoadResult
}

interface GoalCheck {
  goal: string
  n: number
  value: string
  pass: boolean
}

function evaluateGoals(runs: LoadResult[]): GoalCheck[] {
  const checks: GoalCheck[] = []
  const smallest = runs.find((r) => r.n === Math.min(...runs.map((x) => x.n)))
  for (const r of runs) {
    checks.push({
      goal: 'every certificate issued',
      n: r.n,
      value: `${r.issued}/${r.n}`,
      pass: r.issued === r.n,
    })
    checks.push({
      goal: `peak RSS <= ${GOALS.rssMb} MB`,
      n: r.n,
      value: `${r.peakRssMb} MB`,
      pass: r.peakRssMb <= GOALS.rssMb,
    })
    checks.push({
      goal: `event-loop delay p99 <= ${GOALS.loopP99Ms} ms`,
      n: r.n,
      value: `${r.loopDelay.p99} ms`,
      pass: r.loopDelay.p99 <= GOALS.loopP99Ms,
    })
    if (smallest && r !== smallest) {
      checks.push({
        goal: `certs/s no lower than at ${smallest.n}`,
        n: r.n,
        value: `${r.certsPerSec} vs ${smallest.certsPerSec}`,
        pass: r.certsPerSec >= smallest.certsPerSec,
      })
    }
  }
  return checks
}

function markdown(runs: LoadResult[], checks: GoalCheck[], meta: Record<string, unknown>): string {
  const lines: string[] = []
  const table = (header: string[], body: Array<Array<string | number>>) =>
    lines.push(...markdownTable(header, body))
  lines.push('# Load: N issuances at once from one process, http-01 served in the same process', '')
  lines.push(
    `${runContext(meta)} (PEBBLE_VA_NOSLEEP=1, badNonce ` +
      `${meta.nonceRejectPercent ?? "5 (Pebble's default)"} %) · one client, library defaults`,
    '',
  )
  table(
    [
      'in flight',
      'issued',
      'wall s',
      'certs/s',
      'peak RSS MB',
      'peak heap MB',
      'loop delay p50 / p99 / max ms',
      'req/cert',
      'http-01 slowest answer / accept wait ms',
      'CA validation latency p50 / p99 / max ms',
      'never fetched',
      'listen overflows',
      'failures by code',
    ],
    runs.map((r) => [
      r.n,
      `${r.issued}/${r.n}`,
      (r.wallMs / 1000).toFixed(1),
      r.certsPerSec.toFixed(1),
      r.peakRssMb.toFixed(0),
      r.peakHeapMb.toFixed(0),
      `${r.loopDelay.p50.toFixed(0)} / ${r.loopDelay.p99.toFixed(0)} / ${r.loopDelay.max.toFixed(0)}`,
      (r.requests / Math.max(1, r.issued)).toFixed(2),
      `${r.http01MaxMs} / ${r.acceptToRequestMaxMs}`,
      `${r.validationLatencyMs.p50} / ${r.validationLatencyMs.p99} / ${r.validationLatencyMs.max}`,
      `${r.challengesNeverFetched} of ${r.challengesPosted}`,
      r.listenOverflows ?? '–',
      [
        ...Object.entries(r.failuresBy).map(([k, v]) => `${k} ${v}`),
        ...(r.stillPending
          ? [
              r.stalled
                ? `**still pending when progress stopped: ${r.stillPending}**`
                : `**still pending after ${meta.deadlineSec} s: ${r.stillPending}**`,
            ]
          : []),
        ...(r.pebbleDeadlock ? ['**Pebble deadlocked**'] : []),
      ].join(', ') || '–',
    ]),
  )
  lines.push('', '## Goals (issue #8)', '')
  table(
    ['goal', 'in flight', 'value', 'result'],
    checks.map((c) => [c.goal, c.n, c.value, c.pass ? 'PASS' : '**MISS**']),
  )
  const missed = checks.filter((c) => !c.pass).length
  lines.push('', missed === 0 ? 'All goals met.' : `${missed} of ${checks.length} checks missed.`)
  const deadlocks = meta.pebbleDeadlocks as Array<{ n: number; issued: number; goroutines: string }>
  if (deadlocks.length > 0) {
    lines.push(
      '',
      '## Pebble deadlocks',
      '',
      `Pebble stopped answering in ${deadlocks.length} run(s) before the ones above, each run again on a fresh ` +
        "Pebble: Pebble 2.4's lock-order inversion (`Authz` holds an authorization's write lock while it waits " +
        'for the store; `NewOrder` holds the store while it waits for that authorization; a writer waiting on ' +
        'the store admits no new reader). The CA stopped, not the client: every request in flight timed out.',
      '',
    )
    for (const d of deadlocks)
      lines.push(
        `- ${d.n} in flight: ${d.issued}/${d.n} issued when Pebble stopped; goroutines: \`${d.goroutines}\``,
      )
  }
  const errors = runs.flatMap((r) => r.errors.map((e) => `${r.n}: ${e}`))
  if (errors.length > 0) {
    lines.push('', '## Failures (first messages)', '')
    for (const e of [...new Set(errors)].slice(0, 15)) lines.push(`- ${e.replace(/\s+/g, ' ').slice(0, 300)}`)
  }
  lines.push(
    '',
    'Loop delay: how late a 10 ms timer fired during the issuance phase (`perf_hooks.monitorEventLoopDelay`, ' +
      'values minus the 10 ms interval). Peak RSS: `process.resourceUsage().maxRSS` of the worker process. ' +
      'certs/s: certificates issued / wall time from the first call until every issuance settled. http-01: the ' +
      'in-process server answering Pebble: slowest answer, and longest wait between accepting a connection and ' +
      'reading its request. CA validation latency: from Pebble accepting a challenge POST to its first http-01 ' +
      "request for that token (Pebble's VA gives up after 15 s); never fetched: challenges whose token no request " +
      'asked for. Listen overflows: connections the kernel dropped because an accept queue was full (TcpExt ' +
      `ListenOverflows, whole machine; the http-01 server's backlog was ${meta.http01Backlog}). See bench/README.md.`,
    '',
  )
  return lines.join('\n')
}

/**
 * Pebble's goroutines: SIGQUIT makes a Go program print every goroutine's stack and exit. Waits for the exit and
 * for the output to be read.
 */
async function pebbleGoroutines(pebble: Pebble): Promise<string> {
  const alive = () => {
    try {
      process.kill(pebble.pid, 0)
      return true
    } catch {
      return false
    }
  }
  if (!alive()) return ''
  process.kill(pebble.pid, 'SIGQUIT')
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100))
  // The pipe may still hold the end of the dump; wait until the output stops growing.
  let length = -1
  while (pebble.logs().length !== length) {
    length = pebble.logs().length
    await new Promise((r) => setTimeout(r, 300))
  }
  const text = pebble.logs()
  const start = text.lastIndexOf('SIGQUIT')
  return start >= 0 ? text.slice(start) : text
}

/**
 * Pebble 2.4's lock-order inversion (wfe/wfe.go and db/memorystore.go; still in Pebble's main branch in 2026):
 * `Authz` takes the authorization's write lock, then the store's read lock (to look up the account);
 * `NewOrder` → `FindValidAuthorization` holds the store's read lock while it read-locks every authorization in
 * turn. With a writer waiting on the store (AddOrder, AddCertificate), Go's RWMutex admits no new reader, and the
 * three wait on each other for ever; every handler then blocks on the store. Only the directory still answers.
 */
function isPebbleDeadlock(goroutines: string): boolean {
  return (
    goroutines.includes('MemoryStore).FindValidAuthorization') &&
    goroutines.includes('WebFrontEndImpl).Authz(') &&
    goroutines.includes('sync.(*RWMutex).Lock(')
  )
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
  const { 'load-worker': script } = await bundle({ 'load-worker': 'load-worker.ts' })
  const profileDir = options.cpuProf ? join(BENCH_DIR, '.tmp', 'prof') : undefined
  if (profileDir) await mkdir(profileDir, { recursive: true })
  const started = Date.now()
  const runs: LoadResult[] = []
  const deadlocks: LoadResult[] = []
  for (const n of options.n) {
    for (let attempt = 1; attempt <= PEBBLE_ATTEMPTS; attempt++) {
      const pebble = await startPebble({
        http01: 'self',
        ...(options.nonce !== undefined && { nonceRejectPercent: options.nonce }),
      })
      let r: LoadResult
      try {
        const config: LoadConfig = {
          directoryUrl: pebble.directoryUrl,
          httpPort: pebble.httpPort,
          n,
          runId: randomBytes(4).toString('hex'),
          deadlineMs: DEADLINE_MS,
          ...(options.backlog !== undefined && { http01Backlog: options.backlog }),
          ...(options.nodeFetch && { nodeFetch: true }),
        }
        r = await runLoadWorker(script, config, caEnv(await getTestCa()), profileDir)
        if (r.stillPending > 0) {
          const dump = await pebbleGoroutines(pebble)
          if (isPebbleDeadlock(dump)) {
            const file = join(BENCH_DIR, '.tmp', `pebble-deadlock-${n}-${config.runId}.txt`)
            await mkdir(dirname(file), { recursive: true })
            await writeFile(file, dump)
            r.pebbleDeadlock = relative(ROOT, file)
          }
        }
      } finally {
        await pebble.stop()
      }
      log(
        `n=${n}: ${r.issued}/${n} issued in ${(r.wallMs / 1000).toFixed(1)} s (${r.certsPerSec} certs/s), ` +
          `peak RSS ${r.peakRssMb} MB, loop delay p99 ${r.loopDelay.p99} ms / max ${r.loopDelay.max} ms` +
          (r.failures ? `; failures: ${JSON.stringify(r.failuresBy)}` : '') +
          (r.stillPending
            ? `; ${r.stillPending} still pending${r.stalled ? ' (no progress: stopped early)' : ''}`
            : '') +
          (r.pebbleDeadlock ? `; Pebble deadlocked (goroutines: ${r.pebbleDeadlock})` : ''),
      )
      // Pebble's deadlock is the CA's bug, not the client's: run again on a fresh Pebble, and report it.
      if (r.pebbleDeadlock && attempt < PEBBLE_ATTEMPTS) {
        deadlocks.push(r)
        continue
      }
      runs.push(r)
      break
    }
  }
  const meta = {
    date: new Date().toISOString(),
    ...machine(),
    ...source,
    nonceRejectPercent: options.nonce,
    http01Backlog: options.backlog ?? 511,
    deadlineSec: DEADLINE_MS / 1000,
    pebbleDeadlocks: deadlocks.map((d) => ({ n: d.n, issued: d.issued, goroutines: d.pebbleDeadlock })),
    durationSec: Math.round((Date.now() - started) / 1000),
  }
  const checks = evaluateGoals(runs)
  const json = { runs, goals: checks, meta }
  const md = markdown(runs, checks, meta)
  const isDefault =
    options.n.join() === DEFAULTS.n.join() &&
    options.nonce === undefined &&
    options.backlog === undefined &&
    !options.nodeFetch &&
    !options.cpuProf
  const out = options.out ?? join(BENCH_DIR, isDefault ? 'results' : join('.tmp', 'results'))
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'load.json'), `${JSON.stringify(json, null, 2)}\n`)
  await writeFile(join(out, 'load.md'), md)
  if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  else process.stdout.write(md)
  log(`\nwrote ${relative(ROOT, join(out, 'load.json'))} and load.md (${meta.durationSec} s)`)
}

await main()
