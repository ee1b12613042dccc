/**
 * The `webacme` command end to end, against a real Pebble, in one runtime (node.e2e.ts, deno.e2e.ts, bun.e2e.ts
 * call this with theirs). Every case runs the command as a user would (./run-cli.ts) and checks what a user would
 * see: the exit code, the files and their modes, the JSON on stdout, the lines on stderr, and the CA's own
 * record of the certificate (Pebble's management API).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certificateMatchesKey, parseCertificate } from '../../src/pkix/certificate.ts'
import { importPrivateKeyPem } from '../../src/pkix/private-key.ts'
import { certId } from '../../src/renewal/cert-id.ts'
import { type AriProxy, startAriProxy } from '../fixtures/ari-proxy.ts'
import { startLetsEncryptShapedPebble } from '../fixtures/lets-encrypt-ca.ts'
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
    // The CA the command talks to looks like Let's Encrypt (Boulder's directory, headers, nonces, Retry-After).
    pebble = await startLetsEncryptShapedPebble({ http01: 'self' })
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
        '--account-key',
        join(work, 'refused-account.pem'),
        '--json',
      ])
      expect(noTerms.code).toBe(2)
      expect((noTerms.json!.error as { message: string }).message).toContain('--agree-tos')
      expect(noTerms.json!.requests).toBe(0)
      expect(existsSync(join(work, 'refused-account.pem')), 'no key file left by a refused agreement').toBe(
        false,
      )

      const twice = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        name,
        '--out',
        join(work, 'x'),
        '--out',
        join(work, 'y'),
        '--http-port',
        String(pebble.httpPort),
      ])
      expect(twice.code, explain(twice)).toBe(2)
      expect(twice.stderr).toContain('--out was given 2 times')

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
      expect(existsSync(join(work, 'y'))).toBe(false)
    })

    let issued: { out: string; outRoot: string; storage: string; accountKey: string; serial: string }
    const hookLog = () => join(work, 'deploy-hook.log')
    // The hook writes its WEBACME_* environment, one block per run.
    const deployHook = () =>
      `{ env | grep -E '^WEBACME_(CERT_PATH|KEY_PATH|CHAIN_PATH|FULLCHAIN_PATH|DOMAINS|NAME|RENEWED)=' | sort; echo ---; } >> '${hookLog()}'`
    it('issue with http-01 (--http-port): files 0600 in DIR/<name>/, --json parses, --verbose shows requests and never keys, the deploy hook runs once', async () => {
      const outRoot = join(work, 'certs')
      const out = join(outRoot, name)
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
        outRoot,
        '--deploy-hook',
        deployHook(),
        '--http-port',
        String(pebble.httpPort),
        '--json',
        '--verbose',
      ])
      const json = expectOk(r)
      expect(json.name).toBe(name)
      expect(json.deployHook).toEqual({ exitCode: 0 })
      expect(await readFile(hookLog(), 'utf8')).toBe(
        [
          `WEBACME_CERT_PATH=${join(out, 'cert.pem')}`,
          `WEBACME_CHAIN_PATH=${join(out, 'chain.pem')}`,
          `WEBACME_DOMAINS=${name} www.${name}`,
          `WEBACME_FULLCHAIN_PATH=${join(out, 'fullchain.pem')}`,
          `WEBACME_KEY_PATH=${join(out, 'privkey.pem')}`,
          `WEBACME_NAME=${name}`,
          '---',
          '',
        ].join('\n'),
      )
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
      issued = { out, outRoot, storage, accountKey, serial: leaf.serialNumber }
    })

    it('export writes from storage exactly what issue --out wrote; inspect reads the storage record', async () => {
      const exported = join(work, 'exported')
      const r = await cli.run(['export', '--storage', issued.storage, '--out', exported, '--json'])
      const json = expectOk(r)
      expect(json.exported).toMatchObject([
        { name, serialNumber: issued.serial, files: PEM_FILES.map((f) => join(exported, name, f)) },
      ])
      for (const f of PEM_FILES) {
        expect(await readFile(join(exported, name, f)), f).toEqual(await readFile(join(issued.out, f)))
        expect(await mode(join(exported, name, f)), f).toBe('600')
      }
      const unknown = await cli.run([
        'export',
        '--storage',
        issued.storage,
        '--name',
        'nope',
        '--out',
        exported,
      ])
      expect(unknown.code, explain(unknown)).toBe(2)
      expect(unknown.stderr).toContain(
        `--name nope: no such certificate in ${issued.storage} (it holds ${name})`,
      )

      const record = join(issued.storage, 'certificates', `${name}.json`)
      const inspected = await cli.run(['inspect', record, '--json'])
      expect(expectOk(inspected)).toMatchObject({
        kind: 'record',
        record: { name, identifiers: [name, `www.${name}`], account: 'default' },
        certificates: [{ serialNumber: issued.serial, names: [name, `www.${name}`] }, { isCA: true }],
      })
      const text = await cli.run(['inspect', record])
      expect(text.stdout).toContain(`stored certificate "${name}"`)
      expect(text.stdout + text.stderr + inspected.stdout).not.toContain('PRIVATE KEY')
    })

    it('issue with --webroot: the token file is served by another server and removed; a failing deploy hook is exit 9 and the files stay', async () => {
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
          '--deploy-hook',
          'echo "nginx: reload failed" >&2; exit 7',
          '--json',
        ])
        expect(r.code, explain(r)).toBe(9)
        expect(r.json).toMatchObject({
          ok: false,
          exitCode: 9,
          error: { code: 'ERR_DEPLOY_HOOK', hookExitCode: 7 },
        })
        expect(r.stderr).toContain('nginx: reload failed')
        expect(await readdir(join(webroot, '.well-known/acme-challenge'))).toEqual([])
        const cert = parseCertificate(await readFile(join(out, `webroot.${name}`, 'cert.pem'), 'utf8'))
        expect(cert.dnsNames).toEqual([`webroot.${name}`])
        expect((await pebble.certStatus(cert.serialNumber)).status).toBe('valid')
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
      // The Let's Encrypt-shaped CA offers ARI: its window, not the lifetime rule, says the certificate is not due.
      expect(json.skipped).toMatchObject([{ name, reason: 'not-due', source: 'ari' }])

      const unknownName = await cli.run([
        'renew',
        '--storage',
        issued.storage,
        '--name',
        `typo.${name}`,
        '--http-port',
        String(pebble.httpPort),
        '--json',
      ])
      expect(unknownName.code, explain(unknownName)).toBe(2)
      expect((unknownName.json!.error as { message: string }).message).toContain(
        `--name typo.${name}: no such certificate`,
      )
      expect(unknownName.json!.requests).toBe(0)

      const out = join(work, 'renewed')
      const hookRuns = (await readFile(hookLog(), 'utf8')).split('---\n').length
      const forced = await cli.run([
        'renew',
        '--storage',
        issued.storage,
        '--force',
        '--deploy-hook',
        deployHook(),
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
      // The deploy hook ran once more, for the renewal, with WEBACME_RENEWED=1.
      const blocks = (await readFile(hookLog(), 'utf8')).split('---\n')
      expect(blocks).toHaveLength(hookRuns + 1)
      expect(blocks.at(-2)).toBe(
        [
          `WEBACME_CERT_PATH=${join(out, name, 'cert.pem')}`,
          `WEBACME_CHAIN_PATH=${join(out, name, 'chain.pem')}`,
          `WEBACME_DOMAINS=${name} www.${name}`,
          `WEBACME_FULLCHAIN_PATH=${join(out, name, 'fullchain.pem')}`,
          `WEBACME_KEY_PATH=${join(out, name, 'privkey.pem')}`,
          `WEBACME_NAME=${name}`,
          'WEBACME_RENEWED=1',
          '',
        ].join('\n'),
      )
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
      // The Let's Encrypt-shaped CA answers renewalInfo for the certificate (Pebble 2.4 alone has no ARI).
      expect(json.renewalInfo).toMatchObject({
        suggestedWindow: { start: expect.any(String), end: expect.any(String) },
        url: expect.stringContaining(`/renewal-info/${certId(leaf)}`),
      })
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
      // Running it again would replace the key: refused without --force, and the key is untouched.
      const key = await readFile(keyPath, 'utf8')
      const again = await cli.run(['csr', '-d', `csr.${name}`, '--key-out', keyPath, '--out', `${csrPath}.2`])
      expect(again.code, explain(again)).toBe(2)
      expect(again.stderr).toContain('--force')
      expect(await readFile(keyPath, 'utf8')).toBe(key)
      expect(existsSync(`${csrPath}.2`)).toBe(false)
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
      expect(expectOk(inspected)).toMatchObject({
        kind: 'csr',
        names: [`csr.${name}`, '192.0.2.7'],
        signature: 'valid',
      })
      // The same request with one letter of its name changed after signing: inspect says the signature fails.
      const der = Buffer.from(readFileSync(csrPath, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64')
      for (let at = der.indexOf(`csr.${name}`); at >= 0; at = der.indexOf(`csr.${name}`, at + 1))
        der[at] = 0x78 // x
      const alteredPath = `${csrPath}.altered`
      writeFileSync(
        alteredPath,
        `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`,
      )
      expect(expectOk(await cli.run(['inspect', alteredPath, '--json']))).toMatchObject({
        kind: 'csr',
        names: [`xsr.${name}`, '192.0.2.7'],
        signature: 'invalid',
      })
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

    /** A bash script that logs its arguments and CERTBOT_* variables to `log` and drives challtestsrv's TXT API. */
    async function hookScript(file: string, log: string, mode: 'lego' | 'certbot-auth' | 'certbot-cleanup') {
      const port = new URL(pebble.challtestUrl!).port
      const setup =
        mode === 'lego'
          ? 'action=$1; fqdn=$2; value=$3; echo "$# $action $fqdn $value" >> "$LOG"'
          : `action=${mode === 'certbot-auth' ? 'present' : 'cleanup'}; fqdn="_acme-challenge.$CERTBOT_DOMAIN."; value=$CERTBOT_VALIDATION
echo "$action domain=$CERTBOT_DOMAIN validation=$CERTBOT_VALIDATION remaining=$CERTBOT_REMAINING_CHALLENGES all=$CERTBOT_ALL_DOMAINS output=[\${CERTBOT_AUTH_OUTPUT-}]" >> "$LOG"`
      await writeFile(
        file,
        `#!/bin/bash
# A DNS hook as users write them: this one updates pebble-challtestsrv (the DNS server Pebble asks) over HTTP.
set -eu
LOG='${log}'
${setup}
if [ "$action" = present ]; then path=/set-txt; body=$(printf '{"host":"%s","value":"%s"}' "$fqdn" "$value")
else path=/clear-txt; body=$(printf '{"host":"%s"}' "$fqdn"); fi
exec 3<>/dev/tcp/127.0.0.1/${port}
printf 'POST %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "$path" "\${#body}" "$body" >&3
read -r status <&3
case "$status" in *" 200"*) ;; *) echo "challtestsrv answered: $status" >&2; exit 1;; esac
echo "record-$value"
`,
      )
      await chmod(file, 0o755)
    }

    it('--dns exec: a lego EXEC_PATH script is run as present|cleanup <fqdn.> <value> and the certificate issues', async () => {
      const log = join(work, 'exec.log')
      const script = join(work, 'lego-hook.sh')
      await hookScript(script, log, 'lego')
      const out = join(work, 'exec-certs')
      const args = [
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        `exec.${name}`,
        '--agree-tos',
        '--out',
        out,
      ]
      const noPath = await cli.run([...args, '--dns', 'exec', '--json'])
      expect(noPath.code, explain(noPath)).toBe(2)
      expect(noPath.stderr).toContain('EXEC_PATH')
      const r = await cli.run([...args, '--dns', 'exec', '--dns-resolver', 'none', '--json'], {
        env: { EXEC_PATH: script },
      })
      const json = expectOk(r)
      expect((json.certificate as { names: string[] }).names).toEqual([`exec.${name}`])
      const lines = (await readFile(log, 'utf8')).trim().split('\n')
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(
        new RegExp(
          `^3 present _acme-challenge\\.exec\\.${name.replaceAll('.', '\\.')}\\. [A-Za-z0-9_-]{43}$`,
        ),
      )
      expect(lines[1]).toBe(lines[0]!.replace('present', 'cleanup'))
    })

    it('--manual-auth-hook / --manual-cleanup-hook: certbot hooks get CERTBOT_* and the certificate issues; a failing hook is exit 7 with its stderr', async () => {
      const log = join(work, 'certbot.log')
      const auth = join(work, 'certbot-auth.sh')
      const cleanup = join(work, 'certbot-cleanup.sh')
      await hookScript(auth, log, 'certbot-auth')
      await hookScript(cleanup, log, 'certbot-cleanup')
      const domain = `certbot.${name}`
      const r = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        domain,
        '--agree-tos',
        '--out',
        join(work, 'certbot-certs'),
        '--manual-auth-hook',
        auth,
        '--manual-cleanup-hook',
        cleanup,
        '--dns-resolver',
        'none',
        '--json',
      ])
      expectOk(r)
      const [present, removed, ...rest] = (await readFile(log, 'utf8')).trim().split('\n')
      expect(rest).toEqual([])
      const value = /validation=(\S+)/.exec(present!)![1]!
      expect(present).toBe(`present domain=${domain} validation=${value} remaining=0 all=${domain} output=[]`)
      expect(removed).toBe(
        `cleanup domain=${domain} validation=${value} remaining=0 all=${domain} output=[record-${value}]`,
      )

      const failing = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        `certbot-fails.${name}`,
        '--agree-tos',
        '--out',
        join(work, 'certbot-fails'),
        '--manual-auth-hook',
        'echo "dns api: token expired" >&2; exit 4',
        '--dns-resolver',
        'none',
        '--json',
      ])
      expect(failing.code, explain(failing)).toBe(7)
      expect(failing.json!.error).toMatchObject({ code: 'ERR_DNS_PROVIDER', provider: 'exec' })
      expect((failing.json!.error as { message: string }).message).toContain('dns api: token expired')
      expect(existsSync(join(work, 'certbot-fails'))).toBe(false)
    })

    it('SIGINT during issuance: the pending authorization is deactivated, exit 130, --json says ERR_INTERRUPTED', async () => {
      // The auth hook interrupts the command that runs it (its parent), then hangs: a Ctrl-C mid-validation.
      const r = await cli.run([
        'issue',
        '--directory',
        pebble.directoryUrl,
        '-d',
        `sigint.${name}`,
        '--agree-tos',
        '--out',
        join(work, 'sigint'),
        '--manual-auth-hook',
        'kill -INT $PPID; exec sleep 600',
        '--dns-resolver',
        'none',
        '--json',
      ])
      expect(r.code, explain(r)).toBe(130)
      expect(r.json).toMatchObject({ ok: false, exitCode: 130, error: { code: 'ERR_INTERRUPTED' } })
      expect(r.stderr).toContain(`deactivated the pending authorization of sigint.${name}`)
      expect(existsSync(join(work, 'sigint'))).toBe(false)
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
        const leaf = parseCertificate(await readFile(join(out, `ari.${name}`, 'cert.pem'), 'utf8'))
        proxy.setRenewalInfo(certId(leaf), {
          start: '2030-01-01T00:00:00Z',
          end: '2030-01-02T00:00:00Z',
          explanationURL: 'https://ca.example/why',
        })
        const shown = expectOk(
          await cli.run([
            'inspect',
            join(out, `ari.${name}`, 'fullchain.pem'),
            '--directory',
            proxy.directoryUrl,
            '--json',
          ]),
        )
        expect(shown.renewalInfo).toMatchObject({
          suggestedWindow: { start: '2030-01-01T00:00:00.000Z', end: '2030-01-02T00:00:00.000Z' },
          explanationURL: 'https://ca.example/why',
        })
      })
    })
  })

  describe(`webacme in ${runtime}: a run that cannot deliver never orders`, () => {
    // A Pebble of its own, so that its log holds only these runs' requests; no badNonce, so each newOrder is one
    // request.
    let own: Pebble
    beforeAll(async () => {
      own = await startPebble({ http01: 'self', nonceRejectPercent: 0 })
    })
    afterAll(async () => {
      await own?.stop()
    })
    const newOrders = () => (own.logs().match(/POST \/order-plz /g) ?? []).length

    it('unwritable --out, unwritable --storage, a taken port: exit 8 and no newOrder at the CA; then the same command orders once', async () => {
      const blocker = join(work, 'a-file')
      await writeFile(blocker, 'not a directory\n')
      const domain = `preflight.${name}`
      const base = ['issue', '--directory', own.directoryUrl, '-d', domain, '--agree-tos', '--json']
      const http = ['--http-port', String(own.httpPort)]

      const badOut = await cli.run([...base, '--out', join(blocker, 'certs'), ...http])
      expect(badOut.code, explain(badOut)).toBe(8)
      expect((badOut.json!.error as { message: string }).message).toContain('--out')
      const badStorage = await cli.run([...base, '--storage', join(blocker, 'storage'), ...http])
      expect(badStorage.code, explain(badStorage)).toBe(8)
      expect((badStorage.json!.error as { message: string }).message).toContain('--storage')

      const taken = createServer()
      await new Promise<void>((resolve) => taken.listen(own.httpPort, resolve))
      try {
        const busy = await cli.run([...base, '--out', join(work, 'preflight'), ...http])
        expect(busy.code, explain(busy)).toBe(8)
        expect(busy.json!.error).toMatchObject({ name: 'LocalError' })
        expect((busy.json!.error as { hint?: string }).hint).toContain('already listens')
      } finally {
        await new Promise((resolve) => taken.close(resolve))
      }
      for (const r of [badOut, badStorage]) expect(r.json!.requests).toBe(0)
      expect(newOrders(), own.logs()).toBe(0)

      expectOk(await cli.run([...base, '--out', join(work, 'preflight'), ...http]))
      expect(newOrders()).toBe(1)
      expect(existsSync(join(work, 'preflight', domain, 'fullchain.pem'))).toBe(true)
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
