/**
 * `jsr:@webacme/webacme` made real without publishing to jsr.io: `deno publish` uploads the package to a local JSR
 * (test/fixtures/jsr-registry.ts, through `JSR_URL`), and a Deno program that imports `jsr:@webacme/webacme` (and
 * the `jsr:@webacme/webacme/storage/fs` subpath) through that registry issues a certificate from Pebble, answering
 * http-01 with `Deno.serve`. Deno checks every file it loads against the checksums of the version's manifest: a
 * tampered file is refused.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type JsrRegistry, startJsrRegistry } from '../fixtures/jsr-registry.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { denoBinary } from '../runtimes/deno/launch.ts'
import { root } from '../runtimes/paths.ts'
import { runtimeEnv } from '../runtimes/runner.ts'

const PROGRAM = `// A user's Deno program: the library from JSR.
import { AcmeClient, generateKeyPair, http01Solver, issueCertificate, MemoryStorage, saveCertificate } from 'jsr:@webacme/webacme'
import { FsStorage } from 'jsr:@webacme/webacme/storage/fs'

const { directoryUrl, httpPort, name } = JSON.parse(Deno.args[0])
const http01 = http01Solver()
const server = Deno.serve({ hostname: '127.0.0.1', port: httpPort, onListen() {} }, async (request) =>
  (await http01.handle(request)) ?? new Response('not found', { status: 404 }))
try {
  const client = new AcmeClient({ directoryUrl, accountKey: await generateKeyPair('ES256') })
  const issued = await issueCertificate({
    client,
    account: { termsOfServiceAgreed: true },
    identifiers: [name],
    solvers: [http01],
  })
  const record = await saveCertificate(new MemoryStorage(), name, issued)
  console.log(JSON.stringify({ serialNumber: issued.parsed.serialNumber, names: issued.parsed.dnsNames, stored: record.serialNumber, fs: typeof FsStorage }))
} finally {
  await server.shutdown()
}
`

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

let jsr: JsrRegistry
let pebble: Pebble
let work: string
let version: string

beforeAll(async () => {
  const token = 'test-token'
  // Published three days ago, as a release users install would be (Deno refuses too recent versions).
  jsr = await startJsrRegistry({ packages: ['@webacme/webacme'], token, backdate: 3 * 86_400_000 })
  pebble = await startPebble({ http01: 'self' })
  work = await mkdtemp(join(tmpdir(), 'webacme-jsr-'))
  version = JSON.parse(await readFile(join(root, 'jsr.json'), 'utf8')).version
})
afterAll(async () => {
  await pebble?.stop()
  await jsr?.close()
})

function denoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return runtimeEnv({
    JSR_URL: jsr.url,
    DENO_DIR: join(work, 'deno-dir'),
    DENO_NO_UPDATE_CHECK: '1',
    NO_COLOR: '1',
    ...(process.env.WEBACME_CLI_REGISTRY && { NPM_CONFIG_REGISTRY: process.env.WEBACME_CLI_REGISTRY }),
    ...extra,
  })
}

describe('jsr:@webacme/webacme through a local JSR', () => {
  it('deno publish uploads the package (bare npm imports rewritten to npm: specifiers)', async () => {
    const r = await run(
      denoBinary(),
      ['publish', '--token', 'test-token', '--allow-dirty', '--no-check'],
      denoEnv(),
      root,
    )
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout + r.stderr).toContain(`Successfully published @webacme/webacme@${version}`)
    const files = jsr.files('@webacme/webacme', version)!
    expect(files.has('/src/index.ts')).toBe(true)
    expect([...files.keys()].some((f) => f.endsWith('.test.ts'))).toBe(false)
    expect(files.get('/src/protocol/schemas.ts')!.toString()).toMatch(/from 'npm:valibot@\d+\.\d+\.\d+'/)
  })

  it('a Deno program importing jsr:@webacme/webacme issues a certificate from Pebble', async () => {
    const program = join(work, 'main.ts')
    await writeFile(program, PROGRAM)
    const name = 'jsr.webacme.test'
    const r = await run(
      denoBinary(),
      [
        'run',
        '--allow-net=127.0.0.1',
        '--cert',
        pebble.caCertPath,
        program,
        JSON.stringify({ directoryUrl: pebble.directoryUrl, httpPort: pebble.httpPort, name }),
      ],
      denoEnv(),
      work,
    )
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out).toMatchObject({ names: [name], fs: 'function' })
    expect(out.stored).toBe(out.serialNumber)
    expect((await pebble.certStatus(out.serialNumber)).status).toBe('valid')
    // Resolved through the registry API: package metadata, version metadata, then the modules.
    expect(jsr.log).toContain('GET /@webacme/webacme/meta.json 200')
    expect(jsr.log).toContain(`GET /@webacme/webacme/${version}_meta.json 200`)
    expect(jsr.log).toContain(`GET /@webacme/webacme/${version}/src/index.ts 200`)
    expect(jsr.log).toContain(`GET /@webacme/webacme/${version}/src/storage/fs.ts 200`)
  })

  it('a file that does not match the manifest checksum is refused', async () => {
    jsr.tamper(
      '@webacme/webacme',
      version,
      '/src/directories.ts',
      Buffer.from('export const directories = {}\n'),
    )
    const program = join(work, 'main.ts')
    // A fresh cache: the modules must be fetched again.
    const r = await run(
      denoBinary(),
      ['run', '--allow-net=127.0.0.1', '--cert', pebble.caCertPath, program, '{}'],
      denoEnv({ DENO_DIR: join(work, 'deno-dir-2') }),
      work,
    )
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/checksum|integrity/i)
    expect(r.stderr).toContain('directories.ts')
  })
})
