/**
 * The "POST to served" phase of `npm run bench:service`: N hostnames POSTed to the service, `webacme sync --interval 1`
 * (run as the CLI runs, `node --import tsx cli/main.ts`) writing their files and reloading a real nginx
 * (test/harness/nginx.ts), and for each hostname the time from its POST until nginx serves its certificate: a TLS
 * handshake with its name as SNI, the chain verified up to Pebble's issuing root, the serial equal to the one of the
 * job's bundle. Beside it, a local webhook receiver (registered with `POST /api/webhooks`) verifies every delivery's
 * Standard Webhooks signature and counts deliveries per event (`webhook-id`): at least one each is expected,
 * more than one is a duplicate (reported, not an error: delivery is at least once).
 *
 * nginx needs a certificate file for every site before it starts: each hostname's directory holds a self-signed
 * placeholder (openssl) until sync replaces it; a handshake that still sees the placeholder fails verification.
 */
import { execFile } from 'node:child_process'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startNginx } from '../../test/harness/nginx.ts'
import { systemBinary } from '../../test/harness/system.ts'
import { servedSerial as tlsServedSerial } from '../../test/harness/tls-probe.ts'
import type { ServiceProcess } from '../../test/service/service-process.ts'
import { type SyncAgent, startSyncAgent } from '../../test/service/sync-agent.ts'

export interface ServedResult {
  n: number
  /** Per hostname, ms from its POST until nginx served its certificate. */
  perHostname: { medianMs: number; p95Ms: number; maxMs: number }
  /** ms from the first POST until the last hostname was served. */
  totalMs: number
  /** Per hostname, ms from its POST until the API listed it valid (polled every 250 ms): the issuance part. */
  issued: { medianMs: number; p95Ms: number; allMs: number }
  /** How often each hostname was probed before it was served, at most (the resolution of the figures). */
  probeRounds: number
  /** nginx reloads run by `webacme sync` (one after each pass that wrote files). */
  reloads: number
  webhooks: {
    events: number
    expected: number
    deliveries: number
    minPerEvent: number
    maxPerEvent: number
    duplicatedEvents: number
    signaturesVerified: boolean
    /** ms from the first POST until the first delivery of the last expected event. */
    allDeliveredMs: number
  }
}

interface Delivery {
  id: string
  type: string
  name: string
  verified: boolean
  at: number
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN

/** The Standard Webhooks check (HMAC-SHA256 under the base64-decoded `whsec_` secret over "id.timestamp.body"). */
function verify(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): boolean {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  return signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',')
    const got = Buffer.from(value ?? '', 'base64')
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected)
  })
}

/** The serial nginx presents for `name` if its chain verifies up to `ca`; undefined otherwise (placeholder, error). */
const servedSerial = (port: number, name: string, ca: string): Promise<string | undefined> =>
  tlsServedSerial(port, name, ca).catch(() => undefined)

async function inParallel<T>(items: T[], limit: number, each: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await each(item)
  }
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker))
}

/**
 * Runs the phase on `service` (admin token `token`), issuing from Pebble whose issuing root is `issuerRoot`.
 * `log` gets progress lines; `deadlineMs` is a hang guard only.
 */
export async function postToServed(
  service: ServiceProcess,
  token: string,
  issuerRoot: string,
  names: string[],
  log: (line: string) => void,
  deadlineMs = 30 * 60_000,
): Promise<ServedResult> {
  const out = await mkdtemp(join(tmpdir(), 'webacme-bench-served-'))
  const deliveries: Delivery[] = []
  let secret = ''
  const receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8')
    })
    req.on('end', () => {
      try {
        const event = JSON.parse(body) as { type: string; data: { name: string } }
        deliveries.push({
          id: String(req.headers['webhook-id']),
          type: event.type,
          name: event.data.name,
          verified: verify(secret, req.headers, body),
          at: Date.now(),
        })
        res.writeHead(204).end()
      } catch {
        res.writeHead(400).end()
      }
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  let agent: SyncAgent | undefined
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined
  try {
    const created = await service.api('/api/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
        events: ['certificate.issued', 'certificate.failed'],
      }),
    })
    if (created.status !== 201)
      throw new Error(`POST /api/webhooks: ${created.status} ${await created.text()}`)
    secret = ((await created.json()) as { secret: string }).secret

    // A self-signed placeholder in every site's directory, so that nginx starts before anything is issued.
    const openssl = systemBinary('openssl')
    const placeholder = join(out, '.placeholder')
    await mkdir(placeholder)
    await promisify(execFile)(openssl, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=placeholder.invalid',
      '-keyout',
      join(placeholder, 'privkey.pem'),
      '-out',
      join(placeholder, 'fullchain.pem'),
    ])
    const files = {
      'fullchain.pem': await readFile(join(placeholder, 'fullchain.pem'), 'utf8'),
      'privkey.pem': await readFile(join(placeholder, 'privkey.pem'), 'utf8'),
    }
    for (const name of names) {
      await mkdir(join(out, name))
      for (const [file, text] of Object.entries(files)) await writeFile(join(out, name, file), text)
    }
    nginx = await startNginx(names.map((serverName) => ({ serverName, certDir: join(out, serverName) })))

    // The pull agent, already running when the names are POSTed (as an operator's would be).
    agent = startSyncAgent({ serviceUrl: service.url, token, out, reload: nginx.reloadCommand, names })
    const postedAt = new Map<string, number>()
    const servedAt = new Map<string, number>()
    const jobSerial = new Map<string, string>()
    const started = Date.now()
    log(`phase 4: POST to served, ${names.length} hostnames`)
    await inParallel(names, 50, async (name) => {
      postedAt.set(name, Date.now())
      const res = await service.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
      if (res.status !== 202) throw new Error(`POST ${name}: ${res.status} ${await res.text()}`)
    })

    // When the API first lists each name valid (issuance alone, without sync and nginx).
    const issuedAt = new Map<string, number>()
    const issuance = (async () => {
      while (issuedAt.size < names.length && Date.now() - started < deadlineMs) {
        const res = await service.api('/api/certificates?limit=1000')
        const now = Date.now()
        const { certificates } = (await res.json()) as {
          certificates: Array<{ name: string; status: string }>
        }
        for (const c of certificates)
          if (c.status === 'valid' && postedAt.has(c.name) && !issuedAt.has(c.name)) issuedAt.set(c.name, now)
        await new Promise((r) => setTimeout(r, 250))
      }
    })()

    // Probe every name not yet served, round after round: a handshake; once it verifies, the job's serial.
    let rounds = 0
    while (servedAt.size < names.length) {
      if (Date.now() - started > deadlineMs) {
        throw new Error(
          `${names.length - servedAt.size} of ${names.length} not served by the deadline\n--- sync ---\n${agent.output().slice(-4000)}\n--- nginx ---\n${nginx.logs().slice(-4000)}`,
        )
      }
      rounds++
      const pending = names.filter((n) => !servedAt.has(n))
      await inParallel(pending, 20, async (name) => {
        const serial = await servedSerial(nginx!.port, name, issuerRoot)
        if (serial === undefined) return
        const at = Date.now()
        if (!jobSerial.has(name)) {
          const res = await service.api(`/api/certificates/${name}/bundle`)
          if (!res.ok) return
          jobSerial.set(name, ((await res.json()) as { serial: string }).serial.toUpperCase())
        }
        if (serial === jobSerial.get(name)) servedAt.set(name, at)
      })
      if (rounds % 10 === 0) log(`phase 4: ${servedAt.size} of ${names.length} served after ${rounds} rounds`)
      await new Promise((r) => setTimeout(r, 250))
    }
    await issuance
    const issuedLatencies = names.map((n) => issuedAt.get(n)! - postedAt.get(n)!).sort((a, b) => a - b)
    const lastServed = Math.max(...servedAt.values())
    const latencies = names.map((n) => servedAt.get(n)! - postedAt.get(n)!).sort((a, b) => a - b)

    // Every issued event delivered at least once (a hang guard only).
    const expected = new Set(names)
    const issuedDelivered = () =>
      new Set(
        deliveries.filter((d) => d.type === 'certificate.issued' && expected.has(d.name)).map((d) => d.name),
      )
    while (issuedDelivered().size < names.length) {
      if (Date.now() - started > deadlineMs)
        throw new Error(`webhooks: ${issuedDelivered().size} of ${names.length} issued events delivered`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const firstDelivery = new Map<string, number>()
    for (const d of deliveries)
      if (d.type === 'certificate.issued' && expected.has(d.name) && !firstDelivery.has(d.name))
        firstDelivery.set(d.name, d.at)
    const allDelivered = Math.max(...firstDelivery.values())
    // A little longer, for duplicates still on their way.
    await new Promise((r) => setTimeout(r, 5000))
    const perEvent = new Map<string, number>()
    for (const d of deliveries) if (expected.has(d.name)) perEvent.set(d.id, (perEvent.get(d.id) ?? 0) + 1)
    const counts = [...perEvent.values()]

    await agent.stop()
    const result: ServedResult = {
      n: names.length,
      perHostname: {
        medianMs: quantile(latencies, 0.5),
        p95Ms: quantile(latencies, 0.95),
        maxMs: latencies.at(-1)!,
      },
      totalMs: lastServed - started,
      issued: {
        medianMs: quantile(issuedLatencies, 0.5),
        p95Ms: quantile(issuedLatencies, 0.95),
        allMs: Math.max(...issuedAt.values()) - started,
      },
      probeRounds: rounds,
      reloads: (agent.output().match(/reload: exit 0/g) ?? []).length,
      webhooks: {
        events: perEvent.size,
        expected: names.length,
        deliveries: deliveries.length,
        minPerEvent: Math.min(...counts),
        maxPerEvent: Math.max(...counts),
        duplicatedEvents: counts.filter((c) => c > 1).length,
        signaturesVerified: deliveries.every((d) => d.verified),
        allDeliveredMs: allDelivered - started,
      },
    }
    log(
      `phase 4: median ${result.perHostname.medianMs} ms, p95 ${result.perHostname.p95Ms} ms per hostname, all ${names.length} served ${(result.totalMs / 1000).toFixed(1)} s after the first POST; webhooks: ${result.webhooks.deliveries} deliveries for ${result.webhooks.events} events, ${result.webhooks.duplicatedEvents} duplicated`,
    )
    return result
  } finally {
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL')
    await nginx?.stop()
    await new Promise((r) => receiver.close(r))
    await rm(out, { recursive: true, force: true })
  }
}
