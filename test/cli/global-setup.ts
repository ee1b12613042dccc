// Vitest globalSetup of the CLI suite (test/cli/vitest.config.ts): the test CA (as every suite), then the package
// as users get it: `npm pack` (its prepack builds dist/, the CLI included) and a local npm registry serving that
// tarball (test/fixtures/npm-registry.ts), so `npx webacme`, `bunx webacme` and `deno run -A npm:webacme`
// resolve it the way they resolve a published package. Workers find both through the environment.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startNpmRegistry } from '../fixtures/npm-registry.ts'
import caSetup from '../harness/global-setup.ts'

const run = promisify(execFile)
const root = join(import.meta.dirname, '../..')

export default async function setup(): Promise<() => Promise<void>> {
  const teardownCa = await caSetup()
  const dir = await mkdtemp(join(tmpdir(), 'webacme-cli-pack-'))
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    maxBuffer: 1 << 26,
  })
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string }>
  const tarball = join(dir, info!.filename)
  // Published three days ago: Deno 2.9 refuses versions younger than a day (its minimum dependency age).
  const registry = await startNpmRegistry({ tarball, publishedAt: new Date(Date.now() - 3 * 86_400_000) })
  process.env.WEBACME_CLI_TARBALL = tarball
  process.env.WEBACME_CLI_REGISTRY = registry.url
  return async () => {
    await registry.stop()
    await rm(dir, { recursive: true, force: true })
    await teardownCa()
  }
}
