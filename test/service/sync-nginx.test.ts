/**
 * `webacme sync` into a real nginx (Debian's nginx-light): the service issues two names, a deploy token fetches
 * them into `DIR/<name>/`, nginx serves both by SNI from those files; then `sync --interval` runs beside it, the
 * certificates are renewed (a cron pass as of their expiry), sync writes the new files and runs `nginx -s reload`,
 * and nginx serves the new serials (seen over TLS, and by `openssl s_client -servername`) while a client that
 * connects again and again over HTTPS sees no failed request through the reload. A reload command that fails is
 * exit code 8; a pass where nothing changed runs no reload.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import { request } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getTestCa } from '../harness/ca.ts'
import { type Nginx, startNginx } from '../harness/nginx.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { systemBinary } from '../harness/system.ts'
import { servedSerial as tlsServedSerial } from '../harness/tls-probe.ts'
import { root } from '../runtimes/paths.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'
import { startSyncAgent } from './sync-agent.ts'

const RUN = Date.now().toString(36)
const names = [`a-${RUN}.webacme.test`, `b-${RUN}.webacme.test`]
let pebble: Pebble
let service: ServiceProcess
let nginx: Nginx | undefined
let persist: string
let out: string
let token: string
let issuerRoot: string
/** When the names were POSTed (for the "POST to served" figure printed by the test). */
let postedAt = 0

const cli = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), ...args], {
    cwd: root,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  )

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-sync-'))
  out = await mkdtemp(join(tmpdir(), 'webacme-sync-out-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  service = await startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token: `token-${RUN}-sync`,
    caFile: ca.caCertPath,
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', LIMIT_REQUESTS_PER_SECOND: '1000' },
  })
  postedAt = performance.now()
  for (const name of names) {
    await service.api('/api/certificates', { method: 'POST', body: JSON.stringify({ identifiers: [name] }) })
  }
  await allValid(service, names, { deadline: Date.now() + 60_000 })
  const res = await service.api('/api/tokens', {
    method: 'POST',
    body: JSON.stringify({ names, label: 'nginx' }),
  })
  token = ((await res.json()) as { token: string }).token
  issuerRoot = await pebble.roots(0)
}, 180_000)

afterAll(async () => {
  await nginx?.stop()
  await service?.stop()
  await pebble?.stop()
  for (const d of [persist, out]) if (d) await rm(d, { recursive: true, force: true })
})

/** The serial (uppercase hex) nginx presents for `name`, the chain verified up to Pebble's root. */
const servedSerial = (port: number, name: string) => tlsServedSerial(port, name, issuerRoot)

/** One HTTPS GET on a new connection; resolves to the serial seen, rejects on any failure. */
function httpsGet(port: number, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: name,
        headers: { host: name },
        ca: issuerRoot,
        agent: false,
        path: '/',
      },
      (res) => {
        const serial = (res.socket as import('node:tls').TLSSocket)
          .getPeerCertificate()
          .serialNumber.toUpperCase()
        let body = ''
        res.on('data', (c: Buffer) => {
          body += c.toString('utf8')
        })
        res.on('end', () =>
          res.statusCode === 200 && body === `${name}\n`
            ? resolve(serial)
            : reject(new Error(`${name}: ${res.statusCode} ${body}`)),
        )
      },
    )
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.once('error', reject)
    req.end()
  })
}

const bundleSerial = async (name: string) =>
  (
    (await (await service.api(`/api/certificates/${name}/bundle`)).json()) as { serial: string }
  ).serial.toUpperCase()

describe('webacme sync into nginx', () => {
  it('writes the files, nginx serves them, a renewal is synced and reloaded without a failed request', async () => {
    const once = await cli([
      'sync',
      '--service',
      service.url,
      '--token',
      token,
      '--out',
      out,
      ...names.flatMap((n) => ['--name', n]),
    ])
    expect(once.code, once.stderr).toBe(0)
    for (const name of names) {
      for (const file of ['privkey.pem', 'cert.pem', 'chain.pem', 'fullchain.pem']) {
        expect(existsSync(join(out, name, file)), `${name}/${file}`).toBe(true)
      }
      expect((await stat(join(out, name, 'privkey.pem'))).mode & 0o777).toBe(0o600)
    }
    nginx = await startNginx(names.map((serverName) => ({ serverName, certDir: join(out, serverName) })))
    const before = await Promise.all(names.map(bundleSerial))
    expect(await Promise.all(names.map((n) => servedSerial(nginx!.port, n)))).toEqual(before)
    // A figure, not a check: POST of both names to nginx serving them (issuance, token, one sync, nginx start).
    console.log(
      `POST to served (${names.length} names, one sync, nginx started): ${((performance.now() - postedAt) / 1000).toFixed(1)} s`,
    )

    // Nothing changed: no reload runs.
    const marker = join(out, 'reloaded')
    const unchanged = await cli([
      'sync',
      '--service',
      service.url,
      '--token',
      token,
      '--out',
      out,
      '--name',
      names[0]!,
      '--reload',
      `touch '${marker}'`,
    ])
    expect(unchanged.code, unchanged.stderr).toBe(0)
    expect(unchanged.stdout).toContain('unchanged')
    expect(existsSync(marker)).toBe(false)

    // sync --interval beside nginx, and a client connecting again and again to both names.
    const agent = startSyncAgent({
      serviceUrl: service.url,
      token,
      out,
      reload: nginx.reloadCommand,
      names,
    })
    const seen = names.map(() => new Set<string>())
    const failures: string[] = []
    let requests = 0
    let looping = true
    const loop = (async () => {
      while (looping) {
        await Promise.all(
          names.map((name, i) =>
            httpsGet(nginx!.port, name).then(
              (serial) => {
                requests++
                seen[i]!.add(serial)
              },
              (error: Error) => failures.push(`${name}: ${error.message}`),
            ),
          ),
        )
      }
    })()
    try {
      // Renew both: the cron pass as of their expiry finds them due.
      const notAfter = (
        (await (await service.api(`/api/certificates/${names[0]}`)).json()) as { notAfter: string }
      ).notAfter
      await service.cron(Date.parse(notAfter))
      const deadline = Date.now() + 120_000
      let after: string[] = []
      for (;;) {
        after = await Promise.all(names.map((n) => servedSerial(nginx!.port, n)))
        if (after.every((s, i) => s !== before[i])) break
        if (Date.now() > deadline) {
          throw new Error(
            `nginx still serves ${after.join(', ')}\n--- sync ---\n${agent.output()}\n--- nginx ---\n${nginx.logs()}`,
          )
        }
        await new Promise((r) => setTimeout(r, 200))
      }
      expect(after).toEqual(await Promise.all(names.map(bundleSerial)))
      // openssl's own view of it.
      const { stdout } = await promisify(execFile)('sh', [
        '-c',
        `'${systemBinary('openssl')}' s_client -connect 127.0.0.1:${nginx.port} -servername ${names[1]} </dev/null 2>/dev/null | '${systemBinary('openssl')}' x509 -noout -serial`,
      ])
      expect(
        stdout
          .trim()
          .replace(/^serial=/, '')
          .toUpperCase(),
      ).toBe(after[1])
      // A few more rounds on the new certificates.
      const target = requests + 10
      while (requests < target && failures.length === 0) await new Promise((r) => setTimeout(r, 50))
    } finally {
      looping = false
      await loop
      await agent.stop()
    }
    console.log(
      `HTTPS requests on new connections through the renewal and reload: ${requests}, failed: ${failures.length}`,
    )
    expect(failures).toEqual([])
    // The client went through the reload: it saw the old and the new certificate of each name.
    for (const [i, name] of names.entries()) {
      expect([...seen[i]!].sort(), name).toEqual([before[i]!, await bundleSerial(name)].sort())
    }
    expect(agent.output()).toMatch(/reload: exit 0/)
  })

  it('fetches the bundles of a pass at once, not one after the other', async () => {
    // A proxy in front of the service holds each bundle request until the other name's has arrived too: a sync that
    // waited for one bundle before asking for the next would only get there through the fallback release.
    const fresh = await mkdtemp(join(tmpdir(), 'webacme-sync-turns-'))
    const held: Array<() => void> = []
    let inFlight = 0
    let mostAtOnce = 0
    let fallback: ReturnType<typeof setTimeout> | undefined
    let released = false
    const release = () => {
      released = true
      clearTimeout(fallback)
      for (const go of held.splice(0)) go()
    }
    const target = new URL(service.url)
    const proxy = createServer((req, res) => {
      const bundle = /\/bundle$/.test(req.url ?? '')
      const forward = () => {
        const upstream = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            path: req.url,
            method: req.method,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(res)
          },
        )
        upstream.once('error', () => res.destroy())
        req.pipe(upstream)
      }
      if (!bundle) return forward()
      inFlight++
      mostAtOnce = Math.max(mostAtOnce, inFlight)
      res.once('close', () => inFlight--)
      if (released) return forward()
      held.push(forward)
      if (held.length === names.length) release()
      else fallback ??= setTimeout(release, 15_000)
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    try {
      const synced = await cli([
        'sync',
        '--service',
        `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        '--token',
        token,
        '--out',
        fresh,
        ...names.flatMap((n) => ['--name', n]),
        '--json',
      ])
      expect(synced.code, synced.stderr).toBe(0)
      expect(mostAtOnce).toBe(names.length)
      const report = JSON.parse(synced.stdout) as { certificates: Array<{ name: string; status: string }> }
      // The results keep the order of the names given.
      expect(report.certificates.map((c) => [c.name, c.status])).toEqual(names.map((n) => [n, 'written']))
      for (const name of names) expect(existsSync(join(fresh, name, 'fullchain.pem')), name).toBe(true)
    } finally {
      release()
      await new Promise((resolve) => proxy.close(resolve))
      await rm(fresh, { recursive: true, force: true })
    }
  })

  it('reports a failed reload command as exit code 8', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'webacme-sync-fail-'))
    try {
      await writeFile(join(fresh, '.keep'), '')
      const failed = await cli([
        'sync',
        '--service',
        service.url,
        '--token',
        token,
        '--out',
        fresh,
        '--name',
        names[0]!,
        '--reload',
        'exit 3',
        '--json',
      ])
      expect(failed.code).toBe(8)
      expect(JSON.parse(failed.stdout)).toMatchObject({ ok: false, exitCode: 8, reload: { exitCode: 3 } })
      const refused = await cli([
        'sync',
        '--service',
        service.url,
        '--token',
        'wdt_wrong',
        '--out',
        fresh,
        '--name',
        names[0]!,
      ])
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toMatch(/refused the token/)
    } finally {
      await rm(fresh, { recursive: true, force: true })
    }
  })
})
