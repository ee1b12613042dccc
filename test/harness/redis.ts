// Starts a real redis-server (Debian) on a free 127.0.0.1 port, in its own temp dir, with the append-only file on
// (`appendonly yes`, `appendfsync always`): Redis writes and fsyncs the AOF before it replies, so a write that was
// acknowledged survives `kill -9` of the server. (`everysec` does not: while a background fsync is slow, Redis
// postpones the AOF write by up to 2 s but still replies, and a kill -9 then loses those writes; the crash test
// showed it on this loaded machine.)
// `kill()` is that crash, `restart()` starts a new server on the same port and directory, which replays the AOF.
// The process is killed by stop(), on exit and on SIGINT/SIGTERM/SIGHUP (test/harness/children.ts).

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { childRegistry } from './children.ts'
import { OutputTail } from './output-tail.ts'
import { freePort, listenerOwnedBy } from './ports.ts'
import { systemBinary } from './system.ts'

const HOST = '127.0.0.1'
const ATTEMPTS = 3

export interface RedisServerOptions {
  /** Keep the append-only file (default true). Without it, a restart starts empty. */
  appendOnly?: boolean
  /** `appendfsync` (default `always`). */
  appendFsync?: 'always' | 'everysec' | 'no'
  /** How long the server may take to answer PING (default 15 s). */
  startTimeoutMs?: number
}

export interface RedisServer {
  readonly host: string
  readonly port: number
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** The data directory (AOF, dump), kept across `kill()` and `restart()`. */
  readonly dir: string
  /** The pid of the running server (changes on restart). */
  pid(): number
  logs(): string
  /** SIGKILL the server (no shutdown save), resolving when it is gone. */
  kill(): Promise<void>
  /** Starts redis-server again on the same port and directory (after `kill()`), resolving when it answers. */
  restart(): Promise<void>
  stop(): Promise<void>
}

const { children, dirs } = childRegistry('redis')

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null || child.pid === undefined

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (!exited(child)) {
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await done
    clearTimeout(timer)
  }
  children.delete(child)
}

/** PING over a raw socket (RESP, inline command): true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port })
    let answer = ''
    const finish = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => finish(false))
    socket.once('error', () => finish(false))
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8')
      if (answer.includes('\r\n')) finish(answer.startsWith('+PONG'))
    })
    socket.once('connect', () => socket.write('PING\r\n'))
  })
}

async function spawnRedis(
  dir: string,
  port: number,
  appendOnly: boolean,
  appendFsync: string,
  timeoutMs: number,
): Promise<{ child: ChildProcess; log: OutputTail; error?: string }> {
  const conf = join(dir, 'redis.conf')
  await writeFile(
    conf,
    [
      `bind ${HOST}`,
      `port ${port}`,
      `dir ${dir}`,
      'protected-mode yes',
      'daemonize no',
      'save ""',
      `appendonly ${appendOnly ? 'yes' : 'no'}`,
      `appendfsync ${appendFsync}`,
      'loglevel notice',
      'logfile ""',
      '',
    ].join('\n'),
  )
  const log = new OutputTail(64 * 1024)
  const child = spawn(systemBinary('redis-server'), [conf], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => log.append(chunk))
  }
  child.once('error', (err) => log.append(`spawn redis-server failed: ${err.message}\n`))
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && !exited(child)) {
    // Loading the AOF, Redis answers -LOADING; ping() is true only on +PONG.
    if ((await ping(port)) && (await listenerOwnedBy(child.pid!, port)) !== false) return { child, log }
    await new Promise((r) => setTimeout(r, 50))
  }
  await terminate(child, 'SIGKILL')
  return { child, log, error: child.pid === undefined ? 'not installed' : 'no PONG' }
}

/** Starts redis-server on a free port. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'webacme-redis-'))
  dirs.add(dir)
  const appendOnly = options.appendOnly ?? true
  const fsync = options.appendFsync ?? 'always'
  const timeout = options.startTimeoutMs ?? 15_000
  const failures: string[] = []
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const port = await freePort()
    let started = await spawnRedis(dir, port, appendOnly, fsync, timeout)
    if (started.error === undefined) {
      let stopped: Promise<void> | undefined
      return {
        host: HOST,
        port,
        url: `redis://${HOST}:${port}`,
        dir,
        pid: () => started.child.pid!,
        logs: () => started.log.toString(),
        kill: () => terminate(started.child, 'SIGKILL'),
        async restart() {
          await terminate(started.child, 'SIGKILL')
          const again = await spawnRedis(dir, port, appendOnly, fsync, timeout)
          if (again.error !== undefined)
            throw new Error(`redis-server did not restart on port ${port}:\n${again.log.tail()}`)
          started = again
        },
        stop() {
          stopped ??= (async () => {
            await terminate(started.child, 'SIGTERM')
            await rm(dir, { recursive: true, force: true })
            dirs.delete(dir)
          })()
          return stopped
        },
      }
    }
    if (started.error === 'not installed') {
      failures.push('redis-server is not installed: run `node scripts/setup.mjs redis`')
      break
    }
    failures.push(`attempt ${attempt} (port ${port}): ${started.error}\n${started.log.tail(20)}`)
  }
  await rm(dir, { recursive: true, force: true })
  dirs.delete(dir)
  throw new Error(`could not start redis-server:\n${failures.join('\n')}`)
}
