/**
 * Crash and resume (issue #8): a renewal cron job (crash/renew-child.ts, `renewDue` over FsStorage against a real
 * Pebble) is SIGKILLed at each point where a crash costs the most, then run again. The second run must resume the
 * same order (no second certificate), and leave no temporary file, no lock file, no pending-order record and no
 * http-01 token behind. Kills are triggered by the child reporting that it reached the point, never by timing.
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AcmeClient,
  generateKeyPair,
  http01Solver,
  issueCertificate,
  readCertificateRecord,
  readPendingOrder,
  saveAccount,
  saveCertificate,
} from '../../src/index.ts'
import { FsStorage } from '../../src/storage/fs.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePorts } from '../harness/ports.ts'

const CHILD = join(import.meta.dirname, 'crash/renew-child.ts')
const RUN = Date.now().toString(36)
const POINTS = ['new-order', 'challenge', 'finalize', 'certificate'] as const

let pebble: Pebble
let server: Server
let root: string
let storageDir: string
let webroot: string
let storage: FsStorage

/** Runs the child; resolves with its output, killing it with SIGKILL as soon as it reports a crash point. */
function runChild(name: string, crashAt: string | undefined): Promise<{ out: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: {
        ...process.env,
        STORAGE_DIR: storageDir,
        WEBROOT: webroot,
        NAMES: name,
        // Far enough ahead that every stored certificate is due by the lifetime rule.
        NOW: String(Date.now() + 10 * 365 * 86_400_000),
        ...(crashAt && { CRASH_AT: crashAt }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let killed = false
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      if (!killed && out.includes('CRASH_POINT')) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
    })
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      if (!killed && code !== 0) reject(new Error(`child exited ${code ?? signal}:\n${out}`))
      else resolve({ out, killed: killed && signal === 'SIGKILL' })
    })
  })
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
}

beforeAll(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'webacme-crash-'))
  storageDir = join(root, 'storage')
  webroot = join(root, 'webroot')
  await fs.mkdir(webroot)
  // http-01 from the webroot, as a web server serving a directory would.
  const [httpPort] = await freePorts(1)
  server = createServer(async (req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(req.url ?? '')?.[1]
    const body = token ? await fs.readFile(join(webroot, token), 'utf8').catch(() => undefined) : undefined
    res.writeHead(body === undefined ? 404 : 200).end(body)
  })
  await new Promise<void>((r) => server.listen(httpPort, '127.0.0.1', r))
  pebble = await startPebble({ http01: 'self', httpPort: httpPort!, authzReusePercent: 0 })
  storage = new FsStorage(storageDir, { fs })
  const client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair() })
  await client.createAccount({ termsOfServiceAgreed: true })
  await saveAccount(storage, 'main', client)
  const store = new Map<string, string>()
  const http01 = http01Solver({
    store: {
      get: (t) => store.get(t),
      set: async (t, v) => fs.writeFile(join(webroot, t), v),
      delete: async (t) => fs.rm(join(webroot, t), { force: true }),
    },
  })
  for (const point of POINTS) {
    const name = `${point}-${RUN}.webacme.test`
    const issued = await issueCertificate({ client, identifiers: [name], solvers: [http01] })
    await saveCertificate(storage, point, issued, { account: 'main' })
  }
})

afterAll(async () => {
  await pebble?.stop()
  await new Promise((r) => server?.close(r))
  if (root) await fs.rm(root, { recursive: true, force: true })
})

describe('renewDue survives SIGKILL', () => {
  for (const point of POINTS) {
    it(`killed after ${point}: the next run resumes the same order and leaves nothing behind`, async () => {
      const before = await readCertificateRecord(storage, point)
      const crashed = await runChild(point, point)
      expect(crashed.killed, crashed.out).toBe(true)

      const pending = await readPendingOrder(storage, point)
      expect(pending?.orderUrl, 'the order URL was stored before the crash').toBeDefined()
      if (point === 'challenge') expect((await fs.readdir(webroot)).length).toBeGreaterThan(0)

      const again = await runChild(point, undefined)
      const result = JSON.parse(/RESULT (.*)/.exec(again.out)![1]!) as {
        renewed: Array<{ name: string; resumed: boolean; serial: string }>
        failed: unknown[]
      }
      const renewed = result.renewed.find((r) => r.name === point)
      expect(result.failed, again.out).toEqual([])
      expect(renewed?.resumed, 'the crashed order was resumed, not replaced').toBe(true)
      const after = await readCertificateRecord(storage, point)
      expect(after?.serialNumber).toBe(renewed?.serial)
      expect(after?.serialNumber).not.toBe(before?.serialNumber)
      expect(await readPendingOrder(storage, point)).toBeUndefined()
      expect(await fs.readdir(webroot), 'no http-01 token left').toEqual([])
      expect(
        (await filesUnder(storageDir)).filter(
          (f) => f.endsWith('.tmp') || f.endsWith('.lock') || f.startsWith('orders/'),
        ),
      ).toEqual([])
    })
  }
})
