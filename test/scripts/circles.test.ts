// scripts/circles.mjs, the CI check that src/ and service/ have no import circle: run on small trees written here.
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../scripts/circles.mjs', import.meta.url))
const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'webacme-circles-'))
  dirs.push(root)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  return root
}

function run(cwd: string, ...folders: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...folders], { cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, out: stdout + stderr })
    })
  })
}

describe('scripts/circles.mjs', () => {
  it('passes a tree whose imports only go one way, and counts its modules', async () => {
    const root = tree({
      'a/base.ts': 'export class Base {}\n',
      'a/errors.ts': "import { Base } from './base.ts'\nexport class E extends Base {}\nexport { Base }\n",
      'a/index.ts': "export * from './errors.ts'\nexport type { Base } from './base.ts'\n",
    })
    const { code, out } = await run(root, 'a')
    expect(code).toBe(0)
    expect(out).toContain('no import circles among 3 modules in a/')
  })

  it('fails on a circle made of type-only imports and names a path around it', async () => {
    const root = tree({
      'a/errors.ts': "import type { Storage } from './storage/storage.ts'\nexport type E = Storage\n",
      'a/storage/storage.ts': "import type { E } from '../errors.ts'\nexport interface Storage { e: E }\n",
      'a/leaf.ts': "import type { E } from './errors.ts'\nexport type L = E\n",
    })
    const { code, out } = await run(root, 'a')
    expect(code).toBe(1)
    expect(out).toContain('import circle among 2 modules: a/errors.ts, a/storage/storage.ts')
    expect(out).toContain('a/errors.ts -> a/storage/storage.ts -> a/errors.ts')
    expect(out).not.toContain('leaf')
  })

  it('counts export-from, `.js` specifiers and `import()` types, but not a dynamic import() call', async () => {
    const cyclic = tree({
      's/one.ts': "export * from './two.js'\nexport const one = 1\n",
      's/two.ts': "export type T = import('./three').T\nexport const two = 2\n",
      's/three.ts': "import { one } from './one.ts'\nexport type T = typeof one\n",
    })
    const found = await run(cyclic, 's')
    expect(found.code).toBe(1)
    expect(found.out).toContain('s/one.ts -> s/two.ts -> s/three.ts -> s/one.ts')

    const lazy = tree({
      's/one.ts': "import { two } from './two.ts'\nexport const one = () => two\n",
      's/two.ts':
        "export const two = async () => (await import('./one.ts')).one\n// import { one } from './one.ts'\n",
    })
    expect((await run(lazy, 's')).code).toBe(0)
  })

  it('checks several folders at once and finds a circle in any of them', async () => {
    const root = tree({
      'src/a.ts': 'export const a = 1\n',
      'service/x.ts': "import { y } from './y.ts'\nexport const x = y\n",
      'service/y.ts': "import type { x } from './x.ts'\nexport const y = 1 as unknown as typeof x\n",
    })
    expect((await run(root, 'src')).code).toBe(0)
    const both = await run(root, 'src', 'service')
    expect(both.code).toBe(1)
    expect(both.out).toContain('1 import circle(s) in src/, service/')
  })
})
