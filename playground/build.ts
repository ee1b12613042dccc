/**
 * Builds the playground page into `playground/dist/` (git-ignored), a layout that stays the same so the local
 * server and the Workers service (`[assets] directory = "playground/dist"`) serve the same files:
 *
 *   index.html         the page
 *   assets/app.js      the page's script, webacme included (minified ES module)
 *   assets/app.css     the style sheet
 *   _headers           security headers for a static host that reads `_headers` (Cloudflare's static assets, as
 *                      the Workers service serves this folder): the same Content-Security-Policy as server.ts,
 *                      no framing, no referrer, no MIME sniffing. Not served as a file there.
 *
 * The library comes in by its package name, `webacme`, which esbuild resolves through the package's own
 * `exports` to `dist/`: run `npm run build` first. `tsx playground/build.ts` builds and prints the sizes.
 */
import { existsSync } from 'node:fs'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { PAGE_CSP } from './server.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
export const PLAYGROUND_DIST: string = join(here, 'dist')

export interface PlaygroundBuild {
  outdir: string
  /** The script's size in bytes, minified and minified + gzip -9. */
  js: { min: number; gzip: number }
}

/** Builds the page into `outdir` (default `playground/dist`), replacing what was there. */
export async function buildPlayground(outdir: string = PLAYGROUND_DIST): Promise<PlaygroundBuild> {
  if (!existsSync(join(root, 'dist/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (the page imports the built package)')
  }
  await rm(outdir, { recursive: true, force: true })
  await mkdir(join(outdir, 'assets'), { recursive: true })
  const common = { bundle: true, minify: true, logLevel: 'warning', legalComments: 'none' } as const
  const script = await build({
    ...common,
    entryPoints: [join(here, 'src/main.ts')],
    outfile: join(outdir, 'assets/app.js'),
    format: 'esm',
    platform: 'browser',
    target: ['chrome116', 'firefox124', 'safari17.4'],
    // tsconfig.json maps `webacme` to src/ for type checking; the page bundles what the package exports.
    tsconfigRaw: {},
    write: false,
  })
  const js = script.outputFiles[0]!
  await build({ ...common, entryPoints: [join(here, 'style.css')], outfile: join(outdir, 'assets/app.css') })
  await writeFile(js.path, js.contents)
  await copyFile(join(here, 'index.html'), join(outdir, 'index.html'))
  // The page holds signing keys: wherever it is served, no other site frames it and no script but its own runs.
  const security = [
    'X-Content-Type-Options: nosniff',
    'Referrer-Policy: no-referrer',
    'X-Frame-Options: DENY',
  ]
  // Rules that match one path add up (a header named twice is sent once with both values): CSP for the page's
  // own files (not for the API reference under docs/), the rest for everything.
  await writeFile(
    join(outdir, '_headers'),
    ['/', '/index.html', '/assets/*']
      .flatMap((path) => [path, `  Content-Security-Policy: ${PAGE_CSP}`])
      .concat('/*', ...security.map((line) => `  ${line}`), '')
      .join('\n'),
  )
  return { outdir, js: { min: js.contents.length, gzip: gzipSync(js.contents, { level: 9 }).length } }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outdir, js } = await buildPlayground()
  console.log(
    `playground built in ${outdir}: app.js ${(js.min / 1024).toFixed(1)} KB min, ${(js.gzip / 1024).toFixed(1)} KB gzip`,
  )
}
