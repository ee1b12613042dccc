/**
 * Command-line parsing on `node:util` `parseArgs` (present in Node, Deno and Bun), with option tables that also
 * write the usage text. Every mistake becomes a {@link UsageError}: the command prints its usage and exits 2.
 */
import { parseArgs } from 'node:util'
import { UsageError } from './exit-codes.ts'

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
  /** Placeholder of the value in the usage text (`URL`, `N`, `FILE`). */
  value?: string
  help: string
}

export type OptionSpecs = Record<string, OptionSpec>

export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  json: { type: 'boolean', help: 'print one JSON object on stdout (also on failure)' },
  verbose: {
    type: 'boolean',
    short: 'v',
    help: 'log every HTTP request on stderr (method, URL, status, time, attempt)',
  },
  quiet: { type: 'boolean', short: 'q', help: 'no progress lines on stderr' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
}

/** Parses `argv` against `specs` (plus the global options). Unknown flags and missing values throw UsageError. */
export function parse(
  argv: string[],
  specs: OptionSpecs,
  positionals: { min: number; max: number } = { min: 0, max: 0 },
): { values: Values; positionals: string[] } {
  const all = { ...specs, ...GLOBAL_OPTIONS }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {}
  for (const [name, spec] of Object.entries(all)) {
    options[name] = {
      type: spec.type,
      // Every string option is collected as a list, so that a single-valued one given twice is caught below
      // (parseArgs would keep the last value silently).
      ...((spec.multiple || spec.type === 'string') && { multiple: true }),
      ...(spec.short && { short: spec.short }),
    }
  }
  let parsed: { values: Values; positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as typeof parsed
  } catch (err) {
    throw new UsageError(cleanParseMessage(err))
  }
  if (parsed.values.help) return parsed
  for (const [name, spec] of Object.entries(all)) {
    const value = parsed.values[name]
    if (spec.multiple || spec.type !== 'string' || !Array.isArray(value)) continue
    if (value.length > 1) {
      throw new UsageError(
        `--${name} was given ${value.length} times (${value.map((v) => JSON.stringify(v)).join(', ')}); it takes one value`,
      )
    }
    parsed.values[name] = value[0] as string | undefined
  }
  // parseArgs refuses `--domain --agree-tos` itself ("ambiguous"), but takes `--domain=` as an empty value.
  for (const [name, spec] of Object.entries(all)) {
    if (spec.type !== 'string') continue
    const value = parsed.values[name]
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      if (v === '') throw new UsageError(`--${name} needs a value`)
    }
  }
  if (parsed.positionals.length < positionals.min) {
    throw new UsageError(positionals.min === 1 ? 'missing argument' : `needs ${positionals.min} arguments`)
  }
  if (parsed.positionals.length > positionals.max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])}`)
  }
  return parsed
}

function cleanParseMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  // Node, Deno and Bun word these alike: "Unknown option '--foo'. To specify a positional argument ...",
  // "Option '--domain' argument is ambiguous.\nDid you forget ...": the first sentence says it.
  const first = message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '')
  return /ambiguous/.test(first) ? `${first.replace(/ argument is ambiguous\.?$/, '')} needs a value` : first
}

/** The usage text of a command from its option table. */
export function usageText(synopsis: string, specs: OptionSpecs, description?: string): string {
  const all = { ...specs, ...GLOBAL_OPTIONS }
  const rows = Object.entries(all).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`
    return [flag, `${spec.help}${spec.multiple ? ' (repeatable)' : ''}`] as const
  })
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2
  const lines = rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`)
  return `usage: ${synopsis}\n${description ? `\n${description}\n` : ''}\noptions:\n${lines.join('\n')}`
}

/** A string option's value (the last one when repeated). */
export function str(values: Values, name: string): string | undefined {
  const v = values[name]
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined
  return typeof v === 'string' ? v : undefined
}

/** A repeatable string option's values. */
export function list(values: Values, name: string): string[] {
  const v = values[name]
  if (Array.isArray(v)) return v.map(String)
  return typeof v === 'string' ? [v] : []
}

export function flag(values: Values, name: string): boolean {
  return values[name] === true
}

/** A required string option. */
export function required(values: Values, name: string, why = ''): string {
  const v = str(values, name)
  if (v === undefined) throw new UsageError(`--${name} is required${why ? ` ${why}` : ''}`)
  return v
}

/** An integer option within [min, max]. */
export function int(values: Values, name: string, min: number, max: number): number | undefined {
  const v = str(values, name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`)
  }
  return n
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** A duration option: `90s`, `15m`, `1h`, `30d` (a bare number is seconds). Returns milliseconds. */
export function duration(values: Values, name: string): number | undefined {
  const v = str(values, name)
  if (v === undefined) return undefined
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v)
  if (!m)
    throw new UsageError(`--${name} must be a duration such as 90s, 15m, 1h or 30d, got ${JSON.stringify(v)}`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!)
}

/** Refuses options that make no sense together. */
export function exclusive(values: Values, ...names: string[]): void {
  const given = names.filter((n) => values[n] !== undefined)
  if (given.length > 1)
    throw new UsageError(`${given.map((n) => `--${n}`).join(' and ')} cannot be used together`)
}
