// What the harnesses that run a DNS server (authoritative.ts for BIND and Knot, powerdns.ts) share
// to start and stop it: spawning it with its output kept and the process registered in children.ts, stopping it
// (SIGTERM, then SIGKILL after a grace period), and starting again on new ports when an attempt lost a port it had
// chosen to another process (a race no free-port check can close).

import { type ChildProcess, spawn } from 'node:child_process'
import type { ChildRegistry } from './children.ts'

/** True once `child` has exited, or when it never started (`pid` undefined: the binary could not be run). */
export const exited = (child: ChildProcess): boolean =>
  child.exitCode !== null || child.signalCode !== null || child.pid === undefined

/**
 * Stops `child` (`signal`, SIGKILL after `graceMs`), waits for its exit and takes it out of `registry`. Nothing to do
 * for a child that is gone already.
 */
export async function terminate(
  child: ChildProcess | undefined,
  {
    registry,
    signal = 'SIGTERM',
    graceMs = 3000,
  }: { registry?: ChildRegistry; signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  if (!child) return
  if (!exited(child)) {
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await done
    clearTimeout(timer)
  }
  registry?.children.delete(child)
}

/**
 * Spawns `binary` with its stdout and stderr given to `output` as they come, registered in `registry` until it exits.
 * A binary that cannot be run leaves `pid` undefined and says so through `output`.
 */
export function spawnDaemon(
  registry: ChildRegistry,
  binary: string,
  args: string[],
  output: (text: string) => void,
): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  registry.children.add(child)
  child.once('exit', () => registry.children.delete(child))
  child.once('error', (err) => output(`spawn ${binary} failed: ${err.message}\n`))
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => output(chunk))
  }
  return child
}

/** A start that failed; `retryable` when another attempt (on other ports) may succeed. */
export class StartError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Runs `attempt` up to `attempts` times, again only after a retryable {@link StartError}. Each attempt pushes the
 * processes it spawns onto `children`; a failed attempt's are stopped before the next one. When none succeeds the
 * error names every attempt with the output tail `tail()` gave after it.
 */
export async function startWithRetries<T>(
  what: string,
  attempt: (children: ChildProcess[], n: number) => Promise<T>,
  { attempts = 3, tail, registry }: { attempts?: number; tail: () => string; registry?: ChildRegistry },
): Promise<T> {
  const failures: string[] = []
  for (let n = 1; n <= attempts; n++) {
    const children: ChildProcess[] = []
    try {
      return await attempt(children, n)
    } catch (err) {
      await Promise.all(children.map((child) => terminate(child, registry ? { registry } : {})))
      failures.push(`attempt ${n}: ${err instanceof Error ? err.message : err}\n${tail()}`)
      if (!(err instanceof StartError && err.retryable)) break
    }
  }
  throw new Error(`could not start ${what}:\n${failures.join('\n')}`)
}
