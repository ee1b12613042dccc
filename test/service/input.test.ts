/**
 * Bad input and the hostname policy through the service's API (issue 16, items 9, 10, 11), against a real Pebble:
 *
 * - with the default policy (`public`) and `ALLOWED_SUFFIXES`: `localhost`, single labels, private, loopback and
 *   link-local addresses (v4 and v6), names under no public top-level domain and names outside the operator's
 *   suffixes are refused with `400 ERR_HOSTNAME_POLICY` before anything is stored;
 * - malformed percent-encoding in a path → 400, bodies over 64 KiB → 413 (declared or streamed), names of 253
 *   characters issued and served, 254 refused, one hostname managed by one job (409 naming the other);
 * - a stored certificate that does not cover a job's identifiers (put there while the service was stopped, sealed
 *   with the service's own storage key) is never served.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyRing } from '../../src/cloudflare/keyring.ts'
import { R2Storage } from '../../src/cloudflare/r2-storage.ts'
import { sealedStorage } from '../../src/cloudflare/sealed-storage.ts'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const RUN = Date.now().toString(36)
const token = `token-${RUN}-input`
let pebble: Pebble
let service: ServiceProcess | undefined
let persist: string
let port: number
let caFile: string

const start = (vars: Record<string, string>) =>
  startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token,
    caFile,
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', LIMIT_REQUESTS_PER_SECOND: '1000', ...vars },
  })

const post = (body: unknown, init: RequestInit = {}) =>
  service!.api('/api/certificates', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })

async function expectError(res: Response, status: number, code: string): Promise<{ message: string }> {
  const text = await res.text()
  expect(res.status, text).toBe(status)
  const body = JSON.parse(text) as { error: { code: string; message: string } }
  expect(body.error.code, text).toBe(code)
  expect(text).not.toMatch(/at .*\.(ts|js):\d+/) // no stack trace
  return body.error
}

/**
 * The status of a POST /api/certificates written by hand: the head with `headers`, then `parts` of the body, and the
 * connection left open (the body never ends) until the service answers.
 */
function rawStatus(headers: string[], parts: string[]): Promise<number> {
  const url = new URL(service!.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', (text: string) => {
      answer += text
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)
      if (status) {
        resolve(Number(status[1]))
        socket.destroy()
      }
    })
    socket.on('error', (error) => (answer ? undefined : reject(error)))
    socket.on('close', () => reject(new Error(`closed without an answer: ${answer}`)))
    socket.write(
      [
        'POST /api/certificates HTTP/1.1',
        `Host: ${url.host}`,
        `Authorization: Bearer ${token}`,
        'Content-Type: application/json',
        ...headers,
        '',
        '',
      ].join('\r\n'),
    )
    for (const part of parts) socket.write(part)
  })
}

beforeAll(async () => {
  const ca = await getTestCa()
  caFile = ca.caCertPath
  port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-input-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('hostname policy (default: public)', () => {
  it('refuses what no public CA issues and what is outside ALLOWED_SUFFIXES, storing nothing', async () => {
    service = await start({
      HOSTNAME_POLICY: 'public',
      ALLOWED_SUFFIXES: 'example.com,customers.example.net',
    })
    const refused = [
      'localhost',
      'api.localhost',
      'intranet',
      '10.1.2.3',
      '127.0.0.1',
      '169.254.169.254',
      '192.168.0.1',
      '100.64.0.1',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:a00:1', // ::ffff:10.0.0.1, as the identifier is normalized (RFC 5952)
      'printer.local',
      'a.example.test',
      'shop.other.org',
      'example.net',
      '8.8.8.8', // public, but not one of ALLOWED_SUFFIXES
    ]
    for (const name of refused) {
      const error = await expectError(await post({ identifiers: [name] }), 400, 'ERR_HOSTNAME_POLICY')
      expect(error.message).toContain(name)
    }
    // The whole request is refused when one of its names is.
    await expectError(
      await post({ identifiers: ['www.example.com', 'localhost'] }),
      400,
      'ERR_HOSTNAME_POLICY',
    )
    const list = (await (await service.api('/api/certificates')).json()) as { certificates: unknown[] }
    expect(list.certificates).toEqual([])
    // Names under the suffixes pass the policy (then wait for the CA: 202).
    for (const name of ['www.example.com', 'a.b.customers.example.net']) {
      const res = await post({ identifiers: [name] })
      expect(res.status, await res.clone().text()).toBe(202)
      expect((await service.api(`/api/certificates/${name}`, { method: 'DELETE' })).status).toBe(200)
    }
  }, 120_000)

  afterAll(async () => {
    await service?.stop()
    service = undefined
  })
})

describe('bad input (HOSTNAME_POLICY=local, for Pebble)', () => {
  const a = `in-a-${RUN}.webacme.test`
  const b = `in-b-${RUN}.webacme.test`
  const c = `in-c-${RUN}.webacme.test`
  const longName = `${'n'.repeat(240)}-${RUN}`.slice(0, 253).padEnd(253, 'x')
  const longHost = [
    'a'.repeat(63),
    'b'.repeat(63),
    'c'.repeat(63),
    `${RUN}`.padEnd(253 - 3 * 64 - '.webacme.test'.length, 'd'),
  ]
    .join('.')
    .concat('.webacme.test')

  beforeAll(async () => {
    service = await start({})
  }, 120_000)

  it('answers 400 to malformed percent-encoding in a path', async () => {
    for (const path of [
      '/api/certificates/%E0%A4%A',
      '/api/certificates/%zz',
      '/api/certificates/a%/chain',
    ]) {
      await expectError(await service!.api(path), 400, 'ERR_INVALID_PATH')
    }
  })

  it('caps bodies at 64 KiB: 413 for a declared length and for a streamed body, a body under the cap is read', async () => {
    // Declared too large: 413 at once, before the body is even sent (only 1 KiB of the 70,000 bytes is).
    expect(
      await rawStatus([`Content-Length: 70000`], [`{"identifiers":["${a}"],"pad":"${'x'.repeat(1000)}`]),
    ).toBe(413)
    // Streamed without Content-Length (chunked) and never finished: 413 once the cap is passed (80 KiB sent).
    const chunk = ' '.repeat(16 * 1024)
    const chunks = Array.from({ length: 5 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`)
    expect(await rawStatus(['Transfer-Encoding: chunked'], chunks)).toBe(413)
    // Just under the cap: read and answered on its content.
    const under = JSON.stringify({ identifiers: 'not a list' }).padEnd(64 * 1024 - 10, ' ')
    await expectError(await post(under), 400, 'ERR_INVALID_IDENTIFIERS')
    // And a declared 70,000-byte body sent whole, on a connection of its own: through fetch, the socket the service
    // closes after its 413 went back to fetch's pool, and the next test's first request failed on it (ECONNRESET).
    const big = JSON.stringify({ identifiers: [a], pad: 'x'.repeat(70_000) })
    const whole = await rawStatus([`Content-Length: ${Buffer.byteLength(big)}`], [big]).catch(
      (error: Error) => error,
    )
    // The service may close the connection after its answer, before the client has sent the rest.
    if (typeof whole === 'number') expect(whole).toBe(413)
    else expect(whole.message).toMatch(/ECONNRESET|EPIPE|closed without an answer/)
  })

  it('takes names and hostnames of 253 characters, refuses 254', async () => {
    expect(longName).toHaveLength(253)
    expect(longHost).toHaveLength(253)
    await expectError(await post({ identifiers: [a], name: `${longName}x` }), 400, 'ERR_INVALID_NAME')
    const named = await post({ identifiers: [a], name: longName })
    expect(named.status, await named.clone().text()).toBe(202)
    const hosted = await post({ identifiers: [longHost] })
    expect(hosted.status, await hosted.clone().text()).toBe(202)
    expect(((await hosted.json()) as { name: string }).name).toBe(longHost)
    const view = (await (await service!.api(`/api/certificates/${longHost}`)).json()) as {
      identifiers: string[]
    }
    expect(view.identifiers).toEqual([longHost])
    // Pebble's mock DNS cannot answer for a 253-character name ("buffer size too small"): only the long job name is
    // issued here, its records stored under a shortened storage name.
    expect((await service!.api(`/api/certificates/${longHost}`, { method: 'DELETE' })).status).toBe(200)
    await allValid(service!, [longName], { deadline: Date.now() + 120_000 })
    const res = await service!.api(`/api/certificates/${longName}/chain`)
    expect(res.status).toBe(200)
    expect(parseCertificate(await res.text()).dnsNames).toEqual([a])
  }, 180_000)

  it('manages one hostname in one job: 409 names the job that has it', async () => {
    // `a` belongs to the job named longName.
    const error = await expectError(
      await post({ identifiers: [b, a], name: `other-${RUN}` }),
      409,
      'ERR_HOSTNAME_TAKEN',
    )
    expect(error.message).toContain(a)
    expect(error.message).toContain(longName)
    expect((await service!.api(`/api/certificates/other-${RUN}`)).status).toBe(404)
    // Once that job is deleted, the hostname is free.
    expect((await service!.api(`/api/certificates/${longName}`, { method: 'DELETE' })).status).toBe(200)
    const res = await post({ identifiers: [b, a], name: `other-${RUN}` })
    expect(res.status, await res.clone().text()).toBe(202)
    const c1 = await post({ identifiers: [c] })
    expect(c1.status).toBe(202)
    await allValid(service!, [`other-${RUN}`, c], { deadline: Date.now() + 120_000 })
  }, 180_000)

  it('never serves a stored certificate that does not cover the job', async () => {
    const before = await service!.api(`/api/certificates/${c}/chain`)
    expect(before.status).toBe(200)
    await service!.stop()
    // While stopped: `c`'s record replaced by the one of `other-…` (b and a), sealed as the service seals.
    const { STORAGE_KEY } = JSON.parse(await readFile(join(persist, 'dev-secrets.json'), 'utf8')) as {
      STORAGE_KEY: string
    }
    const mf = new Miniflare({
      modules: true,
      script: 'export default { fetch() { return new Response(null) } }',
      r2Buckets: { CERTIFICATES: 'webacme-certificates' },
      defaultPersistRoot: persist,
    })
    try {
      const bucket = await mf.getR2Bucket('CERTIFICATES')
      const storage = sealedStorage(
        new R2Storage(bucket as unknown as ConstructorParameters<typeof R2Storage>[0]),
        await keyRing(STORAGE_KEY),
      )
      const other = (await storage.get(`certificates/other-${RUN}`)) as { name: string }
      expect(other).toBeDefined()
      await storage.put(`certificates/${c}`, { ...other, name: c })
    } finally {
      await mf.dispose()
    }
    service = await start({})
    await expectError(await service.api(`/api/certificates/${c}/chain`), 404, 'ERR_NOT_ISSUED')
    const fine = await service.api(`/api/certificates/other-${RUN}/chain`)
    expect(fine.status).toBe(200)
  }, 180_000)
})
