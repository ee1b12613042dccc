/**
 * Runs the agent in headless Chromium (Debian's `chromium`, driven by playwright-core). The page and the
 * bundle (library from dist/) are served from 127.0.0.1. The test CA is trusted through an NSS database in
 * a temporary HOME (certutil), and HTTPS errors are NOT ignored: without that database the page cannot reach
 * Pebble.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ServerInfo } from '../../e2e/servers.ts'
import type { TestCa } from '../../harness/ca.ts'
import { type Http01Server, startHttp01Server } from '../../harness/http01-server.ts'
import { freePort } from '../../harness/ports.ts'
import { systemBinary } from '../../harness/system.ts'
import type { AgentInfo, ProbeResult, RunRequest, RunResult } from '../agent.ts'
import { bundleAgent } from '../bundle.ts'
import { root, scratch } from '../paths.ts'
import { type AgentHandle, outputTail, type RuntimeLauncher, retryStart, runtimeEnv } from '../runner.ts'

const run = promisify(execFile)
/** Resolved when a Chromium run starts, so that importing this module (the other runtimes do) needs no Chromium. */
export const executablePath = (): string => process.env.WEBACME_CHROMIUM ?? systemBinary('chromium')
const bundle = join(scratch, 'chromium/page.js')
/** RUNTIMES.md: flags for a headless Chromium as root in a container (test/playground uses them too). */
export const FLAGS: string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>webacme e2e</title>
<script type="module" src="/page.js"></script>
`

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** GET over HTTPS trusting only the test CA (the runner's own calls, not the library's). */
function httpsGet(url: string, ca: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? 'text/plain'),
          body: Buffer.concat(chunks),
        }),
      )
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * The page's origin: the page, the bundle, and the runner-side services a page cannot provide itself
 * (http-01 responder; challtestsrv and Pebble's management API, which answer no CORS).
 */
async function startPageServer(ca: TestCa | undefined, http01: Http01Server) {
  const js = await readFile(bundle)
  let current: ServerInfo | undefined
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const send = (status: number, type: string, body: string | Buffer) =>
      void res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
    if (req.method === 'GET' && path === '/') return send(200, 'text/html; charset=utf-8', PAGE)
    if (req.method === 'GET' && path === '/page.js') return send(200, 'text/javascript', js)
    if (req.method === 'POST' && path.startsWith('/__http01/')) {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as Record<string, string>
      if (path === '/__http01/set') http01.set(body.token ?? '', body.keyAuthorization ?? '')
      else http01.delete(body.token ?? '')
      return send(204, 'text/plain', '')
    }
    if (path.startsWith('/__proxy/challtest/') && current) {
      const target = `${current.challtestUrl}/${path.slice('/__proxy/challtest/'.length)}`
      const upstream = await fetch(target, { method: 'POST', body: (await readBody(req)).toString('utf8') })
      return send(upstream.status, 'text/plain', Buffer.from(await upstream.arrayBuffer()))
    }
    if (path.startsWith('/__proxy/management/') && current && ca) {
      const target = `${current.managementUrl}/${path.slice('/__proxy/management/'.length)}`
      const upstream = await httpsGet(target, ca.caPem)
      return send(upstream.status, upstream.type, upstream.body)
    }
    return send(404, 'text/plain', 'not found\n')
  }
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(String(err))
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve())
  })
  const origin = `http://127.0.0.1:${port}`
  return {
    origin,
    view(info: ServerInfo): ServerInfo {
      current = info
      return {
        ...info,
        challtestUrl: `${origin}/__proxy/challtest`,
        managementUrl: `${origin}/__proxy/management`,
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** A HOME whose NSS database trusts `ca` (or an empty HOME: no extra trust). */
export async function makeHome(ca: TestCa | undefined): Promise<string> {
  await mkdir(join(scratch, 'chromium'), { recursive: true })
  const home = await mkdtemp(join(scratch, 'chromium/home-'))
  if (ca) {
    const db = `sql:${join(home, '.pki/nssdb')}`
    await run('mkdir', ['-p', join(home, '.pki/nssdb')])
    await run(systemBinary('certutil'), ['-d', db, '-N', '--empty-password'])
    await run(systemBinary('certutil'), [
      '-d',
      db,
      '-A',
      '-t',
      'C,,',
      '-n',
      'webacme-test-ca',
      '-i',
      ca.caCertPath,
    ])
  }
  return home
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`${what} timed out`), { name: 'TimeoutError' })),
      ms,
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function startPage(ca: TestCa | undefined): Promise<AgentHandle> {
  const { chromium } = await import('playwright-core')
  const output = outputTail()
  const httpPort = await freePort()
  const http01 = await startHttp01Server(httpPort)
  const pages = await startPageServer(ca, http01)
  const home = await makeHome(ca)
  const cleanup = async () => {
    await pages.close()
    await http01.close()
    await rm(home, { recursive: true, force: true })
  }
  let browser: Awaited<ReturnType<typeof chromium.launch>>
  try {
    browser = await chromium.launch({
      executablePath: executablePath(),
      args: FLAGS,
      env: runtimeEnv({ HOME: home }),
      timeout: 60_000,
    })
  } catch (err) {
    await cleanup()
    throw err
  }
  const stop = async () => {
    await browser.close().catch(() => {})
    await cleanup()
  }
  try {
    // Certificate errors are NOT ignored: trust comes from the NSS database only.
    const context = await browser.newContext({ ignoreHTTPSErrors: false })
    const page = await context.newPage()
    page.on('console', (m) => output.append(`[console.${m.type()}] ${m.text()}\n`))
    page.on('pageerror', (e) => output.append(`[pageerror] ${e.stack ?? e.message}\n`))
    page.on('requestfailed', (r) => output.append(`[requestfailed] ${r.url()}: ${r.failure()?.errorText}\n`))
    await page.goto(`${pages.origin}/`)
    await page.waitForFunction(() => '__webacme' in globalThis, undefined, { timeout: 30_000 })
    // Functions given to page.evaluate run in the page: they reach the agent through the page's globalThis.
    type PageAgent = {
      info(): AgentInfo
      run(r: RunRequest): Promise<RunResult>
      probe(url: string): Promise<ProbeResult>
    }
    type PageGlobal = { __webacme: PageAgent }
    return {
      httpPort,
      info: () => page.evaluate(() => (globalThis as unknown as PageGlobal).__webacme.info()),
      run: (request, timeoutMs) =>
        withTimeout(
          page.evaluate((r) => (globalThis as unknown as PageGlobal).__webacme.run(r), request),
          timeoutMs,
          'scenario',
        ),
      probe: (url) => page.evaluate((u) => (globalThis as unknown as PageGlobal).__webacme.probe(u), url),
      view: async (info) => pages.view(info),
      logs: () => output.toString(),
      output,
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

export const chromium: RuntimeLauncher = {
  name: 'chromium',
  description: `headless Chromium via playwright-core; page + bundle (dist/) from 127.0.0.1; CA in an NSS db, ignoreHTTPSErrors false; http-01 answered by the runner (a page cannot listen)`,
  async version() {
    const out = execFileSync(executablePath(), ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return /([\d.]+)/.exec(out)?.[1] ?? out.trim()
  },
  async prepare() {
    await bundleAgent({
      entry: join(root, 'test/runtimes/chromium/page.ts'),
      outfile: bundle,
      conditions: ['browser'],
    })
  },
  start: (ca) => retryStart(() => startPage(ca)),
  // The page's fetch only says "Failed to fetch"; the browser's network stack says why, for this URL.
  untrustedIssuer(url, probe, output) {
    const line = `[requestfailed] ${url}: net::ERR_CERT_AUTHORITY_INVALID`
    const ok = probe.error?.startsWith('TypeError: Failed to fetch') && output.split('\n').includes(line)
    return ok ? line : undefined
  },
}
