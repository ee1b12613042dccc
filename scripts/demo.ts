/**
 * `npm run demo`: the `webacme` command issuing a real certificate from a local Pebble.
 *
 * Starts Pebble (with a throw-away TLS CA, trusted by the command through NODE_EXTRA_CA_CERTS), then runs, and
 * prints, the command a user would type:
 *
 *   webacme issue --directory <pebble> --domain demo.webacme.test --agree-tos --out demo-out --http-port <port>
 *
 * followed by `webacme inspect demo-out/demo.webacme.test/fullchain.pem` (`--out DIR` writes `DIR/<name>/`). Extra arguments go to `webacme issue` (`npm run demo --
 * --domain a.test --domain b.test --verbose`, `--json`, `--key-type rsa2048`, ...). The command is the package's
 * own bin (dist/cli/main.js; `npm run demo` builds first).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { startPebble } from '../test/harness/pebble.ts'

const root = join(import.meta.dirname, '..')
const bin = join(root, 'dist/cli/main.js')
const extra = process.argv.slice(2)

function webacme(args: string[], env: Record<string, string>): Promise<number> {
  console.log(`\n$ webacme ${args.map((a) => (/^[\w./:@=-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    })
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1)))
  })
}

const pebble = await startPebble({ http01: 'self' })
let code = 1
try {
  console.log(`Pebble (local ACME CA): ${pebble.directoryUrl}; its TLS CA: ${pebble.caCertPath}`)
  // The command trusts Pebble's TLS CA the way any Node program is told to trust a private CA.
  const env = { NODE_EXTRA_CA_CERTS: pebble.caCertPath }
  const out = extra.includes('--out') ? extra[extra.indexOf('--out') + 1]! : 'demo-out'
  code = await webacme(
    [
      'issue',
      '--directory',
      pebble.directoryUrl,
      ...(extra.some((a) => a === '--domain' || a === '-d') ? [] : ['--domain', 'demo.webacme.test']),
      '--agree-tos',
      ...(extra.includes('--out') ? [] : ['--out', out]),
      '--http-port',
      String(pebble.httpPort),
      ...extra,
    ],
    env,
  )
  // The certificate's directory under --out: --name, else the first domain (`*.` written `wildcard.`).
  const flagValue = (...flags: string[]) => {
    const at = extra.findIndex((a) => flags.includes(a))
    return at === -1 ? undefined : extra[at + 1]
  }
  const name =
    flagValue('--name') ?? (flagValue('--domain', '-d') ?? 'demo.webacme.test').replace(/^\*\./, 'wildcard.')
  if (code === 0 && !extra.includes('--json'))
    code = await webacme(['inspect', join(out, name, 'fullchain.pem')], env)
} finally {
  await pebble.stop()
}
process.exitCode = code
