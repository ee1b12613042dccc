/**
 * Summarises a V8 CPU profile from `tsx bench/run.ts --cpu-prof` (bench/.tmp/prof/*.cpuprofile): self time by
 * function and by source (bundled webacme code is mapped back to src/ files through the worker's source map),
 * and the inclusive time of the frames whose name matches --focus.
 *
 *   tsx bench/profile.ts [--top 30] [--focus REGEX] FILE.cpuprofile...
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { CallFrame, CpuProfile } from './lib/cpu-profile.ts'

/** Maps bundle positions to original sources with the `.map` next to the bundle (VLQ decoding, no deps). */
class SourceMapLookup {
  #lines: Array<Array<[number, number]>> = []
  #sources: string[] = []

  constructor(mapPath: string) {
    const map = JSON.parse(readFileSync(mapPath, 'utf8')) as { sources: string[]; mappings: string }
    this.#sources = map.sources
    let source = 0
    for (const line of map.mappings.split(';')) {
      const segments: Array<[number, number]> = []
      let column = 0
      for (const segment of line.split(',')) {
        if (!segment) continue
        const values = decodeVlq(segment)
        column += values[0]!
        if (values.length > 1) source += values[1]!
        segments.push([column, source])
      }
      this.#lines.push(segments)
    }
  }

  /** The original source of a 0-based bundle position. */
  source(line: number, column: number): string | undefined {
    const segments = this.#lines[line]
    if (!segments) return undefined
    let found: number | undefined
    for (const [c, s] of segments) {
      if (c > column) break
      found = s
    }
    return found === undefined ? undefined : this.#sources[found]
  }
}

const VLQ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
function decodeVlq(segment: string): number[] {
  const values: number[] = []
  let value = 0
  let shift = 0
  for (const ch of segment) {
    const digit = VLQ.indexOf(ch)
    value += (digit & 31) << shift
    if (digit & 32) {
      shift += 5
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1)
      value = 0
      shift = 0
    }
  }
  return values
}

function where(frame: CallFrame, maps: Map<string, SourceMapLookup | null>): string {
  const { url } = frame
  if (!url) return frame.functionName ? '(native)' : '(vm)'
  if (url.endsWith('.mjs') && url.includes('/bench/.tmp/build/')) {
    if (!maps.has(url)) {
      try {
        maps.set(url, new SourceMapLookup(`${new URL(url).pathname}.map`))
      } catch {
        maps.set(url, null)
      }
    }
    const original = maps.get(url)?.source(frame.lineNumber, frame.columnNumber)
    if (original) return original.replace(/^(\.\.\/)+/, '')
  }
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  if (url.startsWith('node:')) return url
  return url.replace(/^file:\/\//, '')
}

function summarise(path: string, top: number, focus: RegExp | undefined): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  const maps = new Map<string, SourceMapLookup | null>()
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0)
  const idle = [...selfUs].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)')
  const idleUs = idle.reduce((a, [, us]) => a + us, 0)
  const busy = total - idleUs

  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  const inclusive = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!
    if (node.callFrame.functionName === '(idle)') continue
    const file = where(node.callFrame, maps)
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${file}:${node.callFrame.lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
    const group = file.replace(/^(@[^/]+\/[^/]+|[^/@][^/]*)\/.*$/, (m, pkg: string) =>
      m.startsWith('src/') || m.startsWith('bench/') ? m : pkg,
    )
    byFile.set(group, (byFile.get(group) ?? 0) + us)
    if (focus) {
      // Inclusive time of focused frames: walk up once per distinct matching name.
      const seen = new Set<string>()
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame
        const label = `${f.functionName || '(anonymous)'} ${where(f, maps)}`
        if (focus.test(label) && !seen.has(label)) {
          seen.add(label)
          inclusive.set(label, (inclusive.get(label) ?? 0) + us)
        }
      }
    }
  }
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(8)
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`
  const print = (title: string, m: Map<string, number>) => {
    console.log(`\n${title}`)
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${ms(us)} ms ${pct(us)}  ${k}`)
    }
  }
  console.log(`${path}\nbusy ${ms(busy).trim()} ms, idle ${ms(idleUs).trim()} ms (sampled)`)
  print('self time by source', byFile)
  print('self time by function', byFunction)
  if (focus) print(`inclusive time of frames matching ${focus}`, inclusive)
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string' }, focus: { type: 'string' } },
})
if (positionals.length === 0) {
  console.error('usage: tsx bench/profile.ts [--top 30] [--focus REGEX] FILE.cpuprofile...')
  process.exit(2)
}
for (const path of positionals) {
  summarise(path, Number(values.top ?? 30), values.focus ? new RegExp(values.focus) : undefined)
}
