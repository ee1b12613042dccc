#!/usr/bin/env node
// `npm run size`: what the library costs a bundle. Each public entry of package.json `exports`, and two
// synthetic entries that import a subset the way users do, is bundled with esbuild (ESM, browser platform,
// every dependency included, tree-shaken) and measured: raw (not minified), min (minified) and gzip bytes.
//
//   node scripts/size.mjs            prints {"entries": {"<name>": {"raw": n, "min": n, "gzip": n}}} on stdout
//   node scripts/size.mjs --verbose  also lists the 15 biggest inputs of each minified bundle on stderr
//
// Checks (exit 1 when one fails; each is one test in $WEBACME_SUMMARY_FILE): the root entry imports no
// Node built-in (node:* stays external in every bundle; a Node-only subpath may use them) and no code of the
// webacme/cloudflare subpath, and the budgets:
// - "core" (account + JWS: AcmeClient, generateKeyPair, errors) ≤ 16 KB gzip, and NO ASN.1 code in it: no
//   input under asn1js, pvtsutils or @peculiar/* in its metafile. (12 KB until issue #8 put into the core what
//   every request needs at the edge: the URL policy, manual redirects, the body cap, the retry policy by HTTP
//   status, network root causes and the request limiter: 11.9 -> 14.7 KB. Issue #19's circuit breaker took it to
//   16.1 KB; error codes spelled once brought it back to 15.9 KB);
// - "issuance" (the full path: client + CSR + certificate parsing + PEM) ≤ 45 KB gzip;
// - "playground" (the whole page script of playground/, webacme included) ≤ 40 KB gzip.
// - webacme/dns/rfc2136 (RFC 2136 + TSIG adapter) ≤ 8 KB gzip and Web-only; its node:net transport,
//   webacme/dns/rfc2136/node, ≤ 2 KB gzip (SUBPATH_BUDGETS).
// "issue-flow" (issueCertificate and its solvers) is measured for comparison only. 1 KB = 1024 bytes; gzip -9.
// Entries are bundled from src/ (the .ts twin of each dist/ file in `exports`), so no build is needed.

import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const KB = 1024

/** Synthetic entries: the exports a user of that feature imports from the package root. */
const SYNTHETIC = {
  core: {
    description: 'account/JWS core: AcmeClient + generateKeyPair + errors',
    imports: [
      'AcmeClient',
      'generateKeyPair',
      'AcmeError',
      'AcmeProblemError',
      'AcmeResponseError',
      'AcmeNetworkError',
      'AcmeStateError',
      'InvalidArgumentError',
      'UnsupportedError',
      'isAcmeError',
      'isProblem',
      'isRateLimited',
    ],
    budget: { gzip: 16 * KB, noAsn1: true },
  },
  issuance: {
    description: 'full issuance path: client + CSR + certificate parsing + PEM',
    imports: [
      'AcmeClient',
      'generateKeyPair',
      'createCsr',
      'parseCertificate',
      'splitPemChain',
      'encodePem',
      'decodePem',
      'exportPrivateKeyPem',
    ],
    budget: { gzip: 45 * KB },
  },
  'issue-flow': {
    description: 'one-call issuance: AcmeClient + issueCertificate + solvers (no budget, for comparison)',
    imports: ['AcmeClient', 'generateKeyPair', 'issueCertificate', 'http01Solver', 'dns01Solver'],
  },
}

/** Applications measured whole, from their entry module (`webacme` bundled from src/, like the entries above). */
const PAGES = {
  playground: {
    description: 'the playground page: its own code + the webacme it uses (playground/src/main.ts)',
    entry: 'playground/src/main.ts',
    budget: { gzip: 40 * KB },
  },
}

/**
 * Budgets of public subpath entries, by entry name, and whether one must stay Web-only. webacme/dns/rfc2136 is the
 * Web-only adapter (its transport comes from the caller); webacme/dns/rfc2136/node is its node:net transport;
 * webacme/storage/redis takes the caller's Redis client.
 */
const SUBPATH_BUDGETS = {
  'webacme/dns/rfc2136': { webOnly: true, budget: { gzip: 8 * KB, noAsn1: true } },
  'webacme/dns/rfc2136/node': { budget: { gzip: 2 * KB, noAsn1: true } },
  'webacme/tls': { budget: { gzip: 40 * KB } },
  'webacme/storage/redis': { webOnly: true, budget: { gzip: 3 * KB } },
  'webacme/fetch/node': { budget: { gzip: 3 * KB, noAsn1: true } },
}

/** Inputs of the webacme/cloudflare subpath. */
const CLOUDFLARE_INPUT = /(^|\/)src\/cloudflare\//

/** Inputs of the webacme/tls subpath (its node:tls glue and the on-demand manager's logic). */
const TLS_INPUT = /(^|\/)src\/(tls|ondemand)\//

/** Inputs that are ASN.1 machinery (the heavy part the core must not carry). */
const ASN1_INPUT = /node_modules\/(asn1js|pvtsutils|pvutils|@peculiar\/)/

function publicEntries() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const entries = {}
  for (const [key, value] of Object.entries(pkg.exports ?? {})) {
    const target = typeof value === 'string' ? value : (value.import ?? value.default)
    if (typeof target !== 'string' || !target.endsWith('.js')) continue // ./package.json
    const source = target.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts')
    entries[key === '.' ? pkg.name : `${pkg.name}${key.slice(1)}`] = {
      description: `everything exported by "${key}"`,
      contents: `export * from ${JSON.stringify(source)}\n`,
      // The root entry is the Web-only library; subpaths may be runtime-specific (./storage/fs is Node's).
      webOnly: key === '.',
    }
  }
  for (const [name, extra] of Object.entries(SUBPATH_BUDGETS))
    if (entries[name]) Object.assign(entries[name], extra)
  return { name: pkg.name, entries, rootSource: entries[pkg.name] ? './src/index.ts' : undefined }
}

async function bundle(contents, minify) {
  // An entry file is bundled as an entry point: a bare import of it would be dropped under "sideEffects": false.
  const input = contents.startsWith('entry:')
    ? { entryPoints: [join(root, contents.slice('entry:'.length))], alias: { webacme: './src/index.ts' } }
    : { stdin: { contents, resolveDir: root, sourcefile: 'size-entry.js', loader: 'js' } }
  const result = await build({
    // Node built-ins cannot be bundled: a Node-only subpath (./storage/fs) keeps them as imports, and the
    // root entry and the budgeted ones must have none (checked below).
    external: ['node:*'],
    ...input,
    absWorkingDir: root,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    metafile: true,
    logLevel: 'silent',
  })
  const bytes = result.outputFiles[0].contents
  return { bytes, metafile: result.metafile }
}

async function measure(contents) {
  const raw = await bundle(contents, false)
  const min = await bundle(contents, true)
  const output = Object.values(min.metafile.outputs)[0]
  const inputs = Object.entries(output.inputs)
    .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
    .filter((i) => i.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)
  const builtins = output.imports.filter((i) => i.external && i.path.startsWith('node:')).map((i) => i.path)
  return {
    size: { raw: raw.bytes.length, min: min.bytes.length, gzip: gzipSync(min.bytes, { level: 9 }).length },
    inputs,
    builtins: [...new Set(builtins)],
  }
}

async function main() {
  const verbose = process.argv.includes('--verbose')
  const { entries: pub, rootSource } = publicEntries()
  const entries = { ...pub }
  for (const [name, spec] of Object.entries(SYNTHETIC)) {
    entries[name] = {
      description: spec.description,
      contents: `export { ${spec.imports.join(', ')} } from ${JSON.stringify(rootSource ?? './src/index.ts')}\n`,
      budget: spec.budget,
      webOnly: false, // implied by the root entry's check
    }
  }

  for (const [name, page] of Object.entries(PAGES)) {
    entries[name] = {
      description: page.description,
      contents: `entry:${page.entry}`,
      budget: page.budget,
      webOnly: true, // a page: no Node built-in may reach it
    }
  }

  const report = { entries: {} }
  const checks = []
  for (const [name, entry] of Object.entries(entries)) {
    let measured
    try {
      measured = await measure(entry.contents)
    } catch (err) {
      checks.push({
        name: `size: ${name} bundles`,
        ok: false,
        detail: err instanceof Error ? err.message : String(err),
      })
      continue
    }
    const { size, inputs, builtins } = measured
    report.entries[name] = size
    if (entry.webOnly) {
      checks.push({
        name: `size: ${name} imports no Node built-in (Web APIs only)`,
        ok: builtins.length === 0,
        detail: `imports ${builtins.join(', ')}`,
      })
      // The Workers building blocks are a subpath (webacme/cloudflare): the core entry must not carry them.
      const cloudflare = inputs.filter((i) => CLOUDFLARE_INPUT.test(i.path))
      checks.push({
        name: `size: ${name} bundles no webacme/cloudflare code`,
        ok: cloudflare.length === 0,
        detail: cloudflare.map((i) => `  ${i.bytes} bytes from ${i.path}`).join('\n'),
      })
      // Nor the on-demand TLS manager (webacme/tls), which is Node/Bun/Deno only.
      const tls = inputs.filter((i) => TLS_INPUT.test(i.path))
      checks.push({
        name: `size: ${name} bundles no webacme/tls code`,
        ok: tls.length === 0,
        detail: tls.map((i) => `  ${i.bytes} bytes from ${i.path}`).join('\n'),
      })
    }
    if (verbose) {
      console.error(`\n${name} (${entry.description}): ${JSON.stringify(size)}`)
      for (const i of inputs.slice(0, 15))
        console.error(`  ${String(i.bytes).padStart(7)}  ${relative(root, i.path) || i.path}`)
    }
    const budget = entry.budget
    if (!budget) continue
    const gzipOk = size.gzip <= budget.gzip
    checks.push({
      name: `size: ${name} ≤ ${budget.gzip / KB} KB gzip (${(size.gzip / KB).toFixed(1)} KB)`,
      ok: gzipOk,
      detail: gzipOk ? '' : biggest(inputs),
    })
    if (budget.noAsn1) {
      const asn1 = inputs.filter((i) => ASN1_INPUT.test(i.path))
      checks.push({
        name: `size: ${name} bundles no ASN.1 code (asn1js, @peculiar/*)`,
        ok: asn1.length === 0,
        detail: asn1.map((i) => `  ${i.bytes} bytes from ${i.path}`).join('\n'),
      })
    }
  }

  console.log(JSON.stringify(report, null, 2))
  let failed = 0
  for (const check of checks) {
    console.error(`[size] ${check.ok ? '✓' : '✗'} ${check.name}`)
    if (!check.ok) {
      failed++
      if (check.detail) console.error(check.detail)
    }
  }
  const passed = checks.length - failed
  console.error(`size budgets: ${passed} passed, ${failed} failed`)
  const file = process.env.WEBACME_SUMMARY_FILE
  if (file)
    writeFileSync(
      file,
      `${JSON.stringify({ passed, failed, skipped: 0, label: 'size budgets (esbuild)' })}\n`,
    )
  return failed > 0 ? 1 : 0
}

/** The minified bytes per package (node_modules) or per source file, biggest first. */
function biggest(inputs) {
  const groups = new Map()
  for (const { path, bytes } of inputs) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1]
    const key = pkg ? `${pkg} (package)` : relative(root, path) || path
    groups.set(key, (groups.get(key) ?? 0) + bytes)
  }
  return [...groups]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([key, bytes]) => `  ${String(bytes).padStart(7)}  ${key}`)
    .join('\n')
}

process.exitCode = await main()
