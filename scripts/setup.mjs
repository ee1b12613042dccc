#!/usr/bin/env node
// Makes sure the system packages that a test feature needs are installed.
//
//   node scripts/setup.mjs [feature...]     (default: pebble)
//
// Fast no-op when every binary is already on PATH. Otherwise, as root on a machine with apt-get, runs
// `apt-get update` once and installs the Debian packages non-interactively; anywhere else it prints
// which packages to install and exits 1. Importable: `ensure(features)` does the work and throws.

import { spawnSync } from 'node:child_process'
import { accessSync, constants, realpathSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** @type {Record<string, { binaries: string[]; packages: string[]; noRecommends?: boolean }>} */
export const FEATURES = {
  pebble: { binaries: ['pebble', 'pebble-challtestsrv', 'openssl'], packages: ['pebble', 'openssl'] },
  chromium: { binaries: ['chromium', 'certutil'], packages: ['chromium', 'libnss3-tools'] },
  pdns: {
    binaries: ['pdns_server', 'sqlite3', 'dnsdist'],
    packages: ['pdns-server', 'pdns-backend-sqlite3', 'sqlite3', 'dnsdist'],
    noRecommends: true,
  },
}

export const DEFAULT_FEATURES = ['pebble']

/** Absolute path of `name` on PATH, or undefined. */
export function which(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

function missingBinaries(features) {
  return features.flatMap((f) => FEATURES[f].binaries).filter((b) => !which(b))
}

function run(cmd, args, env = process.env) {
  console.error(`[setup] ${[cmd, ...args].join(' ')}`)
  // stdin closed: apt must never wait for an answer (CI runs without a terminal).
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
}

/**
 * Installs what the named features need. Resolves to the list of features that had to be installed
 * (empty when everything was present). Throws with a message naming the packages when it cannot.
 * @param {string[]} [features]
 * @returns {string[]}
 */
export function ensure(features = DEFAULT_FEATURES) {
  const unknown = features.filter((f) => !Object.hasOwn(FEATURES, f))
  if (unknown.length > 0) {
    throw new Error(`unknown feature(s): ${unknown.join(', ')} (known: ${Object.keys(FEATURES).join(', ')})`)
  }
  const todo = features.filter((f) => missingBinaries([f]).length > 0)
  if (todo.length === 0) return []

  const missing = missingBinaries(todo)
  const canInstall = which('apt-get') && typeof process.getuid === 'function' && process.getuid() === 0
  if (!canInstall) {
    const pkgs = [...new Set(todo.flatMap((f) => FEATURES[f].packages))]
    throw new Error(
      `missing ${missing.join(', ')}; install the Debian packages: ${pkgs.join(' ')}\n` +
        `  e.g. sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}`,
    )
  }

  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  run('apt-get', ['update'], env)
  const plain = [
    ...new Set(todo.filter((f) => !FEATURES[f].noRecommends).flatMap((f) => FEATURES[f].packages)),
  ]
  const lean = [...new Set(todo.filter((f) => FEATURES[f].noRecommends).flatMap((f) => FEATURES[f].packages))]
  if (plain.length > 0) run('apt-get', ['install', '-y', ...plain], env)
  if (lean.length > 0) run('apt-get', ['install', '-y', '--no-install-recommends', ...lean], env)

  const still = missingBinaries(todo)
  if (still.length > 0) throw new Error(`installed packages but still missing: ${still.join(', ')}`)
  return todo
}

function main(argv) {
  const features = argv.length > 0 ? argv : DEFAULT_FEATURES
  try {
    const installed = ensure(features)
    if (installed.length > 0) console.error(`[setup] installed: ${installed.join(', ')}`)
  } catch (err) {
    console.error(`[setup] ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
}

function invokedDirectly() {
  if (!process.argv[1]) return false
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (invokedDirectly()) main(process.argv.slice(2))
