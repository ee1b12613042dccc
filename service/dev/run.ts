/**
 * `npm run service`: the certificate service on 127.0.0.1, in workerd through Miniflare (the bindings of
 * /wrangler.toml: Durable Objects, Queues, KV, R2, assets), against a local Pebble that this command starts, or any
 * CA with `--directory`. Cron never fires by itself locally: this command triggers the scheduled handler once at
 * start and then every `--cron-interval` seconds, and whenever `cron` (or `cron <time>`, a pass as of that time) is
 * typed on its standard input. Prints the base URL and the API token, then a line `WEBACME_SERVICE_READY {json}` for
 * scripts, and `WEBACME_CRON {json}` after each pass.
 *
 *   npm run service -- [--port N] [--persist DIR] [--token T] [--directory URL] [--cron-interval S]
 *                      [--var NAME=VALUE ...] [--inspector-port N] [--verbose]
 *
 * Without `--persist` the state lives in a temporary folder (it holds the API token and the storage key): it is
 * removed on a normal exit, on Ctrl-C (SIGINT), SIGTERM and SIGHUP, whatever stage the start had reached.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { bundleService, root } from './bundle.ts'

/** The schedule in /wrangler.toml (`[triggers] crons`); the handler does not look at it. */
const CRON = '*/5 * * * *'

const USAGE = `usage: npm run service -- [options]
  --port N            where the Worker listens (default 8787). With a local Pebble, Pebble's VA dials it for http-01;
                      with --directory and a local Pebble of your own, give that Pebble's httpPort
  --persist DIR       keep the state (Durable Objects, KV, R2, the token and storage key) in DIR across restarts
  --token T           the API token (default: random; kept in DIR with --persist)
  --directory URL     an ACME CA's directory: no Pebble is started; its TLS is trusted as the system trusts it,
                      plus NODE_EXTRA_CA_CERTS
  --cron-interval S   trigger the scheduled handler every S seconds (default 10; also once at start)
  --var NAME=VALUE    override a var of wrangler.toml or set a secret (repeatable)
  --inspector-port N  open workerd's V8 inspector there (CPU profiles)
  --verbose           show the local Pebble's log (its requests, validations, issued certificates)
  --worker FILE       run this prebuilt Worker bundle instead of building service/ (with --config: an earlier
                      version on the same --persist state, as test/service/state.test.ts does)
  --config FILE       the wrangler.toml whose bindings the Worker gets (default: /wrangler.toml)
`

interface Options {
  port: number
  persist: string | undefined
  token: string | undefined
  directory: string | undefined
  cronInterval: number
  vars: Record<string, string>
  inspectorPort: number | undefined
  verbose: boolean
  worker: string | undefined
  config: string | undefined
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      persist: { type: 'string' },
      token: { type: 'string' },
      directory: { type: 'string' },
      'cron-interval': { type: 'string' },
      var: { type: 'string', multiple: true },
      'inspector-port': { type: 'string' },
      verbose: { type: 'boolean' },
      worker: { type: 'string' },
      config: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const number = (text: string | undefined, fallback: number, what: string) => {
    if (text === undefined) return fallback
    const n = Number(text)
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a whole number`)
    return n
  }
  const vars: Record<string, string> = {}
  for (const entry of values.var ?? []) {
    const at = entry.indexOf('=')
    if (at <= 0) throw new Error(`--var ${entry}: expected NAME=VALUE`)
    vars[entry.slice(0, at)] = entry.slice(at + 1)
  }
  return {
    port: number(values.port, 8787, '--port'),
    persist: values.persist,
    token: values.token,
    directory: values.directory,
    cronInterval: Math.max(1, number(values['cron-interval'], 10, '--cron-interval')),
    vars,
    inspectorPort:
      values['inspector-port'] === undefined
        ? undefined
        : number(values['inspector-port'], 0, '--inspector-port'),
    verbose: values.verbose === true,
    worker: values.worker === undefined ? undefined : resolve(values.worker),
    config: values.config === undefined ? undefined : resolve(values.config),
  }
}

/** The token and the storage key: given, kept in the persist dir, or new. */
async function secrets(options: Options, dir: string): Promise<{ API_TOKEN: string; STORAGE_KEY: string }> {
  const file = join(dir, 'dev-secrets.json')
  const kept = existsSync(file)
    ? (JSON.parse(await readFile(file, 'utf8')) as { API_TOKEN: string; STORAGE_KEY: string })
    : undefined
  const chosen = {
    API_TOKEN: options.token ?? kept?.API_TOKEN ?? randomBytes(24).toString('base64url'),
    STORAGE_KEY: kept?.STORAGE_KEY ?? randomBytes(32).toString('base64url'),
  }
  await writeFile(file, `${JSON.stringify(chosen)}\n`, { mode: 0o600 })
  return chosen
}

/** PEM certificates of the file NODE_EXTRA_CA_CERTS names, if any. */
function extraCas(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (!file || !existsSync(file)) return []
  return (
    readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  )
}

async function main(): Promise<void> {
  let options: Options
  try {
    options = parse(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`)
    process.exit(2)
  }
  process.env.WRANGLER_SEND_METRICS = 'false'
  const state = options.persist ?? (await mkdtemp(join(tmpdir(), 'webacme-service-')))
  await mkdir(state, { recursive: true })
  const cleanups: Array<() => Promise<unknown>> = []
  if (!options.persist) {
    cleanups.push(() => rm(state, { recursive: true, force: true }))
    // The last resort, whatever ends the process (an uncaught error, process.exit anywhere): synchronous.
    process.on('exit', () => rmSync(state, { recursive: true, force: true }))
  }
  // A signal at any stage, the start included: stop what was started, each step bounded (workerd may already be
  // gone when Ctrl-C reached the whole process group), then remove the temporary state.
  let stopping = false
  const stop = async (code: number) => {
    if (stopping) return
    stopping = true
    for (const cleanup of cleanups) await bounded(cleanup(), 10_000).catch(() => {})
    process.exit(code)
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0))

  // The service's bindings as /wrangler.toml declares them. [assets] needs its folder to exist.
  await mkdir(join(root, 'playground/dist'), { recursive: true })
  const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import('wrangler')
  const configPath = options.config ?? join(root, 'wrangler.toml')
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath)
  // Durable Object data is kept under the Worker's name: give it the one wrangler.toml does.
  const name = unstable_readConfig({ config: configPath }).name ?? 'webacme-service'

  let directoryUrl = options.directory
  let trusted: string[]
  if (directoryUrl) {
    trusted = extraCas()
  } else {
    const { startPebble } = await import('../../test/harness/pebble.ts')
    const pebble = await startPebble({
      http01: 'self',
      httpPort: options.port,
      ...(options.verbose && { onOutput: (text: string) => process.stderr.write(text) }),
    })
    cleanups.push(() => pebble.stop())
    directoryUrl = pebble.directoryUrl
    trusted = [pebble.caPem]
  }

  const scriptPath = join(state, 'worker.js')
  if (options.worker) await copyFile(options.worker, scriptPath)
  else await bundleService(scriptPath)
  const { API_TOKEN, STORAGE_KEY } = await secrets(options, state)
  const { Log, LogLevel, Miniflare } = await import('miniflare')
  const mf = new Miniflare({
    ...workerOptions,
    name,
    // The Worker's console output (cron passes, dead letters, errors) on this process's output.
    log: new Log(LogLevel.INFO),
    modules: true,
    scriptPath,
    modulesRoot: state,
    host: '127.0.0.1',
    port: options.port,
    ...(options.inspectorPort !== undefined && { inspectorPort: options.inspectorPort }),
    defaultPersistRoot: state,
    cf: false,
    unsafeTriggerHandlers: true,
    bindings: {
      ...workerOptions.bindings,
      ACME_DIRECTORY: directoryUrl,
      // A local Pebble has no terms to read; with --directory, agreeing stays the operator's decision. It issues for
      // any name (the test CA's reserved names, loopback addresses): the hostname policy of a private CA.
      ...(!options.directory && { ACME_TERMS_OF_SERVICE_AGREED: 'true', HOSTNAME_POLICY: 'local' }),
      // Locally KV is one location: no propagation to wait for. The cron interval is the renewal lookahead.
      HTTP01_PROPAGATION_MS: '0',
      // A local webhook receiver (http:, loopback) is fine here; deployed, webhook URLs must be https: and public.
      WEBHOOK_ALLOW_LOCAL: 'true',
      RENEWAL_LOOKAHEAD_SECONDS: String(options.cronInterval),
      API_TOKEN,
      STORAGE_KEY,
      ...options.vars,
    },
    outboundService: {
      network: {
        allow: ['public', 'private', 'local'],
        deny: [],
        tlsOptions: { trustBrowserCas: options.directory !== undefined, trustedCertificates: trusted },
      },
    },
  })
  cleanups.unshift(() => mf.dispose())
  const url = (await mf.ready).href.replace(/\/$/, '')

  // The scheduled handler, called on the Worker itself (Miniflare's /cdn-cgi/handler/scheduled would reach the
  // assets router in front of it instead).
  const worker = await mf.getWorker()
  const cron = async (scheduledTime = new Date()) => {
    try {
      const { outcome } = await worker.scheduled({ cron: CRON, scheduledTime })
      process.stdout.write(
        `WEBACME_CRON ${JSON.stringify({ scheduledTime: scheduledTime.getTime(), outcome })}\n`,
      )
    } catch (error) {
      if (!stopping) process.stderr.write(`[service] cron trigger failed: ${(error as Error).message}\n`)
    }
  }
  await cron()
  setInterval(() => void cron(), options.cronInterval * 1000).unref()
  // `cron` on stdin runs a pass now; `cron <time>` runs one as of that time (ms or ISO 8601), as a test's clock.
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, time] = line.trim().split(/\s+/)
    if (command !== 'cron') return
    const at = time === undefined ? new Date() : new Date(/^\d+$/.test(time) ? Number(time) : time)
    if (Number.isNaN(at.getTime())) process.stderr.write(`[service] cron: not a time: ${time}\n`)
    else void cron(at)
  })

  process.stdout.write(
    [
      `webacme service: ${url}`,
      `  API token:  ${API_TOKEN}`,
      `  directory:  ${directoryUrl}${options.directory ? '' : ' (local Pebble)'}`,
      `  state:      ${state}${options.persist ? '' : ' (removed at exit; --persist DIR keeps it)'}`,
      `  cron:       every ${options.cronInterval} s; type "cron" + Enter for a pass now`,
      `  try:        curl -H 'authorization: Bearer ${API_TOKEN}' ${url}/api/certificates`,
      `WEBACME_SERVICE_READY ${JSON.stringify({ url, token: API_TOKEN, directoryUrl, state, pid: process.pid })}`,
      '',
    ].join('\n'),
  )
}

/** `work`, or a rejection after `ms`. */
function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)
  })
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}

await main()
