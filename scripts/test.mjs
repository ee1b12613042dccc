#!/usr/bin/env node
// `npm test`: installs what the tests need, runs every test step, and ends with ONE line that totals
// all of them: `N passed, N failed[, N skipped]`. Exits non-zero when any step failed.
//
//   node scripts/test.mjs                          every step
//   node scripts/test.mjs [vitest args...]         only the vitest step, e.g. `node scripts/test.mjs test/harness -t directory`
//   node scripts/test.mjs --steps=deno,workerd     the named steps (WEBACME_TEST_STEPS works too)
//
// Steps: vitest (Node: unit tests + e2e scenarios), workers (webacme/cloudflare inside workerd), build (dist/ for
// the bundled runtimes), deno, bun, workerd,
// chromium (the e2e scenarios in that runtime, test/runtimes/), playground (the page in Chromium,
// test/playground/), package (scripts/check-package.mjs), cli (the `webacme` command in Node, Deno and Bun from
// the packed package, test/cli/), docs (TypeDoc, warnings as errors), size
// (scripts/size.mjs). A step is { name, features, run(args) -> { code, counts, label } }; each runner writes
// its counts (and a label naming the runtime and its version) as JSON to $WEBACME_SUMMARY_FILE. The counts
// add into the one total; a table of the steps comes before it. WEBACME_E2E_GREP selects scenarios by name
// in the runtime steps.

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensure, FEATURES, toolPath } from './setup.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

/** @typedef {{ passed: number; failed: number; skipped: number }} Counts */
/** @typedef {{ code: number; counts: Counts; label?: string }} StepResult */
/** @typedef {{ name: string; features: string[]; run: (args: string[]) => Promise<StepResult> }} Step */

/** Runs a command with inherited stdio; resolves to its exit code (128+n when killed by a signal). */
function runInherited(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] })
    const forward = (signal) => child.kill(signal)
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP']
    for (const s of signals) process.on(s, forward)
    const done = (code) => {
      for (const s of signals) process.off(s, forward)
      resolve(code)
    }
    child.once('error', (err) => {
      console.error(`[test] could not run ${cmd}: ${err.message}`)
      done(1)
    })
    child.once('exit', (code, signal) => done(code ?? 128 + (signal === 'SIGINT' ? 2 : 15)))
  })
}

/**
 * A step whose runner writes its counts as JSON to $WEBACME_SUMMARY_FILE (our vitest reporter and the
 * runners under test/runtimes and scripts/ do). A runner that dies before reporting, or fails without a
 * failed test, still counts as 1 failed.
 */
async function runWithSummaryFile(cmd, args, env = process.env) {
  const dir = mkdtempSync(join(tmpdir(), 'webacme-summary-'))
  const file = join(dir, 'counts.json')
  try {
    const code = await runInherited(cmd, args, { ...env, WEBACME_SUMMARY_FILE: file })
    let summary = { passed: 0, failed: 0, skipped: 0 }
    try {
      summary = { ...summary, ...JSON.parse(readFileSync(file, 'utf8')) }
    } catch {}
    const { label, failures, ...counts } = summary
    if (code !== 0 && counts.failed === 0) counts.failed = 1
    return {
      code,
      counts,
      ...(typeof label === 'string' && { label }),
      failures: Array.isArray(failures) ? failures : [],
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * This machine (and many CI images) preset NODE_EXTRA_CA_CERTS and SSL_CERT_FILE to the system bundle.
 * The runtime runners start from an environment without them, so only the test CA they pass on purpose is
 * trusted and a missing trust shows.
 */
function withoutPresetCas(extra = {}) {
  const env = { ...process.env }
  delete env.NODE_EXTRA_CA_CERTS
  delete env.SSL_CERT_FILE
  return { ...env, ...extra }
}

const vitestBin = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs')

/** @param {string} runtime */
function runtimeStep(runtime, features, extraEnv = () => ({})) {
  return {
    name: runtime,
    features,
    run: () =>
      runWithSummaryFile(
        process.execPath,
        ['--import', 'tsx', 'test/runtimes/run.ts', runtime],
        withoutPresetCas(extraEnv()),
      ),
  }
}

/** @type {Step[]} */
const steps = [
  {
    name: 'vitest',
    // pdns: the PowerDNS + dnsdist suites (src/dns/providers/powerdns.test.ts, test/e2e-node/powerdns.test.ts).
    // bind, knot: the RFC 2136 suites (src/dns/providers/rfc2136.test.ts, test/e2e-node/rfc2136.test.ts).
    // redis: webacme/storage/redis against a real redis-server (src/storage/redis.test.ts).
    // deno: webacme/tls in Deno (test/e2e-node/ondemand-runtimes.test.ts; Bun is a devDependency).
    // nginx: `webacme sync` writing the files a real nginx reloads (test/service/sync-nginx.test.ts).
    features: ['pebble', 'pdns', 'bind', 'knot', 'redis', 'deno', 'nginx'],
    run: async (args) => ({
      ...(await runWithSummaryFile(process.execPath, [vitestBin, 'run', ...args])),
      label: `node ${process.versions.node} (vitest: unit + e2e)`,
    }),
  },
  {
    // webacme/cloudflare's unit tests inside workerd (@cloudflare/vitest-pool-workers): real local KV, R2, Durable
    // Objects, queues, and a Pebble; bind: the RFC 2136 adapter over connect() (src/dns/rfc2136/*.workerd.test.ts).
    // Without the preset CAs: the Worker trusts exactly the test CA.
    name: 'workers',
    features: ['pebble', 'bind'],
    run: async () => ({
      ...(await runWithSummaryFile(
        process.execPath,
        [vitestBin, 'run', '--config', 'test/cloudflare/vitest.config.mts'],
        withoutPresetCas(),
      )),
      label: `workerd ${require('workerd/package.json').version} (vitest-pool-workers: webacme/cloudflare)`,
    }),
  },
  {
    // workerd and Chromium run the library as published: bundled from dist/.
    name: 'build',
    features: [],
    run: async () => {
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
      const code = await runInherited(npm, ['run', '--silent', 'build'], process.env)
      return { code, counts: { passed: 0, failed: code === 0 ? 0 : 1, skipped: 0 }, label: 'build (dist/)' }
    },
  },
  runtimeStep('deno', ['pebble', 'deno'], () => ({ WEBACME_DENO: toolPath('deno') })),
  runtimeStep('bun', ['pebble']),
  runtimeStep('workerd', ['pebble']),
  runtimeStep('chromium', ['pebble', 'chromium']),
  {
    // The playground page (built from dist/) in headless Chromium, driven like a person against Pebble.
    name: 'playground',
    features: ['pebble', 'chromium', 'dnsdist'],
    run: () =>
      runWithSummaryFile(process.execPath, ['--import', 'tsx', 'test/playground/run.ts'], withoutPresetCas()),
  },
  {
    name: 'package',
    features: ['pebble', 'deno'],
    run: () =>
      runWithSummaryFile(process.execPath, ['scripts/check-package.mjs'], {
        ...process.env,
        WEBACME_DENO: toolPath('deno'),
      }),
  },
  {
    // The package as users get it: the `webacme` command from the packed package, as `npx webacme`, `bunx webacme`,
    // `deno run -A npm:webacme` (test/cli/; pdns and bind for its dns-01 cases), and `jsr:@webacme/webacme` through a
    // local JSR that `deno publish` uploads to (test/jsr/).
    name: 'cli',
    features: ['pebble', 'deno', 'pdns', 'bind'],
    run: async () => ({
      ...(await runWithSummaryFile(
        process.execPath,
        [vitestBin, 'run', '--config', 'test/cli/vitest.config.ts'],
        {
          ...process.env,
          WEBACME_DENO: toolPath('deno'),
        },
      )),
      label: 'cli + jsr (npx, bunx, deno run npm:, jsr:)',
    }),
  },
  {
    // The API reference (TypeDoc over the package's exports), warnings as errors; the JSON model only.
    name: 'docs',
    features: [],
    run: () => runWithSummaryFile(process.execPath, ['scripts/docs.mjs', '--check']),
  },
  {
    name: 'size',
    features: [],
    run: () => runWithSummaryFile(process.execPath, ['scripts/size.mjs']),
  },
]

function formatCounts({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`
}

/** Splits `--steps=a,b` off the arguments; the rest go to vitest. */
function parseArgs(argv) {
  let names = process.env.WEBACME_TEST_STEPS ? process.env.WEBACME_TEST_STEPS.split(',') : undefined
  const rest = []
  for (const arg of argv) {
    if (arg.startsWith('--steps=')) names = arg.slice('--steps='.length).split(',')
    else rest.push(arg)
  }
  // Arguments are a vitest filter: run only vitest unless steps were named.
  names ??= rest.length > 0 ? ['vitest'] : steps.map((s) => s.name)
  names = names.map((n) => n.trim()).filter(Boolean)
  const unknown = names.filter((n) => !steps.some((s) => s.name === n))
  if (unknown.length > 0) {
    throw new Error(`unknown step(s): ${unknown.join(', ')} (known: ${steps.map((s) => s.name).join(', ')})`)
  }
  return { selected: steps.filter((s) => names.includes(s.name)), vitestArgs: rest }
}

async function main(argv) {
  const total = { passed: 0, failed: 0, skipped: 0 }
  let exitCode = 0
  let selected
  let vitestArgs
  try {
    ;({ selected, vitestArgs } = parseArgs(argv))
    ensure([...new Set(selected.flatMap((s) => s.features))])
  } catch (err) {
    console.error(`[test] setup failed: ${err instanceof Error ? err.message : String(err)}`)
    console.log(formatCounts({ passed: 0, failed: 1, skipped: 0 }))
    return 1
  }

  const rows = []
  const failedTests = []
  for (const step of selected) {
    const started = Date.now()
    console.log(`\n[test] ── ${step.name} ──`)
    // The binaries this step's setup installed: test/harness/system.ts refuses any other, so a step that
    // forgot a feature fails here too, not only on a fresh machine.
    process.env.WEBACME_SETUP_BINARIES = step.features.flatMap((f) => FEATURES[f].binaries).join(',')
    const { code, counts, label, failures = [] } = await step.run(vitestArgs)
    for (const f of failures) failedTests.push(`${step.name}: ${f.name}${f.error ? ` — ${f.error}` : ''}`)
    total.passed += counts.passed
    total.failed += counts.failed
    total.skipped += counts.skipped
    const tested = counts.passed + counts.failed + counts.skipped > 0
    const outcome = tested ? formatCounts(counts) : code === 0 ? 'ok' : 'failed'
    rows.push([label ?? step.name, outcome, `${((Date.now() - started) / 1000).toFixed(1)} s`])
    if (code !== 0 && exitCode === 0) exitCode = code
  }

  if (rows.length > 1) {
    const width = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)))
    console.log('\n[test] steps:')
    for (const [label, counts, time] of rows)
      console.log(`  ${label.padEnd(width[0])}  ${counts.padEnd(width[1])}  ${time}`)
  }
  // Long logs get cut from the top: name what failed right above the total.
  if (failedTests.length > 0) {
    console.log('\n[test] failed:')
    for (const line of failedTests) console.log(`  ✗ ${line}`)
  }
  if (total.failed > 0 && exitCode === 0) exitCode = 1
  // The very last line of the run: the total over every step.
  console.log(formatCounts(total))
  return exitCode
}

process.exitCode = await main(process.argv.slice(2))
