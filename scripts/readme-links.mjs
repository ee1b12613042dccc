#!/usr/bin/env node
// The README ships in the npm package, where the repository's other files are not: every link in it must be absolute
// (or an anchor). `node scripts/readme-links.mjs` fails naming each relative link; `--fix` rewrites them to the
// repository's URL from package.json.
import { readFileSync, writeFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
const base = `${pkg.homepage.replace(/#.*$/, '').replace(/\/$/, '')}/blob/main/`
const text = readFileSync('README.md', 'utf8')
const relative = /\]\((?!https?:|mailto:|#)([^)\s]+)\)/g
if (process.argv.includes('--fix')) {
  writeFileSync(
    'README.md',
    text.replace(relative, (_, path) => `](${base}${path.replace(/^\.\//, '')})`),
  )
} else {
  const found = [...text.matchAll(relative)].map((m) => m[1])
  if (found.length > 0) {
    console.error(
      `README.md has relative links that do not resolve in the installed package: ${found.join(', ')}`,
    )
    process.exit(1)
  }
  console.log('README.md: every link is absolute or an anchor')
}
