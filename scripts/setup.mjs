#!/usr/bin/env node
// Makes sure the system packages (and tools) that a test feature needs are installed.
//
//   node scripts/setup.mjs [feature...]     (default: pebble)
//
// Fast no-op when every binary is already on PATH. Otherwise, as root on a machine with apt-get, runs
// `apt-get update` once and installs the Debian packages non-interactively; anywhere else it prints
// which packages to install and exits 1. Importable: `ensure(features)` does the work and throws.
//
// A few tools come from the npm registry instead of apt and are not devDependencies (`deno`: the registry
// lacks its other-platform packages, which would break `npm ci`). They are installed on demand with
// `npm install --prefix .tmp/tools --no-save <package>@<version>` (.tmp/ is git-ignored); `toolPath(name)`
// gives the binary.

import { spawnSync } from 'node:child_process'
import { accessSync, constants, realpathSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
/** Where npm-installed tools go (git-ignored). */
export const TOOLS_DIR = join(root, '.tmp/tools')

/**
 * Tools installed from the npm registry into TOOLS_DIR, pinned.
 * @type {Record<string, { package: string; version: string; bin: string }>}
 */
export const TOOLS = {
  deno: { package: 'deno', version: '2.9.6', bin: 'deno' },
}

/** @type {Record<string, { binaries: string[]; packages: string[]; noRecommends?: boolean; tools?: string[] }>} */
export const FEATURES = {
  deno: { binaries: [], packages: [], tools: ['deno'] },
  pebble: { binaries: ['pebble', 'pebble-challtestsrv', 'openssl'], packages: ['pebble', 'openssl'] },
  chromium: { binaries: ['chromium', 'certutil'], packages: ['chromium', 'libnss3-tools'] },
  pdns: {
    binaries: ['pdns_server', 'sqlite3', 'dnsdist'],
    packages: ['pdns-server', 'pdns-backend-sqlite3', 'sqlite3', 'dnsdist'],
    noRecommends: true,
  },
  // dnsdist alone: a DNS-over-HTTPS front (RFC 8484) for any DNS server, e.g. pebble-challtestsrv's.
  dnsdist: { binaries: ['dnsdist'], packages: ['dnsdist'], noRecommends: true },
  // RFC 2136 dynamic updates with TSIG: BIND 9 and Knot DNS as the servers, dig/kdig to read their records.
  bind: { binaries: ['named', 'dig'], packages: ['bind9', 'bind9-dnsutils'], noRecommends: true },
  knot: { binaries: ['knotd', 'knotc', 'kdig'], packages: ['knot', 'knot-dnsutils'], noRecommends: true },
  // webacme/storage/redis is tested against a real Redis (test/harness/redis.ts).
  redis: { binaries: ['redis-server'], packages: ['redis-server'], noRecommends: true },
  // bench:ondemand compares the on-demand TLS manager with Caddy's on_demand_tls.
  caddy: { binaries: ['caddy'], packages: ['caddy'], noRecommends: true },
  // nginx (the light build has the ssl module): `webacme sync` writing the files a real server reloads.
  nginx: { binaries: ['nginx'], packages: ['nginx-light'], noRecommends: true },
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

/** Absolute path of an npm-installed tool's binary in TOOLS_DIR (whether or not it is installed yet). */
export function toolPath(name) {
  return join(TOOLS_DIR, 'node_modules/.bin', TOOLS[name].bin)
}

/** Version the installed tool reports, or undefined when it is missing or does not run. */
function toolVersion(name) {
  const r = spawnSync(toolPath(name), ['--version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return undefined
  return /(\d+\.\d+\.\d+)/.exec(r.stdout)?.[1]
}

function missingTools(features) {
  const tools = features.flatMap((f) => FEATURES[f].tools ?? [])
  return [...new Set(tools)].filter((t) => toolVersion(t) !== TOOLS[t].version)
}

function installTools(tools) {
  const specs = tools.map((t) => `${TOOLS[t].package}@${TOOLS[t].version}`)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  run(npm, ['install', '--prefix', TOOLS_DIR, '--no-save', '--no-audit', '--no-fund', ...specs])
  const still = tools.filter((t) => toolVersion(t) !== TOOLS[t].version)
  if (still.length > 0)
    throw new Error(`installed ${specs.join(' ')} into ${TOOLS_DIR}, but ${still.join(', ')} does not run`)
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
  const tools = missingTools(features)
  if (tools.length > 0) installTools(tools)
  const viaNpm = features.filter((f) => (FEATURES[f].tools ?? []).some((t) => tools.includes(t)))
  const todo = features.filter((f) => missingBinaries([f]).length > 0)
  if (todo.length === 0) return viaNpm

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
  return [...new Set([...viaNpm, ...todo])]
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
