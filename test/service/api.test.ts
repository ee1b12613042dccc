/**
 * The service's HTTP API against a real Pebble: coded 400s for bad input, 404/405/409, paging, a job that fails
 * for good (Pebble cannot reach 127.0.0.2) ending `failed` with its error, `DELETE ?revoke=true`, and the
 * playground's static build under `/` (a placeholder index.html when the playground has not been built), and the
 * API reference under `/docs/` (generated into the playground's build for this test when `npm run build:service`
 * has not put it there).
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { startLetsEncryptShapedPebble } from '../fixtures/lets-encrypt-ca.ts'
import { getTestCa } from '../harness/ca.ts'
import type { Pebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { root } from '../runtimes/paths.ts'
import { allValid, type CertificateView, type ServiceProcess, startService } from './service-process.ts'

const RUN = Date.now().toString(36)
const PLACEHOLDER = `<!doctype html><title>placeholder ${RUN}</title>`
const index = join(root, 'playground/dist/index.html')
const docs = join(root, 'playground/dist/docs')
let placed = false
let placedDocs = false
let pebble: Pebble
let service: ServiceProcess
let persist: string

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-api-'))
  if (!existsSync(index)) {
    await mkdir(join(root, 'playground/dist'), { recursive: true })
    await writeFile(index, PLACEHOLDER)
    placed = true
  }
  if (!existsSync(join(docs, 'index.html'))) {
    await promisify(execFile)(process.execPath, ['scripts/docs.mjs', '--out', docs], { cwd: root })
    placedDocs = true
  }
  // The service's CA looks like Let's Encrypt (Boulder's directory, headers, nonces, Retry-After, ARI).
  pebble = await startLetsEncryptShapedPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  service = await startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token: `token-${RUN}-api`,
    caFile: ca.caCertPath,
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', LIMIT_REQUESTS_PER_SECOND: '1000' },
  })
}, 300_000) // a hang guard: building the docs takes a minute on a loaded machine

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  if (placed) await rm(index, { force: true })
  if (placedDocs) await rm(docs, { recursive: true, force: true })
  if (persist) await rm(persist, { recursive: true, force: true })
})

const post = (body: unknown) =>
  service.api('/api/certificates', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

async function expectError(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status)
  const body = (await res.json()) as { error: { code: string; message: string } }
  expect(body.error.code).toBe(code)
  expect(body.error.message).toEqual(expect.any(String))
}

describe('API', () => {
  it('refuses bad input with a coded 400', async () => {
    await expectError(await post('{not json'), 400, 'ERR_INVALID_JSON')
    await expectError(await post({}), 400, 'ERR_INVALID_IDENTIFIERS')
    await expectError(await post({ identifiers: [] }), 400, 'ERR_INVALID_IDENTIFIERS')
    await expectError(await post({ identifiers: [42] }), 400, 'ERR_INVALID_IDENTIFIERS')
    await expectError(await post({ identifiers: ['bad name.test'] }), 400, 'ERR_INVALID_ARGUMENT')
    await expectError(
      await post({ identifiers: ['a.test'], challenge: 'tls-alpn-01' }),
      400,
      'ERR_INVALID_CHALLENGE',
    )
    await expectError(await post({ identifiers: ['a.test'], challenge: 'dns-01' }), 400, 'ERR_NO_SOLVER')
    await expectError(await post({ identifiers: ['*.a.test'] }), 400, 'ERR_NO_SOLVER')
    await expectError(await post({ identifiers: ['a.test'], name: '../x' }), 400, 'ERR_INVALID_NAME')
    await expectError(await post({ identifiers: ['a.test'], name: 7 }), 400, 'ERR_INVALID_NAME')
  })

  it('manages a name once: the same request again is its status, other identifiers under it are a 409', async () => {
    const name = `same-${RUN}.webacme.test`
    expect(await (await post({ identifiers: [name] })).json()).toEqual({ name, status: 'pending' })
    await allValid(service, [name], { deadline: Date.now() + 60_000 })
    const again = await post({ identifiers: [name.toUpperCase()] })
    expect(again.status).toBe(202)
    expect(await again.json()).toEqual({ name, status: 'valid' })
    await expectError(await post({ identifiers: [`other-${RUN}.webacme.test`], name }), 409, 'ERR_NAME_TAKEN')
  })

  it('answers 404 for what is not there and 405 for what is not allowed', async () => {
    await expectError(await service.api('/api/certificates/nothing.test'), 404, 'ERR_NOT_FOUND')
    await expectError(await service.api('/api/certificates/nothing.test/chain'), 404, 'ERR_NOT_FOUND')
    await expectError(await service.api('/api/nothing'), 404, 'ERR_NOT_FOUND')
    await expectError(await service.api('/api/certificates/x/y/z'), 404, 'ERR_NOT_FOUND')
    await expectError(
      await service.api('/api/certificates', { method: 'PUT' }),
      405,
      'ERR_METHOD_NOT_ALLOWED',
    )
    await expectError(
      await service.api('/api/certificates/x', { method: 'POST' }),
      405,
      'ERR_METHOD_NOT_ALLOWED',
    )
  })

  it('lists every job in pages', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `page${i}-${RUN}.webacme.test`)
    for (const name of names) await post({ identifiers: [name] })
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const res = await service.api(`/api/certificates?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      const page = (await res.json()) as { certificates: CertificateView[]; cursor?: string }
      expect(page.certificates.length).toBeLessThanOrEqual(2)
      seen.push(...page.certificates.map((c) => c.name))
      cursor = page.cursor
    } while (cursor)
    expect(seen).toEqual([...seen].sort())
    for (const name of names) expect(seen).toContain(name)
    await expectError(await service.api('/api/certificates?limit=0'), 400, 'ERR_INVALID_LIMIT')
    await allValid(service, names, { deadline: Date.now() + 60_000 })
  })

  it('ends a job the CA refuses as failed, with the CA’s reason, and sends it to the dead-letter queue', async () => {
    // An IP address Pebble validates by dialling it, where nothing listens.
    const res = await post({ identifiers: ['127.0.0.2'], name: `unreachable-${RUN}` })
    expect(res.status).toBe(202)
    const deadline = Date.now() + 60_000
    let view: CertificateView
    for (;;) {
      view = (await (await service.api(`/api/certificates/unreachable-${RUN}`)).json()) as CertificateView
      if (view.status === 'failed' || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 250))
    }
    expect(view).toMatchObject({ status: 'failed', error: { code: 'ERR_AUTHORIZATION_INVALID' } })
    expect(view.error?.message).toMatch(/127\.0\.0\.2/)
    await expectError(await service.api(`/api/certificates/unreachable-${RUN}/chain`), 404, 'ERR_NOT_ISSUED')
    // The dead-letter consumer saw it (its log line), and left the CA's reason on the job.
    await expect
      .poll(() => service.output(), { timeout: 30_000 })
      .toMatch(`issue unreachable-${RUN} dead-lettered`)
  })

  it('stops managing a certificate and revokes it when asked', async () => {
    const name = `revoke-${RUN}.webacme.test`
    await post({ identifiers: [name] })
    await allValid(service, [name], { deadline: Date.now() + 60_000 })
    const leaf = parseCertificate(await (await service.api(`/api/certificates/${name}/chain`)).text())
    const res = await service.api(`/api/certificates/${name}?revoke=true`, { method: 'DELETE' })
    expect(await res.json()).toEqual({ name, deleted: true, revoked: true })
    expect((await pebble.certStatus(leaf.serialNumber)).status).toBe('revoked')
    await expectError(await service.api(`/api/certificates/${name}`), 404, 'ERR_NOT_FOUND')
    await expectError(await service.api(`/api/certificates/${name}/chain`), 404, 'ERR_NOT_FOUND')
    await expectError(
      await service.api(`/api/certificates/${name}`, { method: 'DELETE' }),
      404,
      'ERR_NOT_FOUND',
    )
  })

  it('serves the playground’s static build under /', async () => {
    const res = await fetch(`${service.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    if (placed) expect(await res.text()).toBe(PLACEHOLDER)
    await expectError(await fetch(`${service.url}/no-such-asset.js`), 404, 'ERR_NOT_FOUND')
  })

  it('serves the API reference under /docs/', async () => {
    const res = await fetch(`${service.url}/docs/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await res.text()).toMatch(/<title>webacme [^<]*<\/title>/)
    const modules = await fetch(`${service.url}/docs/modules.html`)
    expect(await modules.text()).toContain('href="modules/cloudflare.html"')
    const page = await fetch(`${service.url}/docs/classes/webacme.AcmeClient.html`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('createOrder')
  })
})
