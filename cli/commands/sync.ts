/**
 * `webacme sync --service URL --token TOKEN --out DIR [--name NAME ...] [--reload CMD] [--interval SECONDS]`: the
 * pull agent of the certificate service (service/README.md). Fetches each name's bundle with a deploy token
 * (`GET /api/certificates/:name/bundle`) and writes `DIR/<name>/{privkey,cert,chain,fullchain}.pem` atomically
 * (the key 0600), runs `--reload` only when a file changed, and with `--interval` keeps doing so, picking up renewals.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { int, list, type OptionSpecs, parse, required, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { EXIT, UsageError } from '../exit-codes.ts'
import { writeFilesAtomic } from '../files.ts'

const OPTIONS: OptionSpecs = {
  service: { type: 'string', value: 'URL', help: 'the certificate service, e.g. https://certs.example.com' },
  token: {
    type: 'string',
    value: 'TOKEN',
    help: 'a deploy token (or the admin token); default: $WEBACME_SYNC_TOKEN',
  },
  out: { type: 'string', value: 'DIR', help: 'where to write DIR/<name>/{privkey,cert,chain,fullchain}.pem' },
  name: {
    type: 'string',
    multiple: true,
    value: 'NAME',
    help: 'a certificate to fetch (repeatable; default: every certificate, admin token only)',
  },
  reload: {
    type: 'string',
    value: 'CMD',
    help: 'shell command to run after files changed (e.g. "nginx -s reload")',
  },
  interval: {
    type: 'string',
    value: 'SECONDS',
    help: 'keep running, fetching again every SECONDS (renewals are picked up); stop with Ctrl-C',
  },
}

const SYNOPSIS =
  'webacme sync --service URL --token TOKEN --out DIR [--name NAME ...] [--reload CMD] [--interval SECONDS]'

/** What the service answers for a bundle. */
interface Bundle {
  name: string
  serial: string
  notAfter: string
  certificate: string
  chain: string
  fullchain: string
  privateKey?: string
}

/** The outcome for one name in one pass. */
interface NameResult {
  name: string
  status: 'written' | 'unchanged' | 'not-issued' | 'error'
  serial?: string
  notAfter?: string
  files?: string[]
  error?: string
}

/** A refusal by the service that no retry fixes (wrong token, no such route). */
class ServiceRefusal extends Error {
  override readonly name = 'ServiceRefusal'
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

// A name becomes a directory: one path segment, nothing that climbs out of DIR.
const NAME = /^[A-Za-z0-9_~@+=,-][A-Za-z0-9._~@+=,-]*$/
const PEM = (label: string) =>
  new RegExp(`^-----BEGIN ${label}-----\\r?\\n[\\s\\S]+-----END ${label}-----\\s*$`)

function checkBundle(value: unknown, name: string): Bundle {
  const b = value as Partial<Bundle> | null
  const strings = ['serial', 'notAfter', 'certificate', 'chain', 'fullchain'] as const
  if (!b || strings.some((k) => typeof b[k] !== 'string') || !PEM('CERTIFICATE').test(b.certificate!)) {
    throw new Error(`the service's bundle for ${name} is not a bundle (certificate, chain, fullchain as PEM)`)
  }
  if (
    b.privateKey !== undefined &&
    (typeof b.privateKey !== 'string' || !PEM('PRIVATE KEY').test(b.privateKey))
  ) {
    throw new Error(`the service's bundle for ${name} has a privateKey that is not PKCS#8 PEM`)
  }
  return b as Bundle
}

async function call(service: string, token: string, path: string, signal: AbortSignal): Promise<Response> {
  return fetch(`${service}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
  })
}

async function errorOf(response: Response): Promise<{ code?: string; message: string }> {
  const text = await response.text()
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } }
    return { ...(body.error?.code && { code: body.error.code }), message: body.error?.message ?? text }
  } catch {
    return { message: text.slice(0, 200) }
  }
}

/** Every certificate the service manages (the admin token's `GET /api/certificates`, all pages). */
async function allNames(service: string, token: string, signal: AbortSignal): Promise<string[]> {
  const names: string[] = []
  let cursor: string | undefined
  do {
    const response = await call(
      service,
      token,
      `/api/certificates?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      signal,
    )
    if (!response.ok) {
      const { message } = await errorOf(response)
      throw new ServiceRefusal(
        `listing certificates: ${response.status} ${message} (a deploy token needs --name for each certificate)`,
        response.status,
      )
    }
    const page = (await response.json()) as { certificates: Array<{ name: string }>; cursor?: string }
    names.push(...page.certificates.map((c) => c.name))
    cursor = page.cursor
  } while (cursor)
  return names
}

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return undefined
  }
}

/** Fetches one name's bundle and writes what changed. */
async function syncName(
  service: string,
  token: string,
  out: string,
  name: string,
  signal: AbortSignal,
): Promise<NameResult> {
  if (!NAME.test(name) || name.length > 253) return { name, status: 'error', error: 'not a certificate name' }
  const response = await call(service, token, `/api/certificates/${encodeURIComponent(name)}/bundle`, signal)
  if (!response.ok) {
    const { code, message } = await errorOf(response)
    if (response.status === 404 && code === 'ERR_NOT_ISSUED') return { name, status: 'not-issued' }
    if (response.status === 401) throw new ServiceRefusal(`the service refused the token: ${message}`, 401)
    return {
      name,
      status: 'error',
      error: `${response.status} ${code ?? ''} ${message}`.replace(/\s+/g, ' '),
    }
  }
  const bundle = checkBundle(await response.json(), name)
  const files: Record<string, string> = {
    'cert.pem': bundle.certificate,
    'chain.pem': bundle.chain,
    'fullchain.pem': bundle.fullchain,
    ...(bundle.privateKey !== undefined && { 'privkey.pem': bundle.privateKey }),
  }
  const dir = join(out, name)
  const changed: Record<string, string> = {}
  for (const [file, text] of Object.entries(files)) {
    if ((await readOr(join(dir, file))) !== text) changed[file] = text
  }
  const base = { name, serial: bundle.serial, notAfter: bundle.notAfter }
  if (Object.keys(changed).length === 0) return { ...base, status: 'unchanged' }
  // All of one certificate's files land together: never a new certificate beside an old key.
  await writeFilesAtomic(dir, changed, 0o644, { 'privkey.pem': 0o600 })
  return { ...base, status: 'written', files: Object.keys(changed).map((f) => join(dir, f)) }
}

/**
 * Bundles fetched at once: a pass over hundreds of names costs hundreds of round trips to the service, so they go
 * a few at a time (each name's files are still written together, and the results keep the order of the names).
 */
const BUNDLES_AT_ONCE = 8

/** `task` for every item, at most `limit` at once; the first failure stops new tasks and is thrown. */
async function inTurns<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++
      try {
        results[i] = await task(items[i]!)
      } catch (error) {
        failed = true
        throw error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** Runs the reload command in a shell; resolves to its exit status (signals as 128 + n). */
function runReload(command: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'inherit', 'inherit'], signal })
    child.once('error', () => resolve(127))
    child.once('exit', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1)))
  })
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values } = parse(argv, OPTIONS)
  const { reporter, signal } = base
  const service = required(values, 'service').replace(/\/+$/, '')
  if (!/^https?:\/\//.test(service)) throw new UsageError('--service must be an http(s) URL')
  const token = str(values, 'token') ?? base.env.WEBACME_SYNC_TOKEN
  if (!token) throw new UsageError('--token TOKEN (or $WEBACME_SYNC_TOKEN) is required')
  const out = required(values, 'out')
  const reload = str(values, 'reload')
  const interval = int(values, 'interval', 1, 86_400 * 7)
  const given = list(values, 'name')
  for (const name of given)
    if (!NAME.test(name)) throw new UsageError(`--name ${name}: not a certificate name`)

  let reloadPending = false
  let lastReload: { exitCode: number; at: string } | undefined
  let results: NameResult[] = []
  let passes = 0
  for (;;) {
    passes++
    try {
      const names = given.length > 0 ? given : await allNames(service, token, signal)
      results = []
      results = await inTurns(names, BUNDLES_AT_ONCE, (name) => syncName(service, token, out, name, signal))
    } catch (error) {
      if (signal.aborted) break
      if (error instanceof ServiceRefusal || interval === undefined) throw error
      reporter.warn(`pass ${passes}: ${(error as Error).message}`)
    }
    for (const r of results) {
      if (r.status === 'written')
        reporter.step(`${r.name}: wrote ${r.files!.length} files (serial ${r.serial})`)
      else if (r.status === 'not-issued') reporter.step(`${r.name}: not issued yet`)
      else if (r.status === 'error') reporter.warn(`${r.name}: ${r.error}`)
    }
    if (results.some((r) => r.status === 'written')) reloadPending = true
    if (reload !== undefined && reloadPending && !signal.aborted) {
      const exitCode = await runReload(reload, signal)
      lastReload = { exitCode, at: new Date().toISOString() }
      // A failed reload is tried again at the next pass, changed files or not.
      reloadPending = exitCode !== 0
      if (exitCode === 0) reporter.step(`reload: exit 0`)
      else reporter.warn(`reload "${reload}" exited with ${exitCode}`)
    } else if (reload === undefined) {
      reloadPending = false
    }
    if (interval === undefined || signal.aborted) break
    await sleep(interval * 1000, signal)
    if (signal.aborted) break
  }

  const failed = results.filter((r) => r.status === 'error')
  const exitCode =
    lastReload && lastReload.exitCode !== 0 ? EXIT.local : failed.length > 0 ? EXIT.error : EXIT.ok
  return {
    json: {
      out,
      passes,
      certificates: results,
      ...(lastReload && { reload: lastReload }),
    },
    text: [
      ...results.map(
        (r) =>
          `${r.name}: ${r.status}${r.serial ? ` (serial ${r.serial}, until ${r.notAfter})` : ''}${r.error ? `: ${r.error}` : ''}`,
      ),
      ...(lastReload ? [`reload: exit ${lastReload.exitCode}`] : []),
    ],
    exitCode,
  }
}

export const sync: Command = {
  name: 'sync',
  summary: 'fetch certificates from the certificate service into files, reload a server when they change',
  usage: () =>
    usageText(
      SYNOPSIS,
      OPTIONS,
      'Writes DIR/<name>/privkey.pem (0600, absent for CSR jobs), cert.pem, chain.pem and fullchain.pem atomically. ' +
        '--reload runs only after a file changed; its non-zero exit status is exit code 8.',
    ),
  run,
}
