// Bundles the bench workers with esbuild (the library from src/, dependencies left to node_modules) so they run
// on plain node without a TypeScript loader. Shared by bench/run.ts and bench/faults.ts.

import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { WorkerResult } from './shared.ts'

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = resolve(BENCH_DIR, '..')
const BUILD_DIR = join(BENCH_DIR, '.tmp', 'build')

/** Bundles `entries` (name -> source under bench/) into bench/.tmp/build/<name>.mjs; returns the paths. */
export async function bundle<Name extends string>(
  entries: Record<Name, string>,
): Promise<Record<Name, string>> {
  await build({
    entryPoints: Object.fromEntries(
      Object.entries(entries).map(([name, file]) => [name, join(BENCH_DIR, file as string)]),
    ),
    outdir: BUILD_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'error',
  })
  return Object.fromEntries(
    Object.keys(entries).map((name) => [name, join(BUILD_DIR, `${name}.mjs`)]),
  ) as Record<Name, string>
}

/** The two ACME client workers. */
export async function buildWorkers(): Promise<Record<WorkerResult['client'], string>> {
  const built = await bundle({
    'webacme-worker': 'webacme-worker.ts',
    'acme-client-worker': 'acme-client-worker.ts',
  })
  return { webacme: built['webacme-worker'], 'acme-client': built['acme-client-worker'] }
}
