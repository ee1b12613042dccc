/**
 * The certificate service as `npm run service` runs it (service/dev/run.ts: Miniflare's workerd with the bindings of
 * /wrangler.toml), started as a child process in its own process group so that a test can SIGKILL the whole
 * runtime (the Node launcher and its workerd processes) at once and start it again on the same persisted state.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { root } from '../runtimes/paths.ts'

export interface ServiceOptions {
  port: number
  /** Persisted state (kept across a kill and a restart). */
  persist: string
  directory: string
  token: string
  /** CA file the service's workerd trusts for `directory` (NODE_EXTRA_CA_CERTS). */
  caFile: string
  cronInterval?: number
  vars?: Record<string, string>
  inspectorPort?: number
  /**
   * A prebuilt Worker and its wrangler.toml to run instead of this checkout's service (an earlier version, for a
   * migration test: test/fixtures/service-legacy/). The launcher is this checkout's.
   */
  build?: { worker: string; config: string }
}

export interface ServiceProcess {
  readonly url: string
  readonly token: string
  readonly pid: number
  /** Everything it printed so far. */
  output(): string
  /** `fetch` of an API path with the token. */
  api(path: string, init?: RequestInit): Promise<Response>
  /**
   * Runs a cron pass now, or as of `scheduledTime` (the test's clock), through the launcher's standard input; resolves
   * once the scheduled handler has finished (its `WEBACME_CRON` line).
   */
  cron(scheduledTime?: number): Promise<void>
  /** SIGKILL to the whole process group; resolves once no process of the group is left. */
  kill(): Promise<void>
  /** SIGTERM (a clean stop), then SIGKILL to whatever of the group is left. */
  stop(): Promise<void>
}

const live = new Set<number>()
process.once('exit', () => {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {}
  }
})

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Resolves when no process of group `pgid` is left (signal 0 fails), checking after each exit and at 50 ms. */
async function groupGone(pgid: number, child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r))
  // The launcher is gone; its workerd children go with the same signal a moment later.
  while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 50))
}

/** Starts the service and resolves when it printed its ready line (or rejects with its output when it exits). */
export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const args = [
    '--import',
    'tsx',
    join(root, 'service/dev/run.ts'),
    ...(options.build ? ['--worker', options.build.worker, '--config', options.build.config] : []),
    '--port',
    String(options.port),
    '--persist',
    options.persist,
    '--directory',
    options.directory,
    '--token',
    options.token,
    '--cron-interval',
    String(options.cronInterval ?? 3600),
    // Pebble issues for the tests' reserved names and loopback addresses: the hostname policy of a private CA.
    ...Object.entries({ HOSTNAME_POLICY: 'local', ...options.vars }).flatMap(([k, v]) => [
      '--var',
      `${k}=${v}`,
    ]),
    ...(options.inspectorPort !== undefined ? ['--inspector-port', String(options.inspectorPort)] : []),
  ]
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: options.caFile, WRANGLER_SEND_METRICS: 'false' }
  const child = spawn(process.execPath, args, {
    cwd: root,
    env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const pgid = child.pid!
  live.add(pgid)
  let text = ''
  const ready = new Promise<{ url: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8')
      if (process.env.WEBACME_E2E_VERBOSE) process.stderr.write(chunk)
      const line = /^WEBACME_SERVICE_READY (.+)$/m.exec(text)
      if (line) resolve(JSON.parse(line[1]!) as { url: string })
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code, signal) =>
      reject(new Error(`the service exited (${code ?? signal}) before it was ready:\n${text.slice(-4000)}`)),
    )
  })
  const { url } = await ready
  const stopGroup = async (signal: NodeJS.Signals) => {
    if (groupAlive(pgid)) process.kill(-pgid, signal)
    await groupGone(pgid, child)
    live.delete(pgid)
  }
  return {
    url,
    token: options.token,
    pid: pgid,
    output: () => text,
    api: (path, init = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${options.token}`,
          ...(init.headers as Record<string, string> | undefined),
        },
      }),
    cron(scheduledTime) {
      const done = new Promise<void>((resolve, reject) => {
        const from = text.length
        const onData = () => {
          const line = /^WEBACME_CRON (.+)$/m.exec(text.slice(from))
          if (!line) return
          child.stdout!.off('data', onData)
          const { outcome } = JSON.parse(line[1]!) as { outcome: string }
          if (outcome === 'ok') resolve()
          else reject(new Error(`the cron pass ended with ${outcome}:\n${text.slice(from)}`))
        }
        // After the listener that appends to `text`.
        child.stdout!.on('data', onData)
      })
      child.stdin!.write(`cron${scheduledTime === undefined ? '' : ` ${scheduledTime}`}\n`)
      return done
    },
    kill: () => stopGroup('SIGKILL'),
    async stop() {
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGTERM')
      const timer = setTimeout(() => groupAlive(pgid) && process.kill(-pgid, 'SIGKILL'), 10_000)
      await groupGone(pgid, child)
      clearTimeout(timer)
      live.delete(pgid)
    },
  }
}

/** The API's view of a certificate. */
export interface CertificateView {
  name: string
  identifiers: string[]
  status: 'pending' | 'processing' | 'valid' | 'failed'
  notAfter?: string
  renewAt?: string
  error?: { code: string; message: string }
  renewals: number
}

/** Every certificate the service manages (all pages). */
export async function listAll(service: ServiceProcess): Promise<CertificateView[]> {
  const all: CertificateView[] = []
  let cursor: string | undefined
  do {
    const res = await service.api(
      `/api/certificates?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    if (!res.ok) throw new Error(`GET /api/certificates: ${res.status} ${await res.text()}`)
    const page = (await res.json()) as { certificates: CertificateView[]; cursor?: string }
    all.push(...page.certificates)
    cursor = page.cursor
  } while (cursor)
  return all
}

/**
 * Resolves when every certificate in `names` is `valid`, reading the API each time the CA side answered something
 * (`tick`, e.g. the proxy's responses) and at least every `everyMs`. Rejects at once when one is `failed`.
 */
export async function allValid(
  service: ServiceProcess,
  names: readonly string[],
  options: { deadline: number; everyMs?: number },
): Promise<CertificateView[]> {
  const wanted = new Set(names)
  for (;;) {
    const all = (await listAll(service)).filter((c) => wanted.has(c.name))
    const failed = all.find((c) => c.status === 'failed')
    if (failed) throw new Error(`${failed.name} failed: ${JSON.stringify(failed.error)}`)
    if (all.length === wanted.size && all.every((c) => c.status === 'valid')) return all
    if (Date.now() > options.deadline) {
      const counts: Record<string, number> = {}
      for (const c of all) counts[c.status] = (counts[c.status] ?? 0) + 1
      throw new Error(
        `not all valid by the deadline: ${JSON.stringify(counts)} of ${wanted.size}\n--- service output ---\n${service.output().slice(-3000)}`,
      )
    }
    await new Promise((r) => setTimeout(r, options.everyMs ?? 250))
  }
}
