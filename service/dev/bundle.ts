/**
 * Bundles the service Worker with esbuild as wrangler would, except that `webacme` and its subpaths resolve to the
 * library's TypeScript sources (each `exports` target in package.json, `dist/x.js` → `src/x.ts`), so `npm run service`
 * needs no build. The service code itself imports the package by its name.
 */
import { readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Plugin } from 'esbuild'

export const root: string = join(dirname(fileURLToPath(import.meta.url)), '../..')

function librarySources(): Plugin {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name: string
    exports: Record<string, string | { default: string }>
  }
  const sources = new Map<string, string>()
  for (const [key, value] of Object.entries(pkg.exports)) {
    const target = typeof value === 'string' ? value : value.default
    if (!target.endsWith('.js')) continue
    sources.set(
      key === '.' ? pkg.name : `${pkg.name}${key.slice(1)}`,
      join(root, target.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')),
    )
  }
  return {
    name: 'webacme-sources',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${pkg.name}(/|$)`) }, (args) => {
        const path = sources.get(args.path)
        return path ? { path } : { errors: [{ text: `${args.path} is not an export of ${pkg.name}` }] }
      })
    },
  }
}

/** Bundles `service/worker.ts` into `outfile` (one ES module; `cloudflare:*` left to the runtime). */
export async function bundleService(outfile: string): Promise<void> {
  await mkdir(dirname(outfile), { recursive: true })
  await build({
    entryPoints: [join(root, 'service/worker.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    // worker.js.map: workerd's stack traces and CPU profiles map back to the sources.
    sourcemap: 'external',
    logLevel: 'warning',
    plugins: [librarySources()],
  })
}
