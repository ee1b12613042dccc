/**
 * `npm run bench:ondemand`: on-demand TLS, webacme's certificate manager (`webacme/tls`) and Caddy's
 * `on_demand_tls` (Debian's caddy, setup feature `caddy`) one after the other on the same Pebble, measured by the
 * same TLS client (`node:tls` `connect` with `servername`, the chain verified against Pebble's root):
 *
 * - first handshake for a new name (the handshake waits for the order: tls-alpn-01 on the same port), median of 5;
 * - warm handshake for a name already held (a fresh TCP + TLS connection each time, no resumption), median of 300,
 *   next to a plain `node:tls` server with a static certificate (the floor);
 * - 100 new names at once: handshakes that succeed, wall time;
 * - 1,000 names the policy refuses: orders placed (Pebble's log), wall time;
 * - memory (RSS) of the server process with 10,000 names held in memory: 10,000 certificates are written to the
 *   server's own storage in its own layout (self-signed, one key), then one handshake per name loads each.
 *
 * Each server runs as its own process (webacme: bench/ondemand/webacme-server.ts). Results:
 * bench/results/ondemand.{md,json}.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import * as fs from 'node:fs/promises'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { connect } from 'node:tls'
import { createTlsAlpn01Certificate, generateKeyPair, saveCertificate } from '../src/index.ts'
import { readCertificateRecord } from '../src/renewal/records.ts'
import { FsStorage } from '../src/storage/fs.ts'
import { childRegistry } from '../test/harness/children.ts'
import { type Pebble, startPebble } from '../test/harness/pebble.ts'
import { systemBinary } from '../test/harness/system.ts'
import { ROOT } from './lib/build.ts'
import { machine, markdownTable, runContext, sourceState } from './lib/meta.ts'

const FIRST = 5
const WARM = 300
const BURST = 100
const REFUSED = 1000
const CACHED = 10_000
const DOMAIN = 'bench.test'
/** The name of the plain server's certificate: issued by Pebble (through webacme) before anything is measured. */
const PLAIN_NAME = `plain.${DOMAIN}`
const { children } = childRegistry('bench-ondemand')

interface Server {
  name: string
  port: number
  pid: number
  /** Writes `count` certificates for `names` into the server's storage, in its layout. */
  preload(names: string[]): Promise<void>
  stop(): Promise<void>
}

// ---------------------------------------------------------------------------------------------------------------
// The client side

function handshake(port: number, servername: string, ca: string | undefined, timeoutMs = 180_000) {
  return new Promise<{ ms: number; serial: string }>((resolve, reject) => {
    const started = performance.now()
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername,
      ...(ca === undefined ? { rejectUnauthorized: false } : { ca }),
    })
    const timer = setTimeout(() => socket.destroy(new Error('handshake timed out')), timeoutMs)
    socket.once('secureConnect', () => {
      const ms = performance.now() - started
      clearTimeout(timer)
      const serial = socket.getPeerCertificate().serialNumber
      socket.destroy()
      resolve({ ms, serial })
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!)
    }),
  )
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length ? sorted[Math.floor(sorted.length / 2)]! : Number.NaN
}
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : Number.NaN
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN)
  return Math.round(kb / 102.4) / 10
}

const orders = (pebble: Pebble) => pebble.logs().match(/Added order "[^"]+" to the db/g)?.length ?? 0

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited:\n${log().slice(-3000)}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, servername: 'ready.invalid', rejectUnauthorized: false })
      s.once('secureConnect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED'))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listens on ${port}:\n${log().slice(-3000)}`)
}

// ---------------------------------------------------------------------------------------------------------------
// The servers

/** Certificates for `names`, self-signed with one shared P-256 key (only memory is measured with them). */
async function fakeCertificates(names: string[]) {
  const keys = await generateKeyPair('ES256', { extractable: true })
  const out: Array<{ name: string; certificatePem: string; privateKeyPem: string }> = []
  for (const name of names) {
    const cert = await createTlsAlpn01Certificate({
      identifier: name,
      keyAuthorization: 'bench',
      keys,
      validityDays: 90,
    })
    out.push({ name, certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem! })
  }
  return { out, keys }
}

async function startWebacme(pebble: Pebble, port: number, dir: string): Promise<Server> {
  const storageDir = join(dir, 'storage')
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/ondemand/webacme-server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DIRECTORY_URL: pebble.directoryUrl,
      STORAGE_DIR: storageDir,
      PORT: String(port),
      ALLOW: `*.${DOMAIN}`,
      NODE_EXTRA_CA_CERTS: pebble.caCertPath,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  let log = ''
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c))
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`webacme server exited ${code}:\n${log}`)))
  })
  await ready
  return {
    name: 'webacme',
    port,
    pid: child.pid!,
    async preload(names) {
      const storage = new FsStorage(storageDir, { fs })
      const { out, keys } = await fakeCertificates(names)
      await pool(out, 16, async (c) => {
        await saveCertificate(storage, c.name, { certificate: c.certificatePem, certificateKey: keys })
      })
    },
    async stop() {
      child.stdin!.end('close\n')
      await new Promise((r) => child.once('exit', r))
      children.delete(child)
    },
  }
}

async function startCaddy(
  pebble: Pebble,
  port: number,
  httpPort: number,
  dir: string,
  askPort: number,
): Promise<Server> {
  const storageRoot = join(dir, 'caddy-storage')
  const caddyfile = join(dir, 'Caddyfile')
  await writeFile(
    caddyfile,
    [
      '{',
      '  admin off',
      '  skip_install_trust',
      `  http_port ${httpPort}`,
      `  https_port ${port}`,
      `  acme_ca ${pebble.directoryUrl}`,
      `  acme_ca_root ${pebble.caCertPath}`,
      `  storage file_system {`,
      `    root ${storageRoot}`,
      '  }',
      '  on_demand_tls {',
      `    ask http://127.0.0.1:${askPort}/ask`,
      '  }',
      '}',
      'https:// {',
      '  bind 127.0.0.1',
      '  tls {',
      '    on_demand',
      '  }',
      '  respond "ok"',
      '}',
      '',
    ].join('\n'),
  )
  const home = join(dir, 'home')
  await mkdir(home, { recursive: true })
  const child = spawn(systemBinary('caddy'), ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CONFIG_HOME: join(home, 'config'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let log = ''
  for (const s of [child.stdout!, child.stderr!])
    s.setEncoding('utf8').on('data', (c: string) => {
      log = (log + c).slice(-200_000)
    })
  await waitForPort(port, child, () => log)
  return {
    name: 'caddy',
    port,
    pid: child.pid!,
    async preload(names) {
      // certmagic's layout: certificates/<issuer key>/<name>/<name>.{crt,key,json}; the issuer key is the directory
      // Caddy created for Pebble when it issued the earlier names.
      const issuers = await readdir(join(storageRoot, 'certificates'))
      const issuer = issuers[0]
      if (!issuer) throw new Error('caddy has no issuer directory yet')
      const { out } = await fakeCertificates(names)
      await pool(out, 16, async (c) => {
        const d = join(storageRoot, 'certificates', issuer, c.name)
        await mkdir(d, { recursive: true })
        await writeFile(join(d, `${c.name}.crt`), c.certificatePem)
        await writeFile(join(d, `${c.name}.key`), c.privateKeyPem)
        await writeFile(
          join(d, `${c.name}.json`),
          JSON.stringify({ sans: [c.name], issuer_data: { url: '' } }),
        )
      })
    },
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      children.delete(child)
    },
  }
}

/**
 * The floor: a plain `node:tls` server with one static certificate, in a process of its own like the servers
 * measured (so that each handshake costs the same process hops).
 */
async function startPlainTls(cert: string, key: string): Promise<{ port: number; stop(): Promise<void> }> {
  const code = `
    const tls = require('node:tls')
    const s = tls.createServer({ cert: process.env.CERT, key: process.env.KEY }, (c) => c.end('ok\\n'))
    s.on('tlsClientError', () => {})
    s.listen(0, '127.0.0.1', () => process.stdout.write('READY ' + s.address().port + '\\n'))`
  const child = spawn(process.execPath, ['-e', code], {
    env: { ...process.env, CERT: cert, KEY: key },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.add(child)
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(Number(line.slice(6)))
    })
    child.once('exit', (c) => reject(new Error(`plain TLS server exited ${c}`)))
  })
  return {
    port,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      children.delete(child)
    },
  }
}

/** A certificate Pebble issued (webacme's stored one for `name`), for the plain server. */
async function storedPems(storageDir: string, name: string): Promise<{ cert: string; key: string }> {
  const record = await readCertificateRecord(new FsStorage(storageDir, { fs }), name)
  if (!record) throw new Error(`no stored certificate for ${name}`)
  return { cert: record.certificate, key: record.privateKey }
}

// ---------------------------------------------------------------------------------------------------------------

interface Row {
  server: string
  firstMs: number[]
  warmMs: number[]
  /** The plain node:tls server's handshakes, alternating with `warmMs`. */
  plainMs: number[]
  burst: { ok: number; failed: number; wallMs: number; errors: Record<string, number> }
  refused: { orders: number; handshakesFailed: number; wallMs: number; asks?: number }
  memory: { rssBeforeMb: number; rssAfterMb: number; loaded: number; failed: number }
}

async function measure(
  server: Server,
  pebble: Pebble,
  root: string,
  tag: string,
  plainPort: number,
  asks?: () => number,
): Promise<Row> {
  const name = (i: number | string) => `${tag}${i}.${DOMAIN}`
  const firstMs: number[] = []
  for (let i = 0; i < FIRST; i++) {
    firstMs.push((await handshake(server.port, name(`first${i}`), root)).ms)
  }
  console.error(`[${server.name}] first handshake: ${firstMs.map((m) => m.toFixed(0)).join(', ')} ms`)

  // Warm handshakes alternate with the plain server's, so that both see the same load on this shared machine.
  for (let i = 0; i < 20; i++) {
    await handshake(server.port, name('first0'), root)
    await handshake(plainPort, PLAIN_NAME, root)
  }
  const warmMs: number[] = []
  const plainMs: number[] = []
  for (let i = 0; i < WARM; i++) {
    warmMs.push((await handshake(server.port, name('first0'), root)).ms)
    plainMs.push((await handshake(plainPort, PLAIN_NAME, root)).ms)
  }
  console.error(
    `[${server.name}] warm: median ${median(warmMs).toFixed(2)} ms (plain node:tls alongside: ${median(plainMs).toFixed(2)} ms)`,
  )

  const errors: Record<string, number> = {}
  const started = performance.now()
  const burst = await Promise.allSettled(
    Array.from({ length: BURST }, (_, i) => handshake(server.port, name(`burst${i}`), root)),
  )
  const wallMs = performance.now() - started
  for (const r of burst) {
    if (r.status === 'rejected') {
      const key = String((r.reason as NodeJS.ErrnoException).code ?? (r.reason as Error).message).slice(0, 80)
      errors[key] = (errors[key] ?? 0) + 1
    }
  }
  const ok = burst.filter((r) => r.status === 'fulfilled').length
  console.error(`[${server.name}] ${BURST} at once: ${ok} ok in ${(wallMs / 1000).toFixed(1)} s`)

  const ordersBefore = orders(pebble)
  const asksBefore = asks?.()
  let handshakesFailed = 0
  const refusedStarted = performance.now()
  await pool(
    Array.from({ length: REFUSED }, (_, i) => `r${i}-${tag}.refused.test`),
    50,
    async (n) => {
      await handshake(server.port, n, root, 30_000).catch(() => handshakesFailed++)
    },
  )
  const refusedWall = performance.now() - refusedStarted
  // Orders are placed asynchronously: give a late one time to show in Pebble's log before counting.
  await new Promise((r) => setTimeout(r, 2000))
  const refused = {
    orders: orders(pebble) - ordersBefore,
    handshakesFailed,
    wallMs: refusedWall,
    ...(asks && asksBefore !== undefined && { asks: asks() - asksBefore }),
  }
  console.error(`[${server.name}] ${REFUSED} refused: ${refused.orders} orders`)

  const rssBeforeMb = await rssMb(server.pid)
  const cachedNames = Array.from({ length: CACHED }, (_, i) => name(`m${i}`))
  await server.preload(cachedNames)
  let loaded = 0
  let failed = 0
  const ordersBeforeMemory = orders(pebble)
  await pool(cachedNames, 50, async (n) => {
    await handshake(server.port, n, undefined, 60_000).then(
      () => loaded++,
      () => failed++,
    )
  })
  const rssAfterMb = await rssMb(server.pid)
  const memoryOrders = orders(pebble) - ordersBeforeMemory
  console.error(
    `[${server.name}] ${CACHED} cached: RSS ${rssBeforeMb} -> ${rssAfterMb} MB (${loaded} loaded, ${failed} failed, ${memoryOrders} orders)`,
  )
  return {
    server: server.name,
    firstMs,
    warmMs,
    plainMs,
    burst: { ok, failed: BURST - ok, wallMs, errors },
    refused,
    memory: { rssBeforeMb, rssAfterMb, loaded, failed },
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'webacme-bench-ondemand-'))
  const pebble = await startPebble({ http01: 'self', nonceRejectPercent: 0 })
  const root = await pebble.roots(0)
  let askCount = 0
  const ask = createHttpServer((req, res) => {
    askCount++
    const domain = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? ''
    const allowed = domain.endsWith(`.${DOMAIN}`) && domain.split('.').length === DOMAIN.split('.').length + 1
    res.writeHead(allowed ? 200 : 403).end()
  })
  await new Promise<void>((resolve) => ask.listen(0, '127.0.0.1', resolve))
  const askPort = (ask.address() as AddressInfo).port
  const rows: Row[] = []
  try {
    const webacmeDir = join(dir, 'webacme')
    await mkdir(webacmeDir)
    const webacme = await startWebacme(pebble, pebble.tlsPort, webacmeDir)
    let plain: Awaited<ReturnType<typeof startPlainTls>> | undefined
    try {
      // The plain server's certificate: one Pebble issued for PLAIN_NAME (also the account's creation, unmeasured).
      await handshake(webacme.port, PLAIN_NAME, root)
      const pems = await storedPems(join(webacmeDir, 'storage'), PLAIN_NAME)
      plain = await startPlainTls(pems.cert, pems.key)
      rows.push(await measure(webacme, pebble, root, 'w', plain.port))
    } finally {
      await webacme.stop()
    }

    const caddyDir = join(dir, 'caddy')
    await mkdir(caddyDir)
    const caddy = await startCaddy(pebble, pebble.tlsPort, pebble.httpPort, caddyDir, askPort)
    try {
      // Caddy's account, created at its first order, is not measured either.
      await handshake(caddy.port, `warmup.${DOMAIN}`, root)
      rows.push(await measure(caddy, pebble, root, 'c', plain.port, () => askCount))
    } finally {
      await caddy.stop()
      await plain.stop()
    }
  } finally {
    ask.close()
    await pebble.stop()
    await rm(dir, { recursive: true, force: true })
  }
  await report(rows)
}

async function report(rows: Row[]): Promise<void> {
  const caddyVersion = await new Promise<string>((resolve) => {
    const c = spawn(systemBinary('caddy'), ['version'])
    let out = ''
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    c.once('close', () => resolve(out.trim().split(' ')[0] ?? 'unknown'))
  })
  const meta = { date: new Date().toISOString(), ...sourceState(), ...machine(), caddy: caddyVersion }
  const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')
  const body = rows.map((r) => [
    r.server,
    fmt(median(r.firstMs), 0),
    `${fmt(median(r.warmMs), 2)} (p90 ${fmt(percentile(r.warmMs, 0.9), 2)})`,
    `${fmt(median(r.plainMs), 2)} (${median(r.warmMs) - median(r.plainMs) >= 0 ? '+' : ''}${fmt(median(r.warmMs) - median(r.plainMs), 2)})`,
    `${r.burst.ok}/${BURST} in ${fmt(r.burst.wallMs / 1000)} s`,
    `${r.refused.orders}${r.refused.asks !== undefined ? ` (${r.refused.asks} asks)` : ''}`,
    `${r.memory.rssAfterMb} MB: +${fmt(r.memory.rssAfterMb - r.memory.rssBeforeMb)} MB, ${fmt(((r.memory.rssAfterMb - r.memory.rssBeforeMb) * 1024) / CACHED)} KB/name (${r.memory.loaded}/${CACHED} loaded)`,
  ])
  const md = [
    '# On-demand TLS: webacme vs Caddy',
    '',
    `${runContext(meta)} · Caddy ${caddyVersion}`,
    '',
    ...markdownTable(
      [
        'server',
        `first handshake, new name (ms, median of ${FIRST})`,
        `warm handshake (ms, median of ${WARM})`,
        'plain node:tls alongside (ms; difference)',
        `${BURST} new names at once`,
        `orders for ${REFUSED} refused names`,
        `RSS with ${CACHED.toLocaleString('en')} names held`,
      ],
      body,
    ),
    '',
    "Same Pebble (nonce rejection off, no VA sleep), same client (`node:tls`, chain verified against Pebble's root, a",
    'new connection per handshake), tls-alpn-01 answered on the HTTPS port by both. Warm handshakes alternate with a',
    'plain `node:tls` server (own process, static Pebble certificate), which is the floor. Caddy asks an HTTP `ask` endpoint',
    'that allows one label under bench.test. The memory figure loads 10,000 self-signed certificates written into each',
    "server's own storage layout, one handshake per name (no orders).",
    '',
    ...rows
      .filter((r) => Object.keys(r.burst.errors).length)
      .map(
        (r) =>
          `${r.server}: failed handshakes of the ${BURST} at once: ${Object.entries(r.burst.errors)
            .map(([k, v]) => `${v}× ${k}`)
            .join(', ')}`,
      ),
    '',
  ].join('\n')
  const out = join(ROOT, 'bench/results')
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'ondemand.json'), `${JSON.stringify({ meta, rows }, null, 2)}\n`)
  await writeFile(join(out, 'ondemand.md'), md)
  process.stdout.write(md)
}

await main()
process.exit(0)
