/**
 * Bundles an agent entry (workerd Worker, Chromium page) with esbuild. The library is taken from the built
 * package (dist/, what `npm pack` ships) rather than from src/: every import of a src/ module, from the
 * scenarios or the agent, is redirected to its compiled twin in dist/, so one copy of the library is bundled
 * and it is the published one.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { build, type Plugin } from 'esbuild'
import { root } from './paths.ts'

const src = join(root, 'src')
const dist = join(root, 'dist')

function libraryFromDist(): Plugin {
  return {
    name: 'library-from-dist',
    setup(b) {
      b.onResolve({ filter: /\.ts$/ }, (args) => {
        if (!args.path.startsWith('.')) return undefined
        const target = resolve(args.resolveDir, args.path)
        const rel = relative(src, target)
        if (rel.startsWith('..')) return undefined
        const compiled = join(dist, rel.replace(/\.ts$/, '.js'))
        if (!existsSync(compiled)) {
          return { errors: [{ text: `${compiled} is missing: run \`npm run build\` first` }] }
        }
        return { path: compiled }
      })
    },
  }
}

export interface BundleOptions {
  entry: string
  outfile: string
  /** `conditions` for package exports, e.g. ['workerd', 'worker', 'browser'] or ['browser']. */
  conditions: string[]
}

/** Bundles `entry` into one ESM file with every dependency included. */
export async function bundleAgent(options: BundleOptions): Promise<void> {
  if (!existsSync(join(dist, 'index.js'))) throw new Error(`${dist} is missing: run \`npm run build\` first`)
  await mkdir(dirname(options.outfile), { recursive: true })
  await build({
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: options.conditions,
    logLevel: 'warning',
    plugins: [libraryFromDist()],
  })
}
