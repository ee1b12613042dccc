// Starts dnsdist (Debian) as an RFC 8484 DNS-over-HTTP front for any DNS server on 127.0.0.1, typically
// pebble-challtestsrv's DNS port, so that a browser page can look up the TXT records Pebble will see. With `cors`,
// every DoH response carries `Access-Control-Allow-Origin: *` (dnsdist's `customResponseHeaders`), which is what a
// page needs to read it. The process is killed by stop(), on exit and on SIGINT/SIGTERM/SIGHUP.

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { childRegistry } from './children.ts'
import { freePorts, listenerOwnedBy } from './ports.ts'
import { systemBinary } from './system.ts'

const HOST = '127.0.0.1'
const ATTEMPTS = 3

export interface DohFrontOptions {
  /** The DNS server to forward to, `127.0.0.1:PORT`. */
  upstream: string
  /** Send `Access-Control-Allow-Origin: *` with every answer (default true). */
  cors?: boolean
  /** How long one attempt may take to answer (default 15 s). */
  startTimeoutMs?: number
}

export interface DohFront {
  /** `http://127.0.0.1:PORT/dns-query` (RFC 8484 over plain HTTP). */
  readonly url: string
  readonly pid: number
  logs(): string
  stop(): Promise<void>
}

const { children, dirs } = childRegistry('dnsdist')

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null || child.pid === undefined

async function terminate(child: ChildProcess): Promise<void> {
  if (!exited(child)) {
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await done
    clearTimeout(timer)
  }
  children.delete(child)
}

/** A DNS query for `ready.invalid TXT` (RFC 1035 §4.1), base64url for `?dns=` (RFC 8484 §4.1). */
function probeQuery(): string {
  const labels = ['ready', 'invalid'].map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  const header = Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 16, 0, 1])]).toString('base64url')
}

/** Starts dnsdist in front of `options.upstream`. */
export async function startDohFront(options: DohFrontOptions): Promise<DohFront> {
  const dir = await mkdtemp(join(tmpdir(), 'webacme-dnsdist-'))
  dirs.add(dir)
  const headers =
    options.cors === false ? '' : `, {customResponseHeaders={["access-control-allow-origin"]="*"}}`
  const failures: string[] = []
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const [dnsPort, dohPort] = (await freePorts(2)) as [number, number]
    const conf = join(dir, 'dnsdist.conf')
    await writeFile(
      conf,
      [
        "setSecurityPollSuffix('')",
        `setLocal('${HOST}:${dnsPort}')`,
        `newServer({address='${options.upstream}'})`,
        // No certificate: RFC 8484 messages over plain HTTP, enough on 127.0.0.1 (a secure context).
        `addDOHLocal('${HOST}:${dohPort}', nil, nil, '/dns-query'${headers})`,
        '',
      ].join('\n'),
    )
    const log: string[] = []
    const child = spawn(systemBinary('dnsdist'), ['--supervised', '--disable-syslog', '-C', conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.add(child)
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8')
      stream?.on('data', (chunk: string) => log.push(...chunk.split('\n').filter(Boolean)))
    }
    child.once('error', (err) => log.push(`spawn dnsdist failed: ${err.message}`))
    const url = `http://${HOST}:${dohPort}/dns-query`
    const deadline = Date.now() + (options.startTimeoutMs ?? 15_000)
    let last = 'no answer yet'
    let ready = false
    while (Date.now() < deadline && !exited(child)) {
      try {
        // Until its first health check marks the upstream up, dnsdist refuses queries (403).
        const res = await fetch(`${url}?dns=${probeQuery()}`, {
          headers: { accept: 'application/dns-message' },
          signal: AbortSignal.timeout(1000),
        })
        await res.arrayBuffer()
        if (res.status !== 200) throw new Error(`DoH answered ${res.status}`)
        if ((await listenerOwnedBy(child.pid!, dohPort)) === false)
          throw new Error(`port ${dohPort} is not dnsdist's`)
        ready = true
        break
      } catch (err) {
        last = err instanceof Error ? err.message : String(err)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    if (ready) {
      let stopped: Promise<void> | undefined
      return {
        url,
        pid: child.pid!,
        logs: () => log.join('\n'),
        stop() {
          stopped ??= (async () => {
            await terminate(child)
            await rm(dir, { recursive: true, force: true })
            dirs.delete(dir)
          })()
          return stopped
        },
      }
    }
    await terminate(child)
    if (child.pid === undefined) {
      failures.push('dnsdist is not installed: run `node scripts/setup.mjs dnsdist`')
      break
    }
    failures.push(`attempt ${attempt}: ${last}\n${log.slice(-20).join('\n')}`)
  }
  await rm(dir, { recursive: true, force: true })
  dirs.delete(dir)
  throw new Error(`could not start dnsdist:\n${failures.join('\n')}`)
}
