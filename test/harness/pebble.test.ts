// Proves the test harness: Pebble and challtestsrv start, are trusted for real, answer, and go away.

import { execFile } from 'node:child_process'
import { createHash, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto'
import { Resolver } from 'node:dns/promises'
import { existsSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { CA_DIR_ENV, getTestCa } from './ca.ts'
import { startHttp01Server } from './http01-server.ts'
import { opensslCsr } from './openssl-csr.ts'
import { type Pebble, startPebble } from './pebble.ts'
import { freePorts, isPortFree, listenerOwnedBy } from './ports.ts'
import { countResults, formatSummary } from './summary-reporter.ts'

const run = promisify(execFile)

// Lets a test decide the first ports startPebble gets, to stage a port race with a stranger.
const forcedPorts = vi.hoisted(() => ({ queue: [] as number[][] }))
vi.mock('./ports.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('./ports.ts')>()
  return {
    ...actual,
    async freePorts(count: number) {
      const real = await actual.freePorts(count)
      const forced = forcedPorts.queue.shift()
      return forced ? [...forced, ...real.filter((p) => !forced.includes(p))].slice(0, count) : real
    },
  }
})

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Runs `fetch(url)` in a fresh Node process with exactly `env`; resolves to what it printed. */
async function fetchInChild(url: string, env: NodeJS.ProcessEnv): Promise<string> {
  const script = `fetch(process.argv[1]).then(
    (r) => console.log('status ' + r.status),
    (e) => console.log('error ' + e.message + ' | ' + e.cause?.code + ': ' + e.cause?.message))`
  const { stdout } = await run(process.execPath, ['-e', script, url], { env, timeout: 20_000 })
  return stdout.trim()
}

// A bare-bones ACME client (RFC 8555), independent of the library, to show that Pebble's VA reaches
// the harness's DNS and http-01 responders and that certStatus reads a real certificate.
const b64u = (data: Buffer | string) => Buffer.from(data).toString('base64url')

class MiniAcme {
  private readonly key: KeyObject
  private readonly jwk: Record<string, string>
  private kid: string | undefined
  private dir: Record<string, string> = {}
  private nonce: string | undefined

  constructor(private readonly directoryUrl: string) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    this.key = privateKey
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as Record<string, string>
    this.jwk = { crv: crv!, kty: kty!, x: x!, y: y! }
  }

  /** RFC 8555 §8.1 key authorization. */
  keyAuthorization(token: string): string {
    const { crv, kty, x, y } = this.jwk
    return `${token}.${b64u(createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest())}`
  }

  async post(url: string, payload: unknown): Promise<{ res: Response; body: Record<string, unknown> }> {
    for (let attempt = 0; ; attempt++) {
      if (!this.nonce)
        this.nonce = (await fetch(this.dir.newNonce!, { method: 'HEAD' })).headers.get('replay-nonce')!
      const header = {
        alg: 'ES256',
        nonce: this.nonce,
        url,
        ...(this.kid ? { kid: this.kid } : { jwk: this.jwk }),
      }
      const input = `${b64u(JSON.stringify(header))}.${payload === '' ? '' : b64u(JSON.stringify(payload))}`
      const signature = sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' })
      const [protectedB64, payloadB64] = input.split('.')
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/jose+json' },
        body: JSON.stringify({ protected: protectedB64, payload: payloadB64, signature: b64u(signature) }),
      })
      this.nonce = res.headers.get('replay-nonce') ?? undefined
      const text = await res.text()
      const body = res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : { text }
      if (res.status === 400 && body.type === 'urn:ietf:params:acme:error:badNonce' && attempt < 5) continue
      if (res.status >= 400) throw new Error(`${url}: ${res.status} ${text}`)
      return { res, body }
    }
  }

  /** Polls until `until`; the test's own timeout bounds a failure (a count of polls would be a clock in disguise). */
  async poll(url: string, until: string): Promise<Record<string, unknown>> {
    for (;;) {
      const { body } = await this.post(url, '')
      if (body.status === until) return body
      if (body.status === 'invalid') throw new Error(`${url} is invalid: ${JSON.stringify(body)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Orders a certificate for `domains`; `respond` puts each challenge's answer in place. */
  async issue(
    domains: string[],
    respond: (domain: string, token: string, keyAuthorization: string) => Promise<void>,
    pick: (domain: string) => 'http-01' | 'dns-01' = () => 'http-01',
  ): Promise<{ chain: X509Certificate[]; pem: string }> {
    this.dir = (await (await fetch(this.directoryUrl)).json()) as Record<string, string>
    const account = await this.post(this.dir.newAccount!, { termsOfServiceAgreed: true })
    this.kid = account.res.headers.get('location')!
    const order = await this.post(this.dir.newOrder!, {
      identifiers: domains.map((value) => ({ type: 'dns', value })),
    })
    const orderUrl = order.res.headers.get('location')!
    for (const authzUrl of order.body.authorizations as string[]) {
      const { body: authz } = await this.post(authzUrl, '')
      const domain = (authz.identifier as { value: string }).value
      const challenges = authz.challenges as { type: string; token: string; url: string }[]
      const challenge = challenges.find((c) => c.type === pick(domain))!
      await respond(domain, challenge.token, this.keyAuthorization(challenge.token))
      await this.post(challenge.url, {})
      await this.poll(authzUrl, 'valid')
    }
    const { csrDer } = await opensslCsr(domains)
    await this.post(order.body.finalize as string, { csr: b64u(csrDer) })
    const done = await this.poll(orderUrl, 'valid')
    const { body } = await this.post(done.certificate as string, '')
    const pem = body.text as string
    const chain = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
      (c) => new X509Certificate(c),
    )
    return { chain, pem }
  }

  async revoke(cert: X509Certificate, reason: number): Promise<void> {
    await this.post(this.dir.revokeCert!, { certificate: b64u(cert.raw), reason })
  }
}

describe('test CA', () => {
  it('is shared by the run and trusted by this worker from its start', () => {
    const dir = process.env[CA_DIR_ENV]
    expect(dir).toBeTruthy()
    expect(existsSync(join(dir!, 'ca.pem'))).toBe(true)
    // Set by the global setup in the vitest main process, inherited by the forked worker.
    expect(process.env.NODE_EXTRA_CA_CERTS).toBe(join(dir!, 'ca.pem'))
  })
})

describe('startPebble with challtestsrv', () => {
  let pebble: Pebble

  beforeAll(async () => {
    pebble = await startPebble()
  })
  afterAll(async () => {
    await pebble?.stop()
  })

  it('serves the ACME directory over HTTPS to global fetch', async () => {
    const res = await fetch(pebble.directoryUrl)
    expect(res.status).toBe(200)
    const dir = (await res.json()) as Record<string, unknown>
    expect(dir.newNonce).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//)
    expect(dir.newAccount).toBeTypeOf('string')
    expect(dir.newOrder).toBeTypeOf('string')
    expect(pebble.caPem).toContain('-----BEGIN CERTIFICATE-----')
  })

  it('exposes the issuing root, the intermediate and certificate status', async () => {
    const root = await pebble.roots(0)
    expect(root).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n?$/)
    expect(await pebble.roots()).toBe(root)
    const intermediate = await pebble.intermediates(0)
    expect(intermediate).toContain('-----BEGIN CERTIFICATE-----')
    expect(intermediate).not.toBe(root)
    // No certificate was issued: Pebble knows no serial.
    expect(await pebble.certStatus('0x00:AB:CD')).toEqual({ status: 'unknown', serial: 'abcd' })
  })

  it('answers TXT records set through challtestsrv on its DNS port', async () => {
    const challtest = pebble.challtest!
    // The resolver's timeout only bounds a failure: large, so a loaded machine cannot turn an answer into ETIMEOUT.
    const resolver = new Resolver({ timeout: 20_000, tries: 2 })
    resolver.setServers([`127.0.0.1:${pebble.dnsPort}`])
    const name = '_acme-challenge.harness.example.test'

    await challtest.setTxt(`${name}.`, 'first-value')
    await challtest.setTxt(name, 'second-value') // values accumulate until cleared
    const records = (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''))
    expect(records.sort()).toEqual(['first-value', 'second-value'])

    await challtest.clearTxt(name)
    await expect(resolver.resolveTxt(name)).rejects.toMatchObject({
      code: expect.stringMatching(/ENODATA|ENOTFOUND/),
    })

    expect((await challtest.dnsRequestHistory(`${name}.`)).length).toBeGreaterThanOrEqual(2)
    await challtest.clearRequestHistory(name, 'dns')
    expect(await challtest.dnsRequestHistory(name)).toEqual([])

    await challtest.addA('a.harness.example.test', ['127.0.0.2'])
    expect(await resolver.resolve4('a.harness.example.test')).toEqual(['127.0.0.2'])
    // No AAAA default: Pebble must not be sent to [::1].
    await expect(resolver.resolve6('a.harness.example.test')).rejects.toBeTruthy()
  })

  it('serves http-01 responses added through challtestsrv', async () => {
    const challtest = pebble.challtest!
    const url = `http://127.0.0.1:${pebble.httpPort}/.well-known/acme-challenge/tok-123`
    await challtest.addHttp01('tok-123', 'tok-123.thumbprint')
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('tok-123.thumbprint')
    await challtest.delHttp01('tok-123')
    // challtestsrv answers unknown tokens with an empty 200, not 404.
    expect(await (await fetch(url)).text()).toBe('')
    const history = await challtest.httpRequestHistory('127.0.0.1')
    expect(history.filter((e) => e.URL === '/.well-known/acme-challenge/tok-123')).toHaveLength(2)
  })

  it('validates http-01 and dns-01 through challtestsrv, issues, and reports certificate status', async () => {
    const challtest = pebble.challtest!
    const acme = new MiniAcme(pebble.directoryUrl)
    const pick = (domain: string) => (domain.startsWith('web.') ? 'http-01' : 'dns-01')
    const { chain } = await acme.issue(
      ['web.harness.test', 'dns.harness.test'],
      async (domain, token, keyAuth) => {
        if (pick(domain) === 'http-01') await challtest.addHttp01(token, keyAuth)
        else
          await challtest.setTxt(
            `_acme-challenge.${domain}.`,
            b64u(createHash('sha256').update(keyAuth).digest()),
          )
      },
      pick,
    )
    const [leaf, intermediate] = chain
    expect(leaf!.subjectAltName).toBe('DNS:web.harness.test, DNS:dns.harness.test')
    // The chain ends at the root the management interface hands out.
    const root = new X509Certificate(await pebble.roots(0))
    expect(leaf!.checkIssued(intermediate!)).toBe(true)
    expect(intermediate!.verify(root.publicKey)).toBe(true)

    const valid = await pebble.certStatus(leaf!.serialNumber)
    expect(valid.status).toBe('valid')
    expect(valid.serial).toBe(leaf!.serialNumber.toLowerCase().replace(/^0+/, ''))
    expect(new X509Certificate(valid.certificate!).fingerprint256).toBe(leaf!.fingerprint256)
    expect(valid.reason).toBeUndefined()
    expect(valid.revokedAt).toBeUndefined()

    await acme.revoke(leaf!, 4)
    const revoked = await pebble.certStatus(leaf!.serialNumber)
    expect(revoked).toMatchObject({ status: 'revoked', reason: 4 })
    expect(Date.parse(revoked.revokedAt!)).not.toBeNaN()
  })

  it('is trusted only through the CA: without it a fresh Node process rejects the certificate', async () => {
    const env = { ...process.env }
    delete env.NODE_EXTRA_CA_CERTS
    delete env.SSL_CERT_FILE
    // The child makes this one request; Node (OpenSSL) names an unknown issuer of the leaf exactly so.
    const untrusted = await fetchInChild(pebble.directoryUrl, env)
    expect(untrusted).toBe(
      'error fetch failed | UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate',
    )

    const trusted = await fetchInChild(pebble.directoryUrl, {
      ...env,
      NODE_EXTRA_CA_CERTS: pebble.caCertPath,
    })
    expect(trusted).toBe('status 200')
  })
})

describe('startPebble options', () => {
  it('passes knobs and EAB keys, and leaves http-01 to the test with http01: self', async () => {
    const pebble = await startPebble({
      http01: 'self',
      nonceRejectPercent: 0,
      ordersPerPage: 7,
      externalAccountMacKeys: { 'kid-1': 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' },
    })
    try {
      const dir = (await (await fetch(pebble.directoryUrl)).json()) as { meta?: Record<string, unknown> }
      expect(dir.meta?.externalAccountRequired).toBe(true)
      expect(pebble.logs()).toContain('reject 0% of good nonces')
      expect(pebble.logs()).toContain('show 7 orders per page')

      // challtestsrv left the http-01 port free: the test's own responder takes it.
      const server = await startHttp01Server(pebble.httpPort)
      try {
        const base = `http://127.0.0.1:${pebble.httpPort}/.well-known/acme-challenge/`
        server.set('abc', 'abc.key-authz')
        const ok = await fetch(`${base}abc`)
        expect(ok.status).toBe(200)
        expect(ok.headers.get('content-type')).toMatch(/^text\/plain/)
        expect(await ok.text()).toBe('abc.key-authz')
        expect((await fetch(`${base}other`)).status).toBe(404)
        server.delete('abc')
        expect((await fetch(`${base}abc`)).status).toBe(404)
        expect((await fetch(`http://127.0.0.1:${pebble.httpPort}/`)).status).toBe(404)
        expect(server.requests).toBe(3)
      } finally {
        await server.close()
      }
    } finally {
      await pebble.stop()
    }
  })

  it("validates http-01 against the test's own responder with http01: self", async () => {
    const pebble = await startPebble({ http01: 'self', nonceRejectPercent: 0 })
    try {
      const server = await startHttp01Server(pebble.httpPort)
      try {
        const acme = new MiniAcme(pebble.directoryUrl)
        const { chain } = await acme.issue(['self.harness.test'], async (_domain, token, keyAuth) => {
          server.set(token, keyAuth)
        })
        expect(chain[0]!.subjectAltName).toBe('DNS:self.harness.test')
        expect(server.requests).toBeGreaterThanOrEqual(1)
      } finally {
        await server.close()
      }
    } finally {
      await pebble.stop()
    }
  })

  it('runs without challtestsrv', async () => {
    const pebble = await startPebble({ challtestsrv: false })
    try {
      expect(pebble.challtest).toBeUndefined()
      expect(pebble.dnsPort).toBeUndefined()
      expect((await fetch(pebble.directoryUrl)).status).toBe(200)
    } finally {
      await pebble.stop()
    }
  })
})

describe('startPebble robustness', () => {
  it('retries on new ports when a stranger already answers on the chosen one', async () => {
    // The stranger even speaks HTTPS with the trusted CA and serves a fake directory.
    const ca = await getTestCa()
    const stranger = createHttpsServer({ cert: ca.certPem, key: ca.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"stranger":true}')
    })
    const [taken] = await freePorts(1)
    await new Promise<void>((resolve) => stranger.listen(taken, '127.0.0.1', resolve))
    forcedPorts.queue.push([taken!])
    try {
      const pebble = await startPebble({ challtestsrv: false })
      try {
        expect(Number(new URL(pebble.directoryUrl).port)).not.toBe(taken)
        const dir = (await (await fetch(pebble.directoryUrl)).json()) as Record<string, unknown>
        expect(dir.newNonce).toBeTypeOf('string')
      } finally {
        await pebble.stop()
      }
    } finally {
      forcedPorts.queue.length = 0
      await new Promise((resolve) => stranger.close(resolve))
    }
  })

  it("fails fast with the servers' output when a port given in the options is taken", async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as { port: number }).port
    try {
      // "Fast" means on the bind error in the servers' output, not at the readiness deadline: with an hour to
      // get ready, only that event can end startPebble within the test's own timeout.
      const error = await startPebble({ httpPort: port, startTimeoutMs: 3_600_000 }).then(
        () => undefined,
        (err: unknown) => err as Error,
      )
      expect(error?.message).toContain(`port ${port} is already in use`)
      expect(error?.message).toContain('bind: address already in use') // the output tail
      expect(error?.message).not.toContain('not ready within')
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  })
})

describe('stop()', () => {
  it('kills both processes and frees every port', async () => {
    const pebble = await startPebble()
    const pids = [pebble.pid, pebble.challtestPid!]
    const ports = [
      Number(new URL(pebble.directoryUrl).port),
      Number(new URL(pebble.managementUrl).port),
      Number(new URL(pebble.challtest!.url).port),
      pebble.httpPort,
      pebble.dnsPort!,
    ]
    expect(pids.every(isAlive)).toBe(true)
    expect(await isPortFree(ports[0]!)).toBe(false)

    await pebble.stop()
    await pebble.stop() // idempotent
    expect(pids.filter(isAlive)).toEqual([])
    for (const port of ports) expect(await isPortFree(port), `port ${port}`).toBe(true)
    await expect(fetch(pebble.directoryUrl)).rejects.toThrow()
  })
})

describe('ports', () => {
  it('hands out distinct free ports and tells who owns a listener', async () => {
    const ports = await freePorts(5)
    expect(new Set(ports).size).toBe(5)
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', resolve))
    try {
      expect(await isPortFree(ports[0]!)).toBe(false)
      const owned = await listenerOwnedBy(process.pid, ports[0]!)
      if (process.platform === 'linux') {
        expect(owned).toBe(true)
        expect(await listenerOwnedBy(process.pid, ports[1]!)).toBe(false)
      }
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('summary reporter', () => {
  it('formats the closing line', () => {
    expect(formatSummary({ passed: 3, failed: 0, skipped: 0 })).toBe('3 passed, 0 failed')
    expect(formatSummary({ passed: 3, failed: 1, skipped: 2 }, 'vitest')).toBe(
      'vitest: 3 passed, 1 failed, 2 skipped',
    )
  })

  it('counts a failed run without failed tests as a failure', () => {
    expect(countResults([], [], 'failed')).toEqual({ passed: 0, failed: 1, skipped: 0 })
    expect(countResults([], [], 'passed')).toEqual({ passed: 0, failed: 0, skipped: 0 })
  })
})
