#!/usr/bin/env node
// `npm run check:package`: the package as users get it. Each check is one test; a failed check prints why.
//
//   1. npm pack (prepack builds dist/): the tarball holds dist/, README, CHANGELOG, LICENSE and no tests
//   2. publint --strict on the tarball
//   3. @arethetypeswrong/cli on the tarball, profile esm-only (the package is ESM only)
//   4. npm install <tarball> into an empty temporary project
//   5. the declarations of every entry that is not Node-only compile with lib ES2022 and "types": [] (no DOM,
//      no Node; the options of tsconfig.types-check.json)
//   6. a Node script in that project imports 'webacme' and issues a certificate from a Pebble started here
//   7. jsr.json has package.json's version and the same exports (pointing at the .ts twins of dist/)
//   8. deno check of every jsr.json export
//   9. deno publish --dry-run (JSR's own checks: slow types, file list)
//
// Counts go to $WEBACME_SUMMARY_FILE for scripts/test.mjs. WEBACME_KEEP_PACKAGE_DIR=1 keeps the temp project.
// `node scripts/check-package.mjs --sync-jsr` rewrites jsr.json's version and exports from package.json.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensure, toolPath } from './setup.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** Path of the `name` binary of an installed devDependency (no npx: no network, no npm warnings). */
function binOf(packageName, name) {
  // Not require.resolve('<name>/package.json'): some packages (publint) do not export it.
  const manifest = join(root, 'node_modules', packageName, 'package.json')
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'))
  return join(dirname(manifest), typeof bin === 'string' ? bin : bin[name])
}

/** An environment without the CAs this machine presets, plus `extra`. */
function cleanEnv(extra = {}) {
  const env = { ...process.env }
  for (const name of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'DENO_CERT']) delete env[name]
  return { ...env, ...extra }
}

/** Runs a command; resolves to { code, out } with stdout and stderr interleaved. Never rejects. */
function exec(cmd, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd ?? root,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000)
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (out += c))
    child.once('error', (err) => {
      clearTimeout(timer)
      resolve({ code: 127, out: `${out}\nspawn ${cmd} failed: ${err.message}` })
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? 128, out: signal ? `${out}\nkilled by ${signal}` : out })
    })
  })
}

/** Output worth showing: npm's config warnings dropped, at most `lines` lines. */
function tail(text, lines = 40) {
  return text
    .split('\n')
    .filter((l) => !/npm warn Unknown user config/.test(l))
    .join('\n')
    .trim()
    .split('\n')
    .slice(-lines)
    .join('\n')
}

const results = []
async function check(name, fn) {
  const started = Date.now()
  let ok = false
  let detail = ''
  try {
    const r = await fn()
    ok = r === undefined || r === true || r.ok !== false
    detail = r && typeof r === 'object' ? (r.detail ?? '') : ''
  } catch (err) {
    detail = err instanceof Error ? (err.stack ?? err.message) : String(err)
  }
  const time = `${((Date.now() - started) / 1000).toFixed(1)} s`
  results.push({ name, ok })
  console.log(`[package] ${ok ? '✓' : '✗'} ${name} (${time})`)
  if (detail && (!ok || process.env.WEBACME_VERBOSE)) console.log(indent(detail))
  return ok
}
const indent = (text) =>
  text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n')
const fail = (detail) => ({ ok: false, detail })

/** package.json's exports as { key: dist path }, without ./package.json. */
function packageExports() {
  const out = {}
  for (const [key, value] of Object.entries(pkg.exports ?? {})) {
    const target = typeof value === 'string' ? value : (value.import ?? value.default)
    if (key === './package.json') continue
    out[key] = target
  }
  return out
}

/** The .ts source twin of a dist/ file: ./dist/a/b.js -> ./src/a/b.ts */
const sourceTwin = (distPath) => distPath.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts')

const SMOKE = `// Written by scripts/check-package.mjs: a user of the published package, in Node.
import { createServer } from 'node:http'
import { AcmeClient, createCsr, generateKeyPair, http01Path, isProblem, parseCertificate } from 'webacme'

const info = JSON.parse(process.env.WEBACME_SMOKE_INFO)
const tokens = new Map()
const prefix = http01Path('')
const server = createServer((req, res) => {
  const body = req.url?.startsWith(prefix) ? tokens.get(req.url.slice(prefix.length)) : undefined
  res.writeHead(body ? 200 : 404).end(body ?? 'not found')
})
await new Promise((resolve) => server.listen(info.httpPort, '127.0.0.1', resolve))
try {
  const client = new AcmeClient({ directoryUrl: info.directoryUrl, accountKey: await generateKeyPair('ES256') })
  await client.createAccount({ termsOfServiceAgreed: true })
  const name = 'smoke.package.webacme.test'
  const order = await client.createOrder({ identifiers: [name] })
  for (const url of order.authorizations) {
    const authz = await client.getAuthorization(url)
    if (authz.status === 'valid') continue
    const challenge = authz.challenges.find((c) => c.type === 'http-01')
    tokens.set(challenge.token, await client.keyAuthorization(challenge))
    await client.respondToChallenge(challenge)
    await client.waitForAuthorization(authz)
  }
  const keys = await generateKeyPair('ES256')
  const csr = await createCsr({ keys, identifiers: order.identifiers })
  let final = await client.finalizeOrder(order, csr).catch(async (err) => {
    if (!isProblem(err, 'orderNotReady')) throw err
    return client.finalizeOrder(await client.waitForOrder(order), csr)
  })
  if (final.status !== 'valid') final = await client.waitForOrder(final)
  const { pem } = await client.getCertificate(final)
  const leaf = parseCertificate(pem)
  if (leaf.dnsNames.join() !== name) throw new Error('unexpected SANs: ' + leaf.dnsNames.join())
  console.log('issued ' + leaf.dnsNames.join() + ' serial ' + leaf.serialNumber + ' by ' + leaf.issuer.dn)
} finally {
  server.close()
}
`

/** `--sync-jsr`: rewrites jsr.json's version and exports from package.json (after adding a subpath export). */
function syncJsr() {
  const path = join(root, 'jsr.json')
  const jsr = JSON.parse(readFileSync(path, 'utf8'))
  jsr.version = pkg.version
  jsr.exports = Object.fromEntries(
    Object.entries(packageExports()).map(([key, target]) => [key, sourceTwin(target)]),
  )
  writeFileSync(path, `${JSON.stringify(jsr, null, 2)}\n`)
  // The repository's formatter has the last word on layout (short arrays on one line).
  spawnSync(join(root, 'node_modules/.bin/biome'), ['format', '--write', path], { stdio: 'ignore' })
  console.log(`[package] jsr.json: version ${jsr.version}, exports ${Object.keys(jsr.exports).join(', ')}`)
}

async function main() {
  if (process.argv.includes('--sync-jsr')) {
    syncJsr()
    return 0
  }
  ensure(['pebble', 'deno'])
  const deno = process.env.WEBACME_DENO ?? toolPath('deno')
  const work = await mkdtemp(join(tmpdir(), 'webacme-package-'))
  const project = join(work, 'project')
  let tarball

  try {
    await check(
      'npm pack: tarball with dist/, README, CHANGELOG, LICENSE; no tests, no sources',
      async () => {
        const r = await exec('npm', ['pack', '--json', '--pack-destination', work])
        const start = r.out.indexOf('[')
        if (r.code !== 0 || start < 0) return fail(`npm pack exited with ${r.code}:\n${tail(r.out)}`)
        const [info] = JSON.parse(r.out.slice(start, r.out.lastIndexOf(']') + 1))
        tarball = join(work, info.filename)
        const files = info.files.map((f) => f.path)
        const required = [
          'package.json',
          'README.md',
          'CHANGELOG.md',
          'LICENSE',
          'dist/index.js',
          'dist/index.d.ts',
        ]
        const missing = required.filter((f) => !files.includes(f))
        const unwanted = files.filter((f) => /\.test(-d)?\.(js|d\.ts|ts)$|^src\/|^test\/|^\.tmp\//.test(f))
        if (missing.length || unwanted.length) {
          return fail(`missing: ${missing.join(', ') || '-'}; unwanted: ${unwanted.join(', ') || '-'}`)
        }
        return {
          detail: `${info.filename}: ${files.length} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`,
        }
      },
    )
    const haveTarball = () =>
      tarball && existsSync(tarball) ? undefined : fail('no tarball (npm pack failed)')

    await check('publint --strict', async () => {
      const r = await exec(process.execPath, [
        binOf('publint', 'publint'),
        'run',
        '--strict',
        tarball ?? root,
      ])
      // Clean means no message at all: --strict turns warnings into errors, and a suggestion fails too.
      return r.code === 0 && /All good/i.test(r.out) ? { detail: tail(r.out, 3) } : fail(tail(r.out))
    })

    await check('@arethetypeswrong/cli --profile esm-only', async () => {
      const missing = haveTarball()
      if (missing) return missing
      const r = await exec(process.execPath, [
        binOf('@arethetypeswrong/cli', 'attw'),
        tarball,
        '--profile',
        'esm-only',
        '--no-emoji',
        '--no-color',
      ])
      return r.code === 0 ? { detail: tail(r.out) } : fail(tail(r.out))
    })

    const installed = await check('npm install <tarball> into an empty project', async () => {
      const missing = haveTarball()
      if (missing) return missing
      await rm(project, { recursive: true, force: true })
      await exec('mkdir', ['-p', project])
      await writeFile(
        join(project, 'package.json'),
        `${JSON.stringify({ name: 'webacme-consumer', private: true, type: 'module' }, null, 2)}\n`,
      )
      const r = await exec(
        'npm',
        ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'],
        { cwd: project },
      )
      if (r.code !== 0) return fail(tail(r.out))
      return existsSync(join(project, 'node_modules', pkg.name, 'dist/index.js'))
        ? undefined
        : fail(`node_modules/${pkg.name}/dist/index.js is missing`)
    })

    await check('declarations compile with lib ES2022 and "types": [] (no DOM, no Node)', async () => {
      if (!installed) return fail('not installed')
      const base = JSON.parse(
        readFileSync(join(root, 'tsconfig.types-check.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''),
      )
      await writeFile(
        join(project, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: base.compilerOptions, files: ['consumer.ts'] }, null, 2),
      )
      // Every public entry, except those whose declarations import node:* (a Node-only subpath such as
      // ./storage/fs needs @types/node by nature).
      const installedDir = join(project, 'node_modules', pkg.name)
      const entries = Object.entries(pkg.exports ?? {}).filter(([key, value]) => {
        const types = typeof value === 'object' ? value.types : undefined
        return key !== './package.json' && typeof types === 'string'
      })
      const nodeOnly = []
      const lines = []
      // A declaration file imports node:* itself or through the declaration files it imports (./tls/index.d.ts
      // re-exports ./types.d.ts, which names node:tls types).
      const importsNode = (file, seen = new Set()) => {
        if (seen.has(file)) return false
        seen.add(file)
        let dts
        try {
          dts = readFileSync(file, 'utf8')
        } catch {
          return false
        }
        if (/from ['"]node:|import\(['"]node:/.test(dts)) return true
        for (const [, spec] of dts.matchAll(/from ['"](\.{1,2}\/[^'"]+?)\.(?:js|ts)['"]/g)) {
          if (importsNode(join(dirname(file), `${spec}.d.ts`), seen)) return true
        }
        return false
      }
      for (const [key, value] of entries) {
        if (importsNode(join(installedDir, value.types))) {
          nodeOnly.push(key)
          continue
        }
        const name = `e${lines.length / 2}`
        const specifier = key === '.' ? pkg.name : `${pkg.name}${key.slice(1)}`
        lines.push(
          `import * as ${name} from '${specifier}'`,
          `export const ${name}Api: typeof ${name} = ${name}`,
        )
      }
      await writeFile(join(project, 'consumer.ts'), `${lines.join('\n')}\n`)
      const r = await exec(process.execPath, [binOf('typescript', 'tsc'), '-p', 'tsconfig.json'], {
        cwd: project,
      })
      const checked = `${lines.length / 2} entries checked; Node-only, not checked: ${nodeOnly.join(', ') || '-'}`
      if (r.code === 0) return { detail: checked }
      const first = r.out.trim().split('\n').slice(0, 30).join('\n')
      return fail(`${checked}\n${leakSummary(r.out)}\n--- tsc (first 30 lines) ---\n${first}`)
    })

    await check(
      "smoke: a Node project imports 'webacme' from the tarball and issues a certificate from Pebble",
      async () => {
        if (!installed) return fail('not installed')
        await writeFile(join(project, 'smoke.mjs'), SMOKE)
        const { tsImport } = await import('tsx/esm/api')
        const { startServers } = await tsImport('../test/e2e/servers.ts', import.meta.url)
        const servers = await startServers('default')
        try {
          const r = await exec(process.execPath, ['smoke.mjs'], {
            cwd: project,
            timeoutMs: 120_000,
            env: cleanEnv({
              NODE_EXTRA_CA_CERTS: servers.info.caCertPath,
              WEBACME_SMOKE_INFO: JSON.stringify(servers.info),
            }),
          })
          return r.code === 0
            ? { detail: tail(r.out, 3) }
            : fail(`${tail(r.out)}\n--- pebble ---\n${servers.pebble.logs().slice(-1500)}`)
        } finally {
          await servers.stop()
        }
      },
    )

    await check('jsr.json: same version and exports as package.json (src/ twins of dist/)', async () => {
      const jsr = JSON.parse(readFileSync(join(root, 'jsr.json'), 'utf8'))
      const problems = []
      if (jsr.version !== pkg.version)
        problems.push(`version: jsr.json ${jsr.version}, package.json ${pkg.version}`)
      const jsrExports = typeof jsr.exports === 'string' ? { '.': jsr.exports } : (jsr.exports ?? {})
      const npmExports = packageExports()
      const keys = new Set([...Object.keys(jsrExports), ...Object.keys(npmExports)])
      for (const key of [...keys].sort()) {
        const want = npmExports[key] && sourceTwin(npmExports[key])
        if (!(key in jsrExports))
          problems.push(`"${key}" is in package.json exports (${npmExports[key]}) but not in jsr.json`)
        else if (!want) problems.push(`"${key}" is in jsr.json but not in package.json exports`)
        else if (jsrExports[key] !== want)
          problems.push(`"${key}": jsr.json has ${jsrExports[key]}, expected ${want}`)
        else if (!existsSync(join(root, want))) problems.push(`"${key}": ${want} does not exist`)
      }
      if (problems.length)
        problems.push('(`node scripts/check-package.mjs --sync-jsr` rewrites jsr.json from package.json)')
      return problems.length ? fail(problems.join('\n')) : { detail: `${keys.size} export(s) agree` }
    })

    const jsrTargets = () => {
      const jsr = JSON.parse(readFileSync(join(root, 'jsr.json'), 'utf8'))
      return Object.values(typeof jsr.exports === 'string' ? { '.': jsr.exports } : jsr.exports)
    }

    await check('deno check of the jsr.json exports', async () => {
      const r = await exec(deno, ['check', ...jsrTargets()], {
        env: cleanEnv({ NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' }),
      })
      return r.code === 0 ? { detail: tail(r.out, 5) } : fail(tail(r.out))
    })

    await check('deno publish --dry-run (JSR: slow types, file list)', async () => {
      const r = await exec(deno, ['publish', '--dry-run', '--allow-dirty'], {
        env: cleanEnv({ NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' }),
      })
      const out = r.out
        .split('\n')
        .filter((l) => !/^\s+file:\/\//.test(l))
        .join('\n')
      return r.code === 0 ? { detail: tail(out, 5) } : fail(tail(out))
    })
  } finally {
    if (process.env.WEBACME_KEEP_PACKAGE_DIR) console.log(`[package] kept ${work}`)
    else await rm(work, { recursive: true, force: true })
  }

  const failed = results.filter((r) => !r.ok).length
  const passed = results.length - failed
  console.log(`package checks: ${passed} passed, ${failed} failed`)
  const file = process.env.WEBACME_SUMMARY_FILE
  if (file) {
    const label = 'package (pack, publint, attw, types, smoke, jsr, deno)'
    writeFileSync(file, `${JSON.stringify({ passed, failed, skipped: 0, label })}\n`)
  }
  return failed > 0 ? 1 : 0
}

/** Which Web/DOM names the declarations use without declaring them, and where. */
function leakSummary(out) {
  const byName = new Map()
  for (const m of out.matchAll(/^(\S+?)\(\d+,\d+\): error TS2304: Cannot find name '([^']+)'/gm)) {
    const file = m[1].replace(/^.*node_modules\//, '')
    if (!byName.has(m[2])) byName.set(m[2], new Set())
    byName.get(m[2]).add(file)
  }
  if (byName.size === 0) return 'tsc failed'
  const lines = [...byName].map(([name, files]) => `  ${name}: ${[...files].join(', ')}`)
  return `names the declarations need from the DOM lib (missing here):\n${lines.join('\n')}`
}

process.exitCode = await main()
