/**
 * `npm run bench`: webacme against acme-client 5.4.0 on a local Pebble (issue #3).
 *
 * For each nonce-rejection setting and each concurrency, a fresh Pebble (PEBBLE_VA_NOSLEEP=1) and
 * challtestsrv (answering http-01) are started, then each client runs in its own child process, `rounds`
 * times, alternating ABBA (the order of the clients flips every round). Every run creates one account and
 * issues N certificates for distinct names with ECDSA P-256 keys. See bench/README.md for what each column
 * means and how rounds are combined.
 *
 *   tsx bench/run.ts [--n N] [--concurrency 1,10,50] [--nonce 0,50] [--rounds 2] [--clients webacme,acme-client]
 *                    [--tuned-poll MS] [--no-node-fetch] [--cpu-prof] [--trace] [--json] [--out DIR]
 */

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { caEnv, getTestCa } from '../test/harness/ca.ts'
import { startPebble } from '../test/harness/pebble.ts'
import { buildWorkers } from './lib/build.ts'
import { markdownTable, pebbleVersion, runContext, sourceState } from './lib/meta.ts'
import { RESULT_PREFIX, type RequestStats, type WorkerConfig, type WorkerResult } from './lib/shared.ts'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, '..')

/** Default N per concurrency: sized so that the whole default bench takes a few minutes on 2 cores. */
const DEFAULT_N: Record<number, number> = { 1: 20, 10: 50, 50: 50 }
const DEFAULTS = { concurrency: [1, 10, 50], nonce: [0, 50], rounds: 2, tunedPoll: 10 }
const WORKER_TIMEOUT_MS = 15 * 60_000

const USAGE = `usage: tsx bench/run.ts [options]

  --n N               certificates per run (default: ${Object.entries(DEFAULT_N)
    .map(([c, n]) => `${n} at concurrency ${c}`)
    .join(', ')}, 50 otherwise)
  --concurrency LIST  comma-separated (default ${DEFAULTS.concurrency.join(',')})
  --nonce LIST        Pebble badNonce rejection percentages (default ${DEFAULTS.nonce.join(',')})
  --rounds R          runs per client and configuration, alternated (default ${DEFAULTS.rounds})
  --clients LIST      webacme,acme-client (default both)
  --tuned-poll MS     extra row: webacme with poll { interval: MS } (default ${DEFAULTS.tunedPoll}; 0: no such row)
  --no-node-fetch     no extra row of webacme with webacme/fetch/node (nodeFetch instead of undici)
  --cpu-prof          V8 CPU profile of each worker's issuance phase (bench/.tmp/prof/*.cpuprofile)
  --trace             log every request of the workers with timings (bench/.tmp/trace/*.log)
  --json              print only the JSON result on stdout
  --out DIR           where to write latest.json and latest.md (default: bench/results for the default
                      configuration, bench/.tmp/results otherwise)
  -h, --help          this text`

type ClientName = WorkerResult['client']

/** One row of the report: a client (variant) at one concurrency and one nonce setting. */
interface Variant {
  /** Label in the report. */
  label: string
  client: ClientName
  poll?: { interval: number }
  nodeFetch?: boolean
}

export interface RunSummary {
  client: string
  concurrency: number
  nonceRejectPercent: number
  /** Certificates per round. */
  n: number
  requestsPerCert: number
  cpuMsPerCert: number
  certsPerSec: number
  peakRssMb: number
  failures: number
}

interface Row extends RunSummary {
  rounds: WorkerResult[]
}

interface Options {
  n: number | undefined
  concurrency: number[]
  nonce: number[]
  rounds: number
  clients: ClientName[]
  tunedPoll: number | undefined
  nodeFetch: boolean
  cpuProf: boolean
  trace: boolean
  json: boolean
  out: string | undefined
}

function parseList(value: string | undefined, fallback: number[], what: string): number[] {
  if (value === undefined) return fallback
  const list = value.split(',').map((s) => Number(s.trim()))
  if (list.length === 0 || list.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`--${what} must be a comma-separated list of non-negative integers`)
  }
  return list
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      n: { type: 'string' },
      concurrency: { type: 'string' },
      nonce: { type: 'string' },
      rounds: { type: 'string' },
      clients: { type: 'string' },
      'tuned-poll': { type: 'string' },
      'no-node-fetch': { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      trace: { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const positive = (v: string | undefined, what: string) => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what} must be a positive integer`)
    return n
  }
  const clients = (values.clients ?? 'webacme,acme-client').split(',').map((s) => s.trim())
  for (const c of clients) {
    if (c !== 'webacme' && c !== 'acme-client') throw new Error(`unknown client ${c}`)
  }
  const concurrency = parseList(values.concurrency, DEFAULTS.concurrency, 'concurrency')
  if (concurrency.includes(0)) throw new Error('--concurrency values must be at least 1')
  return {
    n: positive(values.n, 'n'),
    concurrency,
    nonce: parseList(values.nonce, DEFAULTS.nonce, 'nonce'),
    rounds: positive(values.rounds, 'rounds') ?? DEFAULTS.rounds,
    clients: clients as ClientName[],
    tunedPoll: parseList(values['tuned-poll'], [DEFAULTS.tunedPoll], 'tuned-poll')[0] || undefined,
    nodeFetch: !values['no-node-fetch'],
    cpuProf: values['cpu-prof'] ?? false,
    trace: values.trace ?? false,
    json: values.json ?? false,
    out: values.out,
  }
}

function isDefaultConfiguration(o: Options): boolean {
  return (
    o.n === undefined &&
    o.concurrency.join() === DEFAULTS.concurrency.join() &&
    o.nonce.join() === DEFAULTS.nonce.join() &&
    o.rounds === DEFAULTS.rounds &&
    o.tunedPoll === DEFAULTS.tunedPoll &&
    o.clients.length === 2 &&
    !o.cpuProf &&
    o.nodeFetch &&
    !o.trace
  )
}

const log = (message: string) => process.stderr.write(`${message}\n`)

async function runWorker(
  script: string,
  config: WorkerConfig,
  env: Record<string, string>,
  options: Pick<Options, 'cpuProf' | 'trace'>,
  traceName: string,
): Promise<WorkerResult> {
  const profileDir = join(BENCH_DIR, '.tmp', 'prof')
  if (options.cpuProf) await mkdir(profileDir, { recursive: true })
  const child = spawn(process.execPath, [script], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      BENCH_CONFIG: JSON.stringify(config),
      ...(options.trace && { BENCH_TRACE: '1' }),
      ...(options.cpuProf && { BENCH_PROFILE_DIR: profileDir }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const trace: string[] = []
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c
  })
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    if (options.trace) trace.push(c)
    stderr = (stderr + c).slice(-8000)
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_TIMEOUT_MS)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c) => resolve(c))
  })
  clearTimeout(timer)
  if (options.trace) {
    const dir = join(BENCH_DIR, '.tmp', 'trace')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, `${traceName}.log`), trace.join(''))
  }
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
  if (!line) {
    throw new Error(
      `worker ${relative(ROOT, script)} exited with ${code} without a result\n${stderr.trim() || stdout.trim()}`,
    )
  }
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as WorkerResult
}

/** Pools the rounds: totals over totals (a mean weighted by certificates), max of the RSS peaks. */
function summarise(variant: Variant, concurrency: number, nonce: number, rounds: WorkerResult[]): Row {
  const sum = (f: (r: WorkerResult) => number) => rounds.reduce((acc, r) => acc + f(r), 0)
  const issued = sum((r) => r.successes)
  const per = Math.max(1, issued)
  return {
    client: variant.label,
    concurrency,
    nonceRejectPercent: nonce,
    n: rounds[0]?.n ?? 0,
    requestsPerCert: round(sum((r) => r.requests.total) / per, 2),
    cpuMsPerCert: round(sum((r) => r.cpuMs) / per, 2),
    certsPerSec: round(issued / (sum((r) => r.wallMs) / 1000), 3),
    peakRssMb: round(Math.max(...rounds.map((r) => r.peakRssMb)), 1),
    failures: sum((r) => r.failures),
    rounds,
  }
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits

/** Requests per issued certificate by kind, pooled over the rounds. */
function breakdown(rows: WorkerResult[], key: keyof Pick<RequestStats, 'byKind' | 'errorsByKind'>) {
  const issued = Math.max(
    1,
    rows.reduce((a, r) => a + r.successes, 0),
  )
  const totals: Record<string, number> = {}
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.requests[key])) totals[k] = (totals[k] ?? 0) + v
  }
  return Object.fromEntries(
    Object.entries(totals)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, round(v / issued, 2)]),
  )
}

interface TargetCheck {
  target: string
  concurrency: number
  nonceRejectPercent: number
  webacme: number
  acmeClient: number | undefined
  ratio: number | undefined
  pass: boolean
  /** Not one of the issue's targets (a tuned row): shown, not counted. */
  informational?: boolean
}

function evaluateTargets(rows: Row[], tunedLabel: string | undefined): TargetCheck[] {
  const checks: TargetCheck[] = []
  const find = (client: string, c: number, nonce: number) =>
    rows.find((r) => r.client === client && r.concurrency === c && r.nonceRejectPercent === nonce)
  for (const w of rows.filter((r) => r.client === 'webacme')) {
    const a = find('acme-client', w.concurrency, w.nonceRejectPercent)
    const base = { concurrency: w.concurrency, nonceRejectPercent: w.nonceRejectPercent }
    if (w.nonceRejectPercent === 0) {
      checks.push({
        target: 'requests/cert <= 7 (nonce rejection off)',
        ...base,
        webacme: w.requestsPerCert,
        acmeClient: a?.requestsPerCert,
        ratio: a ? round(w.requestsPerCert / a.requestsPerCert, 3) : undefined,
        pass: w.requestsPerCert <= 7,
      })
    }
    if (a) {
      const cpuRatio = w.cpuMsPerCert / a.cpuMsPerCert
      checks.push({
        target: 'CPU/cert <= 1/5 of acme-client',
        ...base,
        webacme: w.cpuMsPerCert,
        acmeClient: a.cpuMsPerCert,
        ratio: round(cpuRatio, 3),
        pass: cpuRatio <= 0.2,
      })
      checks.push({
        target: 'certs/s >= acme-client',
        ...base,
        webacme: w.certsPerSec,
        acmeClient: a.certsPerSec,
        ratio: round(w.certsPerSec / a.certsPerSec, 2),
        pass: w.certsPerSec >= a.certsPerSec,
      })
    }
    if (w.nonceRejectPercent >= 50) {
      checks.push({
        target: `zero failures with ${w.nonceRejectPercent} % of nonces rejected`,
        ...base,
        webacme: w.failures,
        acmeClient: a?.failures,
        ratio: undefined,
        pass: w.failures === 0,
      })
    }
  }
  for (const t of rows.filter((r) => r.client === tunedLabel)) {
    const a = find('acme-client', t.concurrency, t.nonceRejectPercent)
    if (!a) continue
    checks.push({
      target: `certs/s >= acme-client, ${tunedLabel}`,
      concurrency: t.concurrency,
      nonceRejectPercent: t.nonceRejectPercent,
      webacme: t.certsPerSec,
      acmeClient: a.certsPerSec,
      ratio: round(t.certsPerSec / a.certsPerSec, 2),
      pass: t.certsPerSec >= a.certsPerSec,
      informational: true,
    })
  }
  // The opt-in HTTP stack (webacme/fetch/node): the same CPU target, shown, not counted.
  for (const t of rows.filter((r) => r.client === NODE_FETCH_LABEL)) {
    const a = find('acme-client', t.concurrency, t.nonceRejectPercent)
    if (!a) continue
    const cpuRatio = t.cpuMsPerCert / a.cpuMsPerCert
    checks.push({
      target: `CPU/cert <= 1/5 of acme-client, ${NODE_FETCH_LABEL}`,
      concurrency: t.concurrency,
      nonceRejectPercent: t.nonceRejectPercent,
      webacme: t.cpuMsPerCert,
      acmeClient: a.cpuMsPerCert,
      ratio: round(cpuRatio, 3),
      pass: cpuRatio <= 0.2,
      informational: true,
    })
  }
  return checks
}

/** Label of the row where webacme runs over webacme/fetch/node. */
const NODE_FETCH_LABEL = 'webacme (webacme/fetch/node)'

function markdown(rows: Row[], checks: TargetCheck[], meta: Record<string, unknown>): string {
  const lines: string[] = []
  const table = (header: string[], body: Array<Array<string | number>>) =>
    lines.push(...markdownTable(header, body))
  lines.push('# webacme vs acme-client 5.4.0 on Pebble', '')
  lines.push(
    `${runContext(meta)} (PEBBLE_VA_NOSLEEP=1) · ` +
      `${meta.rounds} rounds per row, alternated (ABBA), pooled`,
    '',
  )
  table(
    [
      'client',
      'concurrency',
      'nonce reject %',
      'n',
      'req/cert',
      'CPU ms/cert',
      'certs/s',
      'peak RSS MB',
      'failures',
    ],
    rows.map((r) => [
      r.client,
      r.concurrency,
      r.nonceRejectPercent,
      `${r.n} × ${r.rounds.length}`,
      r.requestsPerCert.toFixed(2),
      r.cpuMsPerCert.toFixed(2),
      r.certsPerSec.toFixed(2),
      r.peakRssMb.toFixed(1),
      r.failures,
    ]),
  )
  lines.push('', '## Targets', '')
  table(
    ['target', 'concurrency', 'nonce reject %', 'webacme', 'acme-client', 'ratio', 'result'],
    checks.map((c) => [
      c.target,
      c.concurrency,
      c.nonceRejectPercent,
      c.webacme,
      c.acmeClient ?? '–',
      c.ratio ?? '–',
      c.informational ? (c.pass ? 'pass (info)' : 'miss (info)') : c.pass ? 'PASS' : '**MISS**',
    ]),
  )
  const counted = checks.filter((c) => !c.informational)
  const missed = counted.filter((c) => !c.pass).length
  lines.push(
    '',
    missed === 0
      ? 'All targets met.'
      : `${missed} of ${counted.length} checks missed (rows marked "info" are a tuned configuration or the opt-in webacme/fetch/node, not targets).`,
  )
  lines.push('', '## Requests per certificate by kind (issuance phase; 4xx answers in brackets)', '')
  for (const r of rows) {
    const kinds = breakdown(r.rounds, 'byKind')
    const errors = breakdown(r.rounds, 'errorsByKind')
    const text = Object.entries(kinds)
      .map(([k, v]) => `${k} ${v}${errors[k] ? ` [${errors[k]}]` : ''}`)
      .join(', ')
    lines.push(`- ${r.client}, c=${r.concurrency}, nonce ${r.nonceRejectPercent} %: ${text}`)
  }
  const errors = rows.flatMap((r) =>
    r.rounds.flatMap((w) =>
      w.errors.map((e) => `${r.client}, c=${r.concurrency}, nonce ${r.nonceRejectPercent} %: ${e}`),
    ),
  )
  if (errors.length > 0) {
    lines.push('', '## Failures (first messages)', '')
    for (const e of [...new Set(errors)].slice(0, 20)) lines.push(`- ${e.replace(/\s+/g, ' ').slice(0, 300)}`)
  }
  lines.push(
    '',
    'req/cert, CPU ms/cert: totals of the issuance phase (account creation excluded) divided by the certificates ' +
      'issued. CPU is `process.cpuUsage()` (user + system) of the worker process. certs/s: certificates issued ' +
      'divided by the wall time of the issuance phases. Peak RSS: the highest `maxRSS` of the rounds. See ' +
      'bench/README.md.',
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
  // The workers are bundled once, here: the whole run measures the src/ of this moment.
  const source = sourceState()
  const scripts = await buildWorkers()
  const variants: Variant[] = []
  const tunedLabel = options.tunedPoll ? `webacme (poll ${options.tunedPoll} ms)` : undefined
  if (options.clients.includes('webacme')) variants.push({ label: 'webacme', client: 'webacme' })
  if (options.clients.includes('acme-client')) variants.push({ label: 'acme-client', client: 'acme-client' })
  if (tunedLabel && options.tunedPoll && options.clients.includes('webacme')) {
    variants.push({
      label: tunedLabel,
      client: 'webacme',
      poll: { interval: options.tunedPoll },
    })
  }

  if (options.nodeFetch && options.clients.includes('webacme')) {
    variants.push({ label: NODE_FETCH_LABEL, client: 'webacme', nodeFetch: true })
  }

  const started = Date.now()
  const rows: Row[] = []
  for (const nonce of options.nonce) {
    for (const concurrency of options.concurrency) {
      const n = options.n ?? DEFAULT_N[concurrency] ?? 50
      const pebble = await startPebble({ nonceRejectPercent: nonce, http01: 'challtestsrv' })
      try {
        const env = caEnv(await getTestCa())
        const results = new Map<Variant, WorkerResult[]>(variants.map((v) => [v, []]))
        for (let r = 0; r < options.rounds; r++) {
          // ABBA: the order flips every round, so a drift (Pebble's growing state, a warming machine) is shared.
          const order = r % 2 === 0 ? variants : [...variants].reverse()
          for (const variant of order) {
            const config: WorkerConfig = {
              directoryUrl: pebble.directoryUrl,
              challtestUrl: pebble.challtest!.url,
              n,
              concurrency,
              runId: `${r}${variant.client === 'webacme' ? 'w' : 'a'}${randomBytes(4).toString('hex')}`,
              ...(variant.poll && { poll: variant.poll }),
              ...(variant.nodeFetch && { nodeFetch: true }),
            }
            const traceName = `${variant.label.replace(/\W+/g, '_')}-n${nonce}-c${concurrency}-r${r + 1}`
            const result = await runWorker(scripts[variant.client], config, env, options, traceName)
            results.get(variant)!.push(result)
            log(
              `nonce ${nonce} %, c=${concurrency}, round ${r + 1}/${options.rounds}, ${variant.label}: ` +
                `${result.successes}/${n} issued, ${(result.requests.total / Math.max(1, result.successes)).toFixed(2)} req/cert, ` +
                `${(result.cpuMs / Math.max(1, result.successes)).toFixed(1)} CPU ms/cert, ` +
                `${((result.successes * 1000) / result.wallMs).toFixed(2)} certs/s, ${result.peakRssMb.toFixed(0)} MB` +
                (result.failures ? `, ${result.failures} failed: ${result.errors[0]}` : ''),
            )
          }
        }
        for (const variant of variants)
          rows.push(summarise(variant, concurrency, nonce, results.get(variant)!))
      } finally {
        await pebble.stop()
      }
    }
  }

  const meta = {
    date: new Date().toISOString(),
    node: process.versions.node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    pebble: pebbleVersion(),
    ...source,
    rounds: options.rounds,
    durationSec: Math.round((Date.now() - started) / 1000),
    aggregation:
      'pooled over rounds: sum / sum (requests, CPU per issued certificate; issued / wall time); RSS max',
  }
  const checks = evaluateTargets(rows, tunedLabel)
  const json = {
    runs: rows.map(({ rounds: _, ...summary }) => summary),
    targets: checks,
    meta,
    details: rows.map((r) => ({
      client: r.client,
      concurrency: r.concurrency,
      nonceRejectPercent: r.nonceRejectPercent,
      requestsPerCertByKind: breakdown(r.rounds, 'byKind'),
      errorsPerCertByKind: breakdown(r.rounds, 'errorsByKind'),
      rounds: r.rounds,
    })),
  }
  const md = markdown(rows, checks, meta)
  const out =
    options.out ?? join(BENCH_DIR, isDefaultConfiguration(options) ? 'results' : join('.tmp', 'results'))
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`)
  await writeFile(join(out, 'latest.md'), md)
  if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  else process.stdout.write(md)
  log(`\nwrote ${relative(ROOT, join(out, 'latest.json'))} and latest.md (${meta.durationSec} s)`)
}

await main()
