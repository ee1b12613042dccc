/**
 * The `webacme` command end to end, against a real Pebble, in one runtime (node.e2e.ts, deno.e2e.ts, bun.e2e.ts
 * call this with theirs). Every case runs the command as a user would (./run-cli.ts) and checks what a user would
 * see: the exit code, the files and their modes, the JSON on stdout, the lines on stderr, and the CA's own
 * record of the certificate (Pebble's management API).
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certificateMatchesKey, parseCertificate } from '../../src/pkix/certificate.ts'
import { importPrivateKeyPem } from '../../src/pkix/private-key.ts'
import { certId } from '../../src/renewal/cert-id.ts'
import { type AriProxy, startAriProxy } from '../fixtures/ari-proxy.ts'
import { type AuthoritativeServer, startPebbleOn } from '../harness/authoritative.ts'
import { startBind } from '../harness/bind.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { type PowerDns, startPebbleOnPowerDns } from '../harness/powerdns.ts'
import { systemBinary } from '../harness/system.ts'
import { type Cli, type CliResult, type CliRuntime, cliFor } from './run-cli.ts'

const PEM_FILES = ['privkey.pem', 'cert.pem', 'chain.pem', 'fullchain.pem']

async function mode(path: string): Promise<string> {
  return ((await stat(path)).mode & 0o777).toString(8)
}

/** Every base64 line of the PEM blocks in `text`: key material that must never reach a log. */
function pemBodyLines(text: string): string[] {
  return text.split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))
}

function explain(r: CliResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
}

function expectOk(r: CliResult): Record<string, unknown> {
  expect(r.code, explain(r)).toBe(0)
  expect(r.json, explain(r)).toBeDefined()
  expect(r.json!.ok).toBe(true)
  return r.json!
}

/** A static file server for --webroot: what nginx would be, serving `dir` on 127.0.0.1:`port`. */
async function serveStatic(dir: string, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!)
    if (path.includes('..')) {
      res.writeHead(400).end()
      return
    }
    try {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(await readFile(join(dir, path)))
    } catch {
      res.writeHead(404).end('not found')
    }
  })
  await new Promise<void>((resolve, reject) =>
    server.once('error', reject).listen(port, '127.0.0.1', resolve),
  )
  return server
}

export function cliSuite(runtime: CliRuntime): void {
  let pebble: Pebble
  let cli: Cli
  let work: string
  const name = `${runtime}.cli.webacme.test`

  beforeAll(async () => {
    pebble = await startPebble({ http01: 'self' })
    cli = await cliFor(runtime, pebble.caCertPath)
    work = await mkdtemp(join(tmpdir(), `webacme-cli-files-${runtime}-`))
  })
  afterAll(async () => {
    await pebble?.stop()
  })

  describe(`webacme in ${runtime}`, () => {
    it('runs from the packed package: --version and --help exit 0', async () => {
      const version = await cli.run(['--version'])
      expect(version.code, explain(version)).toBe(0)
      const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8'))
      expect(version.stdout.trim()).toBe(`webacme ${pkg.version}`)
      const help = await cli.run(['issue', '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(/^usage: webacme issue --directory URL\|PRESET --domain NAME/)
      expect(help.stdout).toContain('--http-port N')
    })

    it('bad flags and missing values: usage on stderr, exit 2, nothing sent', async () => {
      const unknown = await cli.run(['issue', '--bogus'])
      expect(unknown.code, explain(unknown)).toBe(2)
      expect(unknown.stderr).toContain("Unknown option '--bogus'")
      expect(unknown.stderr).toContain('usage: webacme issue')
      expect(unknown.stdout).toBe('')

      const missing = await cli.run(['issue', '--directory', pebble.directoryUrl, '--domain'])
      expect(missing.code).toBe(2)
      expect(missing.stderr).toContain('--domain')

      const noSolver = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        name,
        '--out',
        join(work, 'x'),
        '--agree-tos',
        '--json',
      ])
      expect(noSolver.code).toBe(2)
      expect(noSolver.json).toMatchObject({
        ok: false,
        exitCode: 2,
        requests: 0,
        error: { name: 'UsageError' },
      })

      const noTerms = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        name,
        '--out',
        join(work, 'x'),
        '--http-port',
        String(pebble.httpPort),
        '--json',
      ])
      expect(noTerms.code).toBe(2)
      expect((noTerms.json!.error as { message: string }).message).toContain('--agree-tos')
      expect(noTerms.json!.requests).toBe(0)

      const badName = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        'exa mple.test',
        '--agree-tos',
        '--out',
        join(work, 'x'),
        '--http-port',
        String(pebble.httpPort),
        '--json',
      ])
      expect(badName.code, explain(badName)).toBe(2)
      expect(badName.json!.error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      expect(badName.json!.requests).toBe(0)

      const preset = await cli.run([
        'issue',
        '--directory',
        'no-such-ca',
        '-d',
        name,
        '--out',
        join(work, 'x'),
        '--http-port',
        '1',
      ])
      expect(preset.code).toBe(2)
      expect(preset.stderr).toContain('letsencrypt-staging')

      const command = await cli.run(['frobnicate'])
      expect(command.code).toBe(2)
      expect(command.stderr).toContain('unknown command "frobnicate"')
      expect(existsSync(join(work, 'x'))).toBe(false)
    })

    let issued: { out: string; storage: string; accountKey: string; serial: string }
    it('issue with http-01 (--http-port): files 0600, --json parses, --verbose shows requests and never keys', async () => {
      const out = join(work, 'certs')
      const storage = join(work, 'storage')
      const accountKey = join(work, 'account.pem')
      const r = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '--domain',
        name,
        '--domain',
        `www.${name}`,
        '--agree-tos',
        '--email',
        'ops@example.com',
        '--account-key',
        accountKey,
        '--storage',
        storage,
        '--out',
        out,
        '--http-port',
        String(pebble.httpPort),
        '--json',
        '--verbose',
      ])
      const json = expectOk(r)
      const certificate = json.certificate as Record<string, unknown>
      expect(certificate.names).toEqual([name, `www.${name}`])
      expect(json.files).toEqual(PEM_FILES.map((f) => join(out, f)))
      expect(json.storage).toEqual({ directory: storage, name })
      for (const f of PEM_FILES) expect(await mode(join(out, f)), f).toBe('600')
      expect(await mode(accountKey)).toBe('600')
      const [cert, chain, fullchain, privkey, accountPem] = await Promise.all(
        ['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem']
          .map((f) => readFile(join(out, f), 'utf8'))
          .concat(readFile(accountKey, 'utf8')),
      )
      expect(fullchain).toBe(cert! + chain!)
      const leaf = parseCertificate(cert!)
      expect(leaf.serialNumber).toBe(certificate.serialNumber)
      expect(leaf.dnsNames).toEqual([name, `www.${name}`])
      expect(await certificateMatchesKey(cert!, (await importPrivateKeyPem(privkey!)).publicKey)).toBe(true)
      expect((await pebble.certStatus(leaf.serialNumber)).status).toBe('valid')
      // --verbose: one line per request, method, URL, status, time.
      expect(r.stderr).toMatch(/acme POST https:\/\/127\.0\.0\.1:\d+\/order-plz 201 \d+ms/)
      expect(r.stderr).toMatch(/acme POST https:\/\/127\.0\.0\.1:\d+\/finalize-order\/\S+ 200 \d+ms/)
      expect(r.stderr).toMatch(/\[\s*\d+\.\ds\] issued: serial/)
      expect(json.requests).toBe((r.stderr.match(/^\[[^\]]+\] acme /gm) ?? []).length)
      // ... and no key: neither the certificate key nor the account key, in any form.
      for (const line of [...pemBodyLines(privkey!), ...pemBodyLines(accountPem!)])
        expect(r.stderr).not.toContain(line)
      expect(r.stderr + r.stdout).not.toContain('PRIVATE KEY')
      const jwkD = (await crypto.subtle.exportKey('jwk', (await importPrivateKeyPem(accountPem!)).privateKey))
        .d!
      expect(r.stderr + r.stdout).not.toContain(jwkD)
      issued = { out, storage, accountKey, serial: leaf.serialNumber }
    })

    it('issue with --webroot: the token file is served by another server and removed afterwards', async () => {
      const webroot = join(work, 'www')
      await mkdir(webroot)
      const server = await serveStatic(webroot, pebble.httpPort)
      try {
        const out = join(work, 'webroot-certs')
        const r = await cli.run([
          'issue',
          '--directory',
          pebble.directoryUrl,
          '-d',
          `webroot.${name}`,
          '--agree-tos',
          '--out',
          out,
          '--webroot',
          webroot,
          '--json',
        ])
        const json = expectOk(r)
        expect((json.certificate as { names: string[] }).names).toEqual([`webroot.${name}`])
        expect(await readdir(join(webroot, '.well-known/acme-challenge'))).toEqual([])
      } finally {
        await new Promise((resolve) => server.close(resolve))
      }
    })

    it(
      runtime === 'deno'
        ? '--tls-alpn-port is refused before any request (no SNI callback in Deno)'
        : 'issue with --tls-alpn-port: RFC 8737 certificates picked by SNI',
      async () => {
        const out = join(work, 'tls-alpn')
        const r = await cli.run([
          'issue',
          '--directory',
          pebble.directoryUrl,
          '-d',
          `tls.${name}`,
          '--agree-tos',
          '--out',
          out,
          '--tls-alpn-port',
          String(pebble.tlsPort),
          '--json',
        ])
        if (runtime === 'deno') {
          expect(r.code, explain(r)).toBe(2)
          expect(r.json).toMatchObject({ requests: 0, error: { name: 'UsageError' } })
          expect(existsSync(out)).toBe(false)
          return
        }
        const json = expectOk(r)
        expect((json.certificate as { names: string[] }).names).toEqual([`tls.${name}`])
      },
    )

    it('a failed validation: exit 5, the CA problem in --json, nothing written to --out', async () => {
      // Nothing serves the webroot: Pebble's VA finds no server on the http-01 port.
      const out = join(work, 'never')
      const kept = join(work, 'kept')
      await mkdir(kept)
      await writeFile(join(kept, 'cert.pem'), 'old certificate\n')
      for (const target of [out, kept]) {
        const r = await cli.run([
          'issue',
          '--directory',
          pebble.directoryUrl,
          '-d',
          `fail.${name}`,
          '--agree-tos',
          '--out',
          target,
          '--webroot',
          join(work, 'unserved'),
          '--json',
        ])
        expect(r.code, explain(r)).toBe(5)
        expect(r.json).toMatchObject({ ok: false, exitCode: 5, error: { code: 'ERR_AUTHORIZATION_INVALID' } })
        expect((r.json!.error as { problem?: { type?: string } }).problem?.type).toMatch(
          /^urn:ietf:params:acme:error:/,
        )
        expect(r.stderr).toMatch(/deactivated the pending authorization|ERR_AUTHORIZATION_INVALID/)
      }
      expect(existsSync(out)).toBe(false)
      expect(await readdir(kept)).toEqual(['cert.pem'])
      expect(await readFile(join(kept, 'cert.pem'), 'utf8')).toBe('old certificate\n')
      expect((await readdir(work)).filter((f) => f.includes('.tmp'))).toEqual([])
    })

    it('an unreachable CA: each retry shown, then exit 4 with the root cause, nothing written', async () => {
      const port = await freePort()
      const out = join(work, 'unreachable')
      const directory = `https://127.0.0.1:${port}/dir`
      const r = await cli.run([
        'issue',
        '--directory',
        directory,
        '-d',
        name,
        '--agree-tos',
        '--out',
        out,
        '--http-port',
        String(pebble.httpPort),
        '--retries',
        '2',
        '--json',
      ])
      expect(r.code, explain(r)).toBe(4)
      expect(r.json!.error).toMatchObject({ code: 'ERR_NETWORK', reason: 'connection-refused' })
      expect(r.json!.requests).toBe(3)
      for (const attempt of [1, 2, 3]) {
        expect(r.stderr).toContain(`GET ${directory}: ERR_NETWORK (connection-refused), attempt ${attempt}`)
      }
      expect(existsSync(out)).toBe(false)
    })

    it('renew --storage: nothing due, then --force renews with the stored account and writes --out', async () => {
      const notDue = await cli.run([
        'renew',
        '--storage',
        issued.storage,
        '--http-port',
        String(pebble.httpPort),
        '--json',
      ])
      const json = expectOk(notDue)
      expect(json.renewed).toEqual([])
      expect(json.skipped).toMatchObject([{ name, reason: 'not-due', source: 'lifetime' }])

      const out = join(work, 'renewed')
      const forced = await cli.run([
        'renew',
        '--storage',
        issued.storage,
        '--force',
        '--out',
        out,
        '--http-port',
        String(pebble.httpPort),
        '--json',
      ])
      const renewed = expectOk(forced).renewed as Array<{
        name: string
        serialNumber: string
        replaced: string
        files: string[]
      }>
      expect(renewed).toHaveLength(1)
      expect(renewed[0]).toMatchObject({ name, replaced: issued.serial })
      expect(renewed[0]!.serialNumber).not.toBe(issued.serial)
      expect(renewed[0]!.files).toEqual(PEM_FILES.map((f) => join(out, name, f)))
      const cert = await readFile(join(out, name, 'cert.pem'), 'utf8')
      expect(parseCertificate(cert).serialNumber).toBe(renewed[0]!.serialNumber)
      for (const f of PEM_FILES) expect(await mode(join(out, name, f))).toBe('600')
      const record = JSON.parse(await readFile(join(issued.storage, 'certificates', `${name}.json`), 'utf8'))
      expect(record.serialNumber).toBe(renewed[0]!.serialNumber)
      expect((await pebble.certStatus(renewed[0]!.serialNumber)).status).toBe('valid')
    })

    it('revoke with the account key, then with the certificate key: Pebble records both; a second revoke is the CA refusing (exit 3)', async () => {
      const byAccount = await cli.run([
        'revoke',
        '--directory',
        pebble.directoryUrl,
        '--cert',
        join(issued.out, 'cert.pem'),
        '--account-key',
        issued.accountKey,
        '--reason',
        'superseded',
        '--json',
      ])
      expect(expectOk(byAccount)).toMatchObject({
        serialNumber: issued.serial,
        revoked: true,
        reason: 'superseded',
      })
      expect(await pebble.certStatus(issued.serial)).toMatchObject({ status: 'revoked', reason: 4 })

      const again = await cli.run([
        'revoke',
        '--directory',
        pebble.directoryUrl,
        '--cert',
        join(issued.out, 'fullchain.pem'),
        '--account-key',
        issued.accountKey,
        '--json',
      ])
      expect(again.code, explain(again)).toBe(3)
      expect(again.json!.error).toMatchObject({ code: 'ERR_ACME_ALREADY_REVOKED' })

      const renewedDir = join(work, 'renewed', name)
      const serial = parseCertificate(await readFile(join(renewedDir, 'cert.pem'), 'utf8')).serialNumber
      const byKey = await cli.run([
        'revoke',
        '--directory',
        pebble.directoryUrl,
        '--cert',
        join(renewedDir, 'cert.pem'),
        '--cert-key',
        join(renewedDir, 'privkey.pem'),
        '--reason',
        'keyCompromise',
      ])
      expect(byKey.code, explain(byKey)).toBe(0)
      expect(byKey.stdout).toContain(`revoked serial ${serial}`)
      expect(await pebble.certStatus(serial)).toMatchObject({ status: 'revoked', reason: 1 })
    })

    it('inspect a chain and a CSR; csr output verified by openssl', async () => {
      const chain = await cli.run([
        'inspect',
        join(issued.out, 'fullchain.pem'),
        '--json',
        '--directory',
        pebble.directoryUrl,
      ])
      const json = expectOk(chain)
      const certificates = json.certificates as Array<Record<string, unknown>>
      const leaf = parseCertificate(await readFile(join(issued.out, 'cert.pem'), 'utf8'))
      expect(json.kind).toBe('chain')
      expect(certificates).toHaveLength(2)
      expect(certificates[0]).toMatchObject({
        serialNumber: leaf.serialNumber,
        names: [name, `www.${name}`],
        certId: certId(leaf),
        isCA: false,
      })
      expect(certificates[1]).toMatchObject({ isCA: true })
      expect(json.renewalInfo).toBeNull() // Pebble 2.4 has no ARI
      const text = await cli.run(['inspect', join(issued.out, 'cert.pem')])
      expect(text.stdout).toContain(`CertID     ${certId(leaf)}`)

      const csrPath = join(work, 'request.csr')
      const keyPath = join(work, 'request.key')
      const csr = await cli.run([
        'csr',
        '-d',
        `csr.${name}`,
        '-d',
        '192.0.2.7',
        '--key-out',
        keyPath,
        '--out',
        csrPath,
        '--key-type',
        'rsa2048',
        '--json',
      ])
      expect(expectOk(csr)).toMatchObject({ names: [`csr.${name}`, '192.0.2.7'] })
      expect(await mode(keyPath)).toBe('600')
      const openssl = systemBinary('openssl')
      const verify = spawnSync(openssl, ['req', '-verify', '-noout', '-in', csrPath], { encoding: 'utf8' })
      expect(verify.status, verify.stderr).toBe(0)
      expect(verify.stdout + verify.stderr).toMatch(/verify OK/i)
      const dump = spawnSync(openssl, ['req', '-noout', '-text', '-in', csrPath], { encoding: 'utf8' }).stdout
      expect(dump).toContain(`DNS:csr.${name}`)
      expect(dump).toContain('IP Address:192.0.2.7')
      const modulus = (args: string[]) => spawnSync(openssl, args, { encoding: 'utf8' }).stdout.trim()
      expect(modulus(['req', '-noout', '-modulus', '-in', csrPath])).toBe(
        modulus(['rsa', '-noout', '-modulus', '-in', keyPath]),
      )
      const inspected = await cli.run(['inspect', csrPath, '--json'])
      expect(expectOk(inspected)).toMatchObject({ kind: 'csr', names: [`csr.${name}`, '192.0.2.7'] })
    })

    it('account create, show, update, rollover, deactivate', async () => {
      const key = join(work, 'acct.pem')
      const newKey = join(work, 'acct-new.pem')
      const dir = ['--directory', pebble.directoryUrl]
      const refused = await cli.run(['account', 'create', ...dir, '--account-key', key])
      expect(refused.code).toBe(2)
      expect(existsSync(key)).toBe(false)
      const created = expectOk(
        await cli.run([
          'account',
          'create',
          ...dir,
          '--account-key',
          key,
          '--agree-tos',
          '--email',
          'a@example.com',
          '--json',
        ]),
      )
      const url = (created.account as { url: string }).url
      expect(created.account).toMatchObject({ status: 'valid', contact: ['mailto:a@example.com'] })
      expect(created.termsOfService).toBeDefined()
      expect(await mode(key)).toBe('600')
      const shown = expectOk(await cli.run(['account', 'show', ...dir, '--account-key', key, '--json']))
      expect(shown.account).toMatchObject({ url, status: 'valid' })
      const updated = expectOk(
        await cli.run([
          'account',
          'update',
          ...dir,
          '--account-key',
          key,
          '--email',
          'b@example.com',
          '--json',
        ]),
      )
      expect(updated.account).toMatchObject({ url, contact: ['mailto:b@example.com'] })
      const rolled = expectOk(
        await cli.run(['account', 'rollover', ...dir, '--account-key', key, '--new-key', newKey, '--json']),
      )
      expect(rolled.account).toMatchObject({ url })
      expect(await mode(newKey)).toBe('600')
      expect(
        expectOk(await cli.run(['account', 'show', ...dir, '--account-key', newKey, '--json'])).account,
      ).toMatchObject({ url })
      const oldKey = await cli.run(['account', 'show', ...dir, '--account-key', key, '--json'])
      expect(oldKey.code, explain(oldKey)).toBe(2)
      expect((oldKey.json!.error as { message: string }).message).toContain('no account')
      expect((await cli.run(['account', 'deactivate', ...dir, '--account-key', newKey])).code).toBe(2)
      const deactivated = expectOk(
        await cli.run(['account', 'deactivate', ...dir, '--account-key', newKey, '--yes', '--json']),
      )
      expect(deactivated.account).toMatchObject({ url, status: 'deactivated' })
    })

    describe('through a front that adds ARI and rate limits (test/fixtures/ari-proxy.ts)', () => {
      let proxy: AriProxy
      beforeAll(async () => {
        proxy = await startAriProxy({ pebble })
      })
      afterAll(async () => {
        await proxy?.close()
      })

      it('rate limited: exit 6 with the retry time; then inspect shows the ARI window', async () => {
        proxy.failNextOrder({
          status: 429,
          type: 'rateLimited',
          detail: 'too many certificates',
          retryAfter: 3600,
        })
        const out = join(work, 'limited')
        const before = Date.now()
        const issue = [
          'issue',
          '--directory',
          proxy.directoryUrl,
          '-d',
          `ari.${name}`,
          '--agree-tos',
          '--out',
          out,
          '--http-port',
          String(pebble.httpPort),
          '--json',
        ]
        const limited = await cli.run(issue)
        expect(limited.code, explain(limited)).toBe(6)
        expect(limited.json!.error).toMatchObject({ code: 'ERR_ACME_RATE_LIMITED', status: 429 })
        const retryAfter = Date.parse((limited.json!.error as { retryAfter: string }).retryAfter)
        expect(retryAfter).toBeGreaterThanOrEqual(before + 3_599_000)
        expect(existsSync(out)).toBe(false)

        expectOk(await cli.run(issue)) // the same command once the CA lets it through
        const leaf = parseCertificate(await readFile(join(out, 'cert.pem'), 'utf8'))
        proxy.setRenewalInfo(certId(leaf), {
          start: '2030-01-01T00:00:00Z',
          end: '2030-01-02T00:00:00Z',
          explanationURL: 'https://ca.example/why',
        })
        const shown = expectOk(
          await cli.run(['inspect', join(out, 'fullchain.pem'), '--directory', proxy.directoryUrl, '--json']),
        )
        expect(shown.renewalInfo).toMatchObject({
          suggestedWindow: { start: '2030-01-01T00:00:00.000Z', end: '2030-01-02T00:00:00.000Z' },
          explanationURL: 'https://ca.example/why',
        })
      })
    })
  })

  describe(`webacme in ${runtime}: dns-01 through PowerDNS`, () => {
    let pdns: PowerDns
    let dnsPebble: Pebble
    beforeAll(async () => {
      ;({ pdns, pebble: dnsPebble } = await startPebbleOnPowerDns(['cli.test']))
    })
    afterAll(async () => {
      await dnsPebble?.stop()
      await pdns?.stop()
    })

    it('issues for an apex and its wildcard with --dns powerdns (credentials from the environment), no TXT left', async () => {
      const out = join(work, 'dns-certs')
      const args = [
        'issue',
        '--directory',
        dnsPebble.directoryUrl,
        '-d',
        'cli.test',
        '-d',
        '*.cli.test',
        '--agree-tos',
        '--out',
        out,
        '--dns',
        'powerdns',
        '--json',
        '--verbose',
      ]
      const noEnv = await cli.run([...args, '--dns-resolver', pdns.dohUrl!], { cwd: cli.cwd })
      expect(noEnv.code, explain(noEnv)).toBe(2)
      expect(noEnv.stderr).toContain('PDNS_API_URL')

      const r = await cli.run([...args, '--dns-resolver', pdns.dohUrl!], {
        env: { PDNS_API_URL: pdns.apiUrl, PDNS_API_KEY: pdns.apiKey },
      })
      const json = expectOk(r)
      expect((json.certificate as { names: string[] }).names).toEqual(['cli.test', '*.cli.test'])
      // The adapter's requests are logged too (--verbose), without the API key.
      expect(r.stderr).toMatch(
        /dns PATCH http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers\/localhost\/zones\/cli\.test\. 204/,
      )
      expect(r.stderr).not.toContain(pdns.apiKey)
      const txt = (await pdns.rrsets('cli.test')).filter((s) => s.type === 'TXT')
      expect(txt).toEqual([])
    })
  })
  describe(`webacme in ${runtime}: dns-01 through BIND with RFC 2136 (node:net transport)`, () => {
    let bind: AuthoritativeServer
    let dnsPebble: Pebble
    beforeAll(async () => {
      ;({ dns: bind, pebble: dnsPebble } = await startPebbleOn(() => startBind({ zones: ['rfc2136.test'] })))
    })
    afterAll(async () => {
      await dnsPebble?.stop()
      await bind?.stop()
    })

    it('issues for an apex and its wildcard with --dns rfc2136 (lego variables, TSIG hmac-sha512), no TXT left', async () => {
      const key = bind.keys['hmac-sha512']
      const args = [
        'issue',
        '--directory',
        dnsPebble.directoryUrl,
        '-d',
        'rfc2136.test',
        '-d',
        '*.rfc2136.test',
        '--agree-tos',
        '--out',
        join(work, 'rfc2136-certs'),
        '--dns',
        'rfc2136',
        '--dns-resolver',
        'none',
        '--json',
      ]
      const env = {
        RFC2136_NAMESERVER: `127.0.0.1:${bind.port}`,
        RFC2136_TSIG_KEY: key.name,
        RFC2136_TSIG_SECRET: key.secret,
        RFC2136_TSIG_ALGORITHM: 'hmac-sha512.',
      }
      const wrong = await cli.run(args, { env: { ...env, RFC2136_TSIG_SECRET: 'd3Jvbmcgc2VjcmV0' } })
      expect(wrong.code, explain(wrong)).not.toBe(0)
      expect(wrong.stdout).toContain('BADSIG')

      const json = expectOk(await cli.run(args, { env }))
      expect((json.certificate as { names: string[] }).names).toEqual(['rfc2136.test', '*.rfc2136.test'])
      expect(await bind.txt('_acme-challenge.rfc2136.test')).toEqual([])
    })
  })
}
