/**
 * V8 CPU profiles of a workerd isolate over its inspector (Chrome DevTools Protocol on a WebSocket), and their
 * summary: CPU time (samples that are not idle), by source file (the bundle mapped back through its source map) and
 * by function. Node 20 needs `--experimental-websocket` for the global WebSocket.
 */
import { readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'

export interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
export interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A DevTools Protocol session on one inspector target (`ws://host:port/<target id>`). */
export async function inspectorSession(url: string): Promise<{
  send<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T>
  close(): void
}> {
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true })
    socket.addEventListener('error', () => reject(new Error(`cannot open ${url}`)), { once: true })
  })
  let id = 0
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number
      result?: unknown
      error?: { message: string }
    }
    if (message.id === undefined) return
    const call = waiting.get(message.id)
    waiting.delete(message.id)
    if (message.error) call?.reject(new Error(message.error.message))
    else call?.resolve(message.result)
  })
  return {
    send<T>(method: string, params: Record<string, unknown> = {}) {
      const callId = ++id
      socket.send(JSON.stringify({ id: callId, method, params }))
      return new Promise<T>((resolve, reject) =>
        waiting.set(callId, { resolve: resolve as (v: unknown) => void, reject }),
      )
    },
    close: () => socket.close(),
  }
}

/** CPU time of a profile, and where it went. */
export interface CpuSummary {
  /** Sampled time that was not idle, ms. */
  cpuMs: number
  /** ms by source (`src/...`, `service/...`, `(native)` for built-ins such as WebCrypto, `(garbage collector)`). */
  bySource: Array<[string, number]>
  /** ms by function. */
  byFunction: Array<[string, number]>
  /**
   * ms by the part of the service that spent it: each sample is charged to the nearest frame of the bundle on its
   * stack (so a native call, WebCrypto or a binding, counts for the code that made it), grouped by `component`.
   */
  byComponent: Array<[string, number]>
}

/**
 * Sums a profile's samples; frames of `bundle` (its URL ends with the bundle's file name) are mapped through
 * `bundle.map`. `component` names the part of the program a frame (its source file and function) belongs to.
 */
export function summariseProfile(
  profile: CpuProfile,
  bundle: string,
  component: (source: string, functionName: string) => string,
): CpuSummary {
  const map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, 'utf8')))
  const bundleName = bundle.slice(bundle.lastIndexOf('/') + 1)
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const sourceOf = (frame: CallFrame): string => {
    let source: string
    if (frame.url.endsWith(bundleName)) {
      const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string }
      source = (entry.originalSource ?? 'service bundle').replace(/^.*?\/(src|service|node_modules)\//, '$1/')
    } else if (frame.url === '') {
      source = frame.functionName.startsWith('(') ? frame.functionName : '(native)'
    } else {
      source = frame.url
    }
    return source.replace(/^node_modules\/((?:@[^/]+\/)?[^/]+)\/.*$/, '$1 (package)')
  }
  const bySource = new Map<string, number>()
  const byFunction = new Map<string, number>()
  const byComponent = new Map<string, number>()
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us)
  let cpuUs = 0
  profile.samples.forEach((nodeId, i) => {
    const frame = byId.get(nodeId)!
    const us = profile.timeDeltas[i] ?? 0
    if (frame.functionName === '(idle)') return
    cpuUs += us
    const source = sourceOf(frame)
    add(bySource, source, us)
    add(byFunction, `${frame.functionName || '(anonymous)'} ${source}`, us)
    let owner: CallFrame | undefined
    for (let id: number | undefined = nodeId; id !== undefined && owner === undefined; id = parent.get(id)) {
      const f = byId.get(id)!
      if (f.url.endsWith(bundleName)) owner = f
    }
    add(
      byComponent,
      owner === undefined
        ? `(outside the Worker's code: ${source})`
        : component(sourceOf(owner), owner.functionName),
      us,
    )
  })
  const sorted = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000] as [string, number])
  return {
    cpuMs: cpuUs / 1000,
    bySource: sorted(bySource),
    byFunction: sorted(byFunction),
    byComponent: sorted(byComponent),
  }
}
