#!/usr/bin/env node
// Compiles every TypeScript example users read: the ```ts blocks of README.md, the @example blocks of the
// TSDoc in src/, and the runnable files of examples/ (test/examples runs those against Pebble). Each becomes a module importing 'webacme' (mapped to src/index.ts) and is type-checked with
// the project's strict settings. Fails on the first file with errors, naming where the example came from.

import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, '.tmp', 'examples')
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

/** @type {Array<{ origin: string; code: string }>} */
const examples = []

const readme = readFileSync(join(root, 'README.md'), 'utf8')
for (const match of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
  const line = readme.slice(0, match.index).split('\n').length
  examples.push({ origin: `README.md:${line}`, code: match[1] })
}

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (path.endsWith('.ts') && !path.endsWith('.test.ts')) {
      const text = readFileSync(path, 'utf8')
      for (const match of text.matchAll(
        /@example\s*\n((?:\s*\*.*\n)*?)\s*\*\s*```ts\n((?:\s*\*.*\n)*?)\s*\*\s*```/g,
      )) {
        const code = match[2].replace(/^\s*\* ?/gm, '')
        const line = text.slice(0, match.index).split('\n').length
        examples.push({ origin: `${relative(root, path)}:${line}`, code })
      }
    }
  }
}
walk(join(root, 'src'))

for (const name of readdirSync(join(root, 'examples')).sort()) {
  if (!name.endsWith('.ts')) continue
  const text = readFileSync(join(root, 'examples', name), 'utf8')
  // A whole module already: no `export {}` needed, but harmless.
  examples.push({ origin: `examples/${name}`, code: text })
}

const files = examples.map((example, i) => {
  const file = join(out, `example-${String(i).padStart(3, '0')}.ts`)
  writeFileSync(file, `// ${example.origin}\n${example.code}\nexport {}\n`)
  return { ...example, file }
})

writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../tsconfig.json',
    compilerOptions: {
      noEmit: true,
      noUnusedLocals: false,
      baseUrl: '.',
      paths: {
        webacme: ['../../src/index.ts'],
        'webacme/storage/fs': ['../../src/storage/fs.ts'],
        'webacme/storage/redis': ['../../src/storage/redis.ts'],
        'webacme/cloudflare': ['../../src/cloudflare/index.ts'],
        'webacme/dns/exec': ['../../src/dns/providers/exec-node.ts'],
        'webacme/dns/rfc2136/node': ['../../src/dns/rfc2136/node-transport.ts'],
        'webacme/tls': ['../../src/tls/index.ts'],
        'webacme/dns/*': ['../../src/dns/providers/*.ts'],
      },
    },
    include: ['*.ts'],
  }),
)
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const result = spawnSync(process.execPath, [tsc, '-p', join(out, 'tsconfig.json')], { encoding: 'utf8' })
if (result.status !== 0) {
  let report = result.stdout + result.stderr
  for (const f of files)
    report = report.replaceAll(relative(root, f.file), `${relative(root, f.file)} (${f.origin})`)
  console.error(report)
  console.error(`check-examples: ${files.length} examples, type errors above`)
  process.exit(1)
}
console.log(`check-examples: ${files.length} examples compile`)
