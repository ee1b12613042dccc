/**
 * Child processes and temp dirs of the harnesses (Pebble, PowerDNS, dnsdist), killed and removed when the test
 * process ends, even on a signal. Kept on globalThis under a name, so that re-evaluating a harness module (vitest
 * isolates test files) registers the process hooks once per name.
 */
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'

export interface ChildRegistry {
  children: Set<ChildProcess>
  /** Temp dirs of running instances, removed with the processes. */
  dirs: Set<string>
}

/**
 * The registry called `name`, created (and its exit and signal hooks installed) on first use. `onSignal` runs after
 * the processes are killed when a signal ends the test process.
 */
export function childRegistry(name: string, onSignal?: () => void): ChildRegistry {
  const key = Symbol.for(`webacme.test.harness.${name}`)
  const g = globalThis as { [key: symbol]: ChildRegistry | undefined }
  const existing = g[key]
  if (existing) return existing
  const reg: ChildRegistry = { children: new Set(), dirs: new Set() }
  g[key] = reg
  // Synchronous on purpose: 'exit' and signal handlers cannot await.
  const killAll = () => {
    for (const child of reg.children) {
      try {
        child.kill('SIGKILL')
      } catch {}
    }
    reg.children.clear()
    for (const dir of reg.dirs) rmSync(dir, { recursive: true, force: true })
    reg.dirs.clear()
  }
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      killAll()
      onSignal?.()
      // Re-raise so the process still ends the way it would have without this hook.
      process.off(signal, handler)
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.on(signal, handler)
  }
  return reg
}
