#!/usr/bin/env node
// Fails on an import circle among the TypeScript modules of the folders given (`node scripts/circles.mjs src service`).
// Every static edge counts, type-only ones too (`import type`, `export type … from`, `import('./x').T` in a type):
// a circle of types is still two modules that cannot be read, moved or tested one without the other. A dynamic
// `import()` call does not count: it loads on demand, at run time, which is what it is for.
// Parsing uses the TypeScript compiler's own parser, so imports inside strings and comments are never mistaken for
// edges. Only relative specifiers are followed (package imports such as `webacme` leave the folders).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

const roots = process.argv.slice(2)
if (roots.length === 0) {
  console.error('usage: node scripts/circles.mjs <folder>...')
  process.exit(2)
}

const SOURCE = /\.(?:ts|tsx|mts|cts)$/
const SKIP = new Set(['node_modules', 'dist', '.wrangler'])

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path)
    else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) yield resolve(path)
  }
}

/** The file a relative specifier names: as written, `.js` written for `.ts`, or without an extension. */
function resolveSpecifier(from, specifier) {
  const base = resolve(dirname(from), specifier)
  const candidates = [
    base,
    base.replace(/\.(m|c)?js$/, '.$1ts'),
    base.replace(/\.jsx$/, '.tsx'),
    `${base}.ts`,
    `${base}.tsx`,
    join(base, 'index.ts'),
  ]
  return candidates.find((path) => existsSync(path) && statSync(path).isFile())
}

/** Every module specifier `file` depends on statically. */
function specifiers(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const found = []
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text)
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text)
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const files = [...new Set(roots.flatMap((root) => [...walk(root)]))].sort()
const inScope = new Set(files)
/** @type {Map<string, string[]>} */
const edges = new Map()
for (const file of files) {
  const targets = new Set()
  for (const specifier of specifiers(file)) {
    if (!specifier.startsWith('.')) continue
    const target = resolveSpecifier(file, specifier)
    if (target && inScope.has(target)) targets.add(target)
  }
  edges.set(file, [...targets].sort())
}

// Tarjan's strongly connected components: every component of more than one module (or a module importing itself)
// holds at least one circle.
let index = 0
const indices = new Map()
const lowlinks = new Map()
const stack = []
const onStack = new Set()
const components = []
function strongConnect(file) {
  indices.set(file, index)
  lowlinks.set(file, index)
  index++
  stack.push(file)
  onStack.add(file)
  for (const next of edges.get(file) ?? []) {
    if (!indices.has(next)) {
      strongConnect(next)
      lowlinks.set(file, Math.min(lowlinks.get(file), lowlinks.get(next)))
    } else if (onStack.has(next)) {
      lowlinks.set(file, Math.min(lowlinks.get(file), indices.get(next)))
    }
  }
  if (lowlinks.get(file) === indices.get(file)) {
    const component = []
    let member
    do {
      member = stack.pop()
      onStack.delete(member)
      component.push(member)
    } while (member !== file)
    if (component.length > 1 || (edges.get(file) ?? []).includes(file)) components.push(component.sort())
  }
}
for (const file of files) if (!indices.has(file)) strongConnect(file)

/** One shortest circle through `start` inside `component` (breadth-first), as a list of files ending at `start`. */
function circleThrough(start, component) {
  const members = new Set(component)
  const previous = new Map([[start, undefined]])
  const queue = [start]
  while (queue.length > 0) {
    const file = queue.shift()
    for (const next of edges.get(file) ?? []) {
      if (!members.has(next)) continue
      if (next === start) {
        const path = [start]
        for (let at = file; at !== start; at = previous.get(at)) path.splice(1, 0, at)
        return [...path, start]
      }
      if (!previous.has(next)) {
        previous.set(next, file)
        queue.push(next)
      }
    }
  }
  return [start, start]
}

const name = (file) => relative(process.cwd(), file)
const where = roots.map((root) => `${root.replace(/\/$/, '')}/`).join(', ')
if (components.length === 0) {
  console.log(`no import circles among ${files.length} modules in ${where}`)
} else {
  for (const component of components) {
    console.error(`import circle among ${component.length} modules: ${component.map(name).join(', ')}`)
    console.error(`  for example ${circleThrough(component[0], component).map(name).join(' -> ')}`)
  }
  console.error(
    `${components.length} import circle(s) in ${where}: move what both sides need into a module neither imports back`,
  )
  process.exit(1)
}
