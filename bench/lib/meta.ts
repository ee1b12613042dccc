// What a bench run records about where it ran: the commit (and uncommitted src/ files) and Pebble's version.

import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { ROOT } from './build.ts'

export function pebbleVersion(): string {
  try {
    // dpkg-query's own format syntax, not a template literal.
    const format = ['$', '{Version}'].join('')
    return execFileSync('dpkg-query', ['-W', '-f', format, 'pebble'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

/** The commit the bench ran on and the files of src/ that differed from it (read-only git calls). */
export function sourceState(): { commit: string; uncommittedSrc: string[] } {
  const git = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' })
  try {
    // Porcelain lines are `XY path`: the status columns may be blank, so the lines are not trimmed.
    const changed = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean)
    return {
      commit: git(['rev-parse', '--short', 'HEAD']).trim(),
      uncommittedSrc: changed.map((l) => l.slice(3)),
    }
  } catch {
    return { commit: 'unknown', uncommittedSrc: [] }
  }
}

/** Machine and versions, for the `meta` of every result file. */
export function machine(): Record<string, string | number> {
  return {
    node: process.versions.node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    pebble: pebbleVersion(),
  }
}

/**
 * The opening of a result file's context line: `date · webacme at commit (and what was uncommitted) · Node · CPUs ·
 * Pebble version`; each bench adds its own settings after it.
 */
export function runContext(meta: Record<string, unknown>): string {
  const dirty = meta.uncommittedSrc as string[]
  return (
    `${meta.date} · webacme at ${meta.commit}${dirty.length ? ` with uncommitted changes to ${dirty.join(', ')}` : ''} · ` +
    `Node ${meta.node} · ${meta.cpus}× ${meta.cpuModel} · Pebble ${meta.pebble}`
  )
}

/** A Markdown table: the first column left-aligned, the others (figures) right-aligned. */
export function markdownTable(header: string[], body: Array<Array<string | number>>): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((row) => `| ${row.join(' | ')} |`),
  ]
}
