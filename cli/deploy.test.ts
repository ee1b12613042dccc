import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { deployEnv, pemFiles, runDeployHook, writeCertificateFiles } from './deploy.ts'
import { DeployHookError, EXIT, exitCodeFor, LocalError, listenError } from './exit-codes.ts'
import { probeWritable } from './files.ts'
import { Reporter } from './output.ts'

const BLOCK = (n: number) => `-----BEGIN CERTIFICATE-----\n${btoa(`CERT${n}`)}\n-----END CERTIFICATE-----`

let dir: string
const quiet = new Reporter({ json: false, verbose: false, quiet: true, stderr: { write: () => true } })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webacme-cli-deploy-'))
})

describe('--out layout', () => {
  it('DIR/<name>/ gets privkey, cert, chain, fullchain (0600); fullchain = cert + chain', async () => {
    const chain = `${BLOCK(1)}\n\n${BLOCK(2)}\r\n${BLOCK(3)}\n`
    const files = pemFiles(chain, 'KEY\n')
    expect(files['cert.pem']).toBe(`${BLOCK(1)}\n`)
    expect(files['chain.pem']).toBe(`${BLOCK(2)}\n${BLOCK(3)}\n`)
    expect(files['fullchain.pem']).toBe(files['cert.pem']! + files['chain.pem']!)
    const paths = await writeCertificateFiles(join(dir, 'out'), 'example.com', chain, 'KEY\n')
    expect(paths).toEqual(
      ['privkey.pem', 'cert.pem', 'chain.pem', 'fullchain.pem'].map((f) =>
        join(dir, 'out', 'example.com', f),
      ),
    )
    for (const p of paths) expect(((await stat(p)).mode & 0o777).toString(8)).toBe('600')
    expect(await readFile(paths[0]!, 'utf8')).toBe('KEY\n')
  })
})

describe('--deploy-hook', () => {
  const info = {
    name: 'example.com',
    domains: ['example.com', 'www.example.com'],
    dir: '/etc/ssl/x',
    renewed: true,
  }

  it('gets the WEBACME_* variables; WEBACME_RENEWED only on renewal', () => {
    expect(deployEnv(info)).toEqual({
      WEBACME_CERT_PATH: '/etc/ssl/x/cert.pem',
      WEBACME_KEY_PATH: '/etc/ssl/x/privkey.pem',
      WEBACME_CHAIN_PATH: '/etc/ssl/x/chain.pem',
      WEBACME_FULLCHAIN_PATH: '/etc/ssl/x/fullchain.pem',
      WEBACME_DOMAINS: 'example.com www.example.com',
      WEBACME_NAME: 'example.com',
      WEBACME_RENEWED: '1',
    })
    expect(deployEnv({ ...info, renewed: false })).not.toHaveProperty('WEBACME_RENEWED')
  })

  it('runs through the shell with the command environment; a failure is exit 9 with the hook status', async () => {
    const out = join(dir, 'hook.out')
    const options = {
      env: { PATH: process.env.PATH, EXTRA: 'kept' },
      reporter: quiet,
      signal: new AbortController().signal,
    }
    await runDeployHook(`echo "$EXTRA $WEBACME_NAME" > '${out}'`, info, options)
    expect(await readFile(out, 'utf8')).toBe('kept example.com\n')
    const err = await runDeployHook('exit 3', info, options).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DeployHookError)
    expect(err).toMatchObject({ code: 'ERR_DEPLOY_HOOK', hookExitCode: 3 })
    expect(exitCodeFor(err)).toBe(EXIT.deployHook)
  })
})

describe('local checks', () => {
  it('probeWritable accepts a missing directory under a writable one and refuses one under a file', async () => {
    await probeWritable(join(dir, 'not', 'yet', 'there'), '--out')
    const file = join(dir, 'file')
    await writeFile(file, 'x')
    await expect(probeWritable(join(file, 'certs'), '--out')).rejects.toThrow(LocalError)
    await expect(probeWritable(join(file, 'certs'), '--out')).rejects.toThrow(/--out .* is not a directory/)
  })

  it('a port below 1024 refused for lack of privilege says how to get it', () => {
    const eacces = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), { code: 'EACCES' })
    const err = listenError('http-01', '--http-port', undefined, 80, eacces)
    expect(exitCodeFor(err)).toBe(EXIT.local)
    expect(err.message).toBe('cannot serve http-01 on *:80: listen EACCES: permission denied 0.0.0.0:80')
    for (const fix of ['setcap cap_net_bind_service=+ep', '--http-port 8080', 'sudo', 'authbind'])
      expect(err.hint).toContain(fix)
  })

  it('a real EADDRINUSE gets its hint', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const second = createServer()
    const err = await new Promise<Error>((resolve) => second.once('error', resolve).listen(port, '127.0.0.1'))
    server.close()
    expect(listenError('http-01', '--http-port', '127.0.0.1', port, err).hint).toContain('already listens')
  })
})
