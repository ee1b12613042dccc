/**
 * Runs every file of examples/ against a real Pebble, the way its header says to run it (`node --import tsx
 * examples/<file>.ts` with the environment it documents; 'webacme' resolves to the sources through
 * tsconfig.json's paths). The Worker example runs in workerd (miniflare) with a KV namespace, its Cron Trigger
 * fired by the test, and Pebble's VA dialling its fetch handler.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http01Solver } from '../../src/challenges/http-01.ts'
import { AcmeClient } from '../../src/client.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { exportPrivateKeyPem } from '../../src/pkix/private-key.ts'
import { saveAccount, saveCertificate } from '../../src/renewal/records.ts'
import { FsStorage } from '../../src/storage/fs.ts'
import { startConnectProxy } from '../fixtures/connect-proxy.ts'
import { startHttp01Server } from '../harness/http01-server.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { type PowerDns, startPebbleOnPowerDns } from '../harness/powerdns.ts'

const root = join(import.meta.dirname, '../..')

interface Run {
  code: number | null
  out: string
}

function runExample(file: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('examples', file)], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (out += c))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, out }))
  })
}

const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8)

let pebble: Pebble
let work: string
beforeAll(async () => {
  pebble = await startPebble({ http01: 'self' })
  work = await mkdtemp(join(tmpdir(), 'webacme-examples-'))
})
afterAll(async () => {
  await pebble?.stop()
})

/** An account and a certificate made by the library directly, for the examples that start from one. */
async function issueDirectly(name: string) {
  const responder = await startHttp01Server(pebble.httpPort)
  try {
    const accountKey = await generateKeyPair('ES256')
    const client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey })
    const solver = http01Solver()
    const issued = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [name],
      solvers: [
        {
          ...solver,
          present: async (context) => responder.set(context.challenge.token!, context.keyAuthorization!),
        },
      ],
    })
    return { client, issued }
  } finally {
    await responder.close()
  }
}

describe('examples/ against Pebble', () => {
  it('http01-node.ts issues and writes the PEM files 0600', async () => {
    const out = join(work, 'http01')
    const r = await runExample('http01-node.ts', {
      ACME_DIRECTORY: pebble.directoryUrl,
      DOMAINS: 'example.webacme.test,www.example.webacme.test',
      HTTP_PORT: String(pebble.httpPort),
      OUT_DIR: out,
    })
    expect(r.code, r.out).toBe(0)
    const leaf = parseCertificate(await readFile(join(out, 'fullchain.pem'), 'utf8'))
    expect(leaf.dnsNames).toEqual(['example.webacme.test', 'www.example.webacme.test'])
    expect(await mode(join(out, 'privkey.pem'))).toBe('600')
    expect((await pebble.certStatus(leaf.serialNumber)).status).toBe('valid')
  })

  it('renew-cron.ts renews what is due within LOOKAHEAD_MS and stores it', async () => {
    const { client, issued } = await issueDirectly('cron.webacme.test')
    const dir = join(work, 'storage')
    const storage = new FsStorage(dir, { fs: await import('node:fs/promises') })
    await saveAccount(storage, 'main', client)
    await saveCertificate(storage, 'cron.webacme.test', issued, { account: 'main' })
    const env = { STORAGE_DIR: dir, HTTP_PORT: String(pebble.httpPort) }
    const quiet = await runExample('renew-cron.ts', { ...env, LOOKAHEAD_MS: '0' })
    expect(quiet.code, quiet.out).toBe(0)
    expect(quiet.out).toContain('0 renewed, 0 failed')
    const due = await runExample('renew-cron.ts', { ...env, LOOKAHEAD_MS: String(10 * 365 * 86_400_000) })
    expect(due.code, due.out).toBe(0)
    expect(due.out).toContain('1 renewed, 0 failed')
    const record = JSON.parse(await readFile(join(dir, 'certificates/cron.webacme.test.json'), 'utf8'))
    expect(record.serialNumber).not.toBe(issued.parsed.serialNumber)
    expect(due.out).toContain(`renewed cron.webacme.test: serial ${record.serialNumber}`)
  })

  it('revoke.ts revokes with the account key and the given reason', async () => {
    const { client, issued } = await issueDirectly('revoke.webacme.test')
    const certFile = join(work, 'revoke.pem')
    const keyFile = join(work, 'revoke-account.pem')
    await writeFile(certFile, issued.certificate)
    await writeFile(keyFile, await exportPrivateKeyPem(client.accountKey.privateKey))
    const r = await runExample('revoke.ts', {
      ACME_DIRECTORY: pebble.directoryUrl,
      CERT_FILE: certFile,
      ACCOUNT_KEY_FILE: keyFile,
      REASON: 'superseded',
    })
    expect(r.code, r.out).toBe(0)
    expect(await pebble.certStatus(issued.parsed.serialNumber)).toMatchObject({
      status: 'revoked',
      reason: 4,
    })
  })

  it('proxy-fetch.ts reaches the CA only through the HTTPS proxy (CONNECT tunnels)', async () => {
    const proxy = await startConnectProxy()
    try {
      const r = await runExample('proxy-fetch.ts', {
        ACME_DIRECTORY: pebble.directoryUrl,
        HTTPS_PROXY: proxy.url,
      })
      expect(r.code, r.out).toBe(0)
      expect(r.out).toMatch(/account https:\/\/127\.0\.0\.1:\d+\/my-account\/\w+ \(valid\)/)
      const port = new URL(pebble.directoryUrl).port
      expect(proxy.tunnels.length).toBeGreaterThan(0)
      expect(new Set(proxy.tunnels)).toEqual(new Set([`127.0.0.1:${port}`]))
    } finally {
      await proxy.close()
    }
  })

  it('eab.ts creates an account bound to the CA-issued key id', async () => {
    const eab = {
      kid: 'kid-example',
      hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W',
    }
    const eabPebble = await startPebble({
      externalAccountMacKeys: { [eab.kid]: eab.hmacKey },
      challtestsrv: false,
    })
    try {
      const keyFile = join(work, 'eab-account.pem')
      const env = { ACME_DIRECTORY: eabPebble.directoryUrl, ACCOUNT_KEY_FILE: keyFile }
      const wrong = await runExample('eab.ts', {
        ...env,
        EAB_KID: eab.kid,
        EAB_HMAC_KEY: 'd3JvbmcgbWFjIGtleSB3cm9uZyBtYWMga2V5IQ',
      })
      expect(wrong.code).not.toBe(0)
      expect(wrong.out).toMatch(/AcmeProblemError/)
      const r = await runExample('eab.ts', { ...env, EAB_KID: eab.kid, EAB_HMAC_KEY: eab.hmacKey })
      expect(r.code, r.out).toBe(0)
      expect(r.out).toMatch(/account https:\/\/127\.0\.0\.1:\d+\/my-account\/\w+ \(valid\)/)
      expect(await mode(keyFile)).toBe('600')
    } finally {
      await eabPebble.stop()
    }
  })
})

describe('examples/worker.ts in workerd (miniflare)', () => {
  it("the Cron Trigger issues through the Worker's own http-01 answers and stores the chain in KV", async () => {
    const { build } = await import('esbuild')
    const { Miniflare } = await import('miniflare')
    // Inside the repository (git-ignored .tmp/): workerd refuses module paths that climb out of its directory.
    const outfile = join(root, '.tmp/examples-worker/worker.js')
    // 'webacme' resolves through tsconfig.json's paths (esbuild reads them), as in the other examples.
    await build({
      entryPoints: [join(root, 'examples/worker.ts')],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      conditions: ['workerd', 'worker', 'browser'],
      logLevel: 'warning',
    })
    const accountKey = await exportPrivateKeyPem((await generateKeyPair('ES256')).privateKey)
    const logs: string[] = []
    const mf = new Miniflare({
      modules: true,
      scriptPath: outfile,
      compatibilityDate: '2026-04-20',
      host: '127.0.0.1',
      port: pebble.httpPort, // Pebble's VA dials http-01 here: the Worker's fetch handler answers
      kvNamespaces: ['CERTS'],
      bindings: {
        ACCOUNT_KEY: accountKey,
        DOMAINS: 'worker.webacme.test',
        ACME_DIRECTORY: pebble.directoryUrl,
      },
      // The Worker's outbound TLS trusts the test CA and nothing else.
      outboundService: {
        network: {
          allow: ['private', 'local'],
          deny: [],
          tlsOptions: { trustBrowserCas: false, trustedCertificates: [pebble.caPem] },
        },
      },
      handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
        for (const stream of [stdout, stderr]) stream.on('data', (c: Buffer) => logs.push(String(c)))
      },
    })
    // miniflare's own types need @cloudflare/workers-types; these are the calls used.
    type ScheduledWorker = { scheduled(init: { cron: string }): Promise<{ outcome: string }> }
    type Kv = {
      get(key: string): Promise<string | null>
      list(options: { prefix: string }): Promise<{ keys: Array<{ name: string }> }>
    }
    try {
      await mf.ready.catch((err: Error) => {
        throw new Error(`${err.message}\n${logs.join('')}`)
      })
      const worker = (await mf.getWorker()) as unknown as ScheduledWorker
      const result = await worker.scheduled({ cron: '0 3 * * *' })
      expect(result.outcome, logs.join('')).toBe('ok')
      const kv = (await mf.getKVNamespace('CERTS')) as unknown as Kv
      const chain = await kv.get('fullchain.pem')
      expect(chain, logs.join('')).toBeTruthy()
      const leaf = parseCertificate(chain!)
      expect(leaf.dnsNames).toEqual(['worker.webacme.test'])
      expect((await pebble.certStatus(leaf.serialNumber)).status).toBe('valid')
      expect(await kv.get('privkey.pem')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
      // The tokens were removed from KV after validation.
      expect((await kv.list({ prefix: 'http-01/' })).keys).toEqual([])
    } finally {
      await mf.dispose()
    }
  })
})

describe('examples/dns01-provider.ts against Pebble validating through PowerDNS', () => {
  let pdns: PowerDns
  let dnsPebble: Pebble
  beforeAll(async () => {
    ;({ pdns, pebble: dnsPebble } = await startPebbleOnPowerDns(['examples.test']))
  })
  afterAll(async () => {
    await dnsPebble?.stop()
    await pdns?.stop()
  })

  it('issues for an apex and its wildcard and leaves no TXT record', async () => {
    const out = join(work, 'dns01')
    const r = await runExample('dns01-provider.ts', {
      ACME_DIRECTORY: dnsPebble.directoryUrl,
      DOMAINS: 'examples.test,*.examples.test',
      PDNS_API_URL: pdns.apiUrl,
      PDNS_API_KEY: pdns.apiKey,
      DOH_URL: pdns.dohUrl!,
      OUT_DIR: out,
    })
    expect(r.code, r.out).toBe(0)
    expect(parseCertificate(await readFile(join(out, 'fullchain.pem'), 'utf8')).dnsNames).toEqual([
      'examples.test',
      '*.examples.test',
    ])
    expect((await pdns.rrsets('examples.test')).filter((s) => s.type === 'TXT')).toEqual([])
  })
})
