#!/usr/bin/env node
// `npm test`: installs what the tests need, runs every test step, and ends with ONE line that totals
// all of them: `N passed, N failed[, N skipped]`. Exits non-zero when any step failed.
//
//   node scripts/test.mjs [vitest args...]     e.g. `node scripts/test.mjs test/harness -t directory`
//
// A step is { name, features, run(args) -> { code, counts } }. Today there is one (vitest on Node);
// runtimes added later (Deno, Bun, workerd, Chromium) append their own step with the setup features
// they need and report their counts, which are added into the one total.

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensure } from './setup.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** @typedef {{ passed: number; failed: number; skipped: number }} Counts */
/** @typedef {{ code: number; counts: Counts }} StepResult */
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
 * A step whose runner writes its counts as JSON to $WEBACME_SUMMARY_FILE (our vitest reporter does).
 * A runner that dies before reporting, or fails without a failed test, still counts as 1 failed.
 */
async function runWithSummaryFile(cmd, args) {
  const dir = mkdtempSync(join(tmpdir(), 'webacme-summary-'))
  const file = join(dir, 'counts.json')
  try {
    const code = await runInherited(cmd, args, { ...process.env, WEBACME_SUMMARY_FILE: file })
    let counts = { passed: 0, failed: 0, skipped: 0 }
    try {
      counts = { ...counts, ...JSON.parse(readFileSync(file, 'utf8')) }
    } catch {}
    if (code !== 0 && counts.failed === 0) counts.failed = 1
    return { code, counts }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')

/** @type {Step[]} */
const steps = [
  {
    name: 'vitest',
    features: ['pebble'],
    run: (args) => runWithSummaryFile(process.execPath, [vitestBin, 'run', ...args]),
  },
]

function formatCounts({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`
}

async function main(args) {
  const total = { passed: 0, failed: 0, skipped: 0 }
  let exitCode = 0

  try {
    ensure([...new Set(steps.flatMap((s) => s.features))])
  } catch (err) {
    console.error(`[test] setup failed: ${err instanceof Error ? err.message : String(err)}`)
    console.log(formatCounts({ passed: 0, failed: 1, skipped: 0 }))
    return 1
  }

  for (const step of steps) {
    const { code, counts } = await step.run(args)
    total.passed += counts.passed
    total.failed += counts.failed
    total.skipped += counts.skipped
    if (code !== 0 && exitCode === 0) exitCode = code
  }

  if (total.failed > 0 && exitCode === 0) exitCode = 1
  // The very last line of the run: the total over every step.
  console.log(formatCounts(total))
  return exitCode
}

process.exitCode = await main(process.argv.slice(2))
