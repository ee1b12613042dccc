/**
 * `npm run playground`: builds the page, starts a local Pebble (with pebble-challtestsrv for DNS and http-01) and
 * dnsdist as a DNS-over-HTTPS front for the page's DNS check, serves the page on 127.0.0.1 and prints the URL.
 * `--directory URL` skips the local servers: the page then starts on that CA and checks DNS with a public resolver.
 *
 * Pebble's TLS certificate comes from a CA kept in `.tmp/playground/ca/` and reused across runs, so a browser has
 * to be told to trust it once (the server offers it at `/ca.pem`; the instructions are printed).
 */
import { statSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CA_DIR_ENV, createTestCa, isTestCaDir, loadTestCa, type TestCa } from '../test/harness/ca.ts'
import { buildPlayground } from './build.ts'
import { startPlaygroundServer } from './server.ts'
import type { LocalConfig } from './src/state.ts'

const USAGE = `usage: npm run playground -- [options]

  --directory URL   start the page on this ACME directory and do not start Pebble
  --port N          port of the page (default 8080, or a free one when 8080 is taken)
  -h, --help        this text`

const root = join(fileURLToPath(import.meta.url), '../..')
const CA_DIR = join(root, '.tmp/playground/ca')
/** createTestCa's certificates last 30 days: make a new CA a while before that. */
const CA_MAX_AGE_MS = 20 * 86_400_000

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      directory: { type: 'string' },
      port: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (values.directory !== undefined) new URL(values.directory) // throws on a bad URL
  const port = values.port === undefined ? undefined : Number(values.port)
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new Error('--port must be a port number')
  return { directory: values.directory, port }
}

/** The playground's own CA, reused while it is young enough (a browser trusts it once). */
async function playgroundCa(): Promise<TestCa> {
  const fresh = isTestCaDir(CA_DIR) && Date.now() - statSync(join(CA_DIR, 'ca.pem')).mtimeMs < CA_MAX_AGE_MS
  if (!fresh) {
    await rm(CA_DIR, { recursive: true, force: true })
    await mkdir(CA_DIR, { recursive: true })
    await createTestCa(CA_DIR)
  }
  process.env[CA_DIR_ENV] = CA_DIR // startPebble() takes its CA from here
  return loadTestCa(CA_DIR)
}

async function main(): Promise<void> {
  let opts: ReturnType<typeof options>
  try {
    opts = options()
  } catch (err) {
    console.error(`playground: ${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  const built = await buildPlayground()
  const stops: Array<() => Promise<void>> = []
  let local: LocalConfig = {}
  let caPem: string | undefined
  let help = ''

  if (opts.directory) {
    local = { directoryUrl: opts.directory }
  } else {
    const ca = await playgroundCa()
    caPem = ca.caPem
    const { startPebble } = await import('../test/harness/pebble.ts')
    const { startDohFront } = await import('../test/harness/dnsdist.ts')
    const pebble = await startPebble({})
    stops.push(() => pebble.stop())
    const doh = await startDohFront({ upstream: `127.0.0.1:${pebble.dnsPort}` })
    stops.push(() => doh.stop())
    local = {
      directoryUrl: pebble.directoryUrl,
      pebbleUrl: pebble.directoryUrl,
      dohUrl: doh.url,
      dohFormat: 'wire',
      caCertUrl: '/ca.pem',
    }
    const challtest = new URL(pebble.challtest!.url)
    help = `
Local Pebble:  ${pebble.directoryUrl}  (the page's "Local Pebble" CA; any name resolves to 127.0.0.1)
DNS check:     ${doh.url}  (dnsdist in front of pebble-challtestsrv's DNS)

The browser must trust Pebble's TLS certificate. Its CA is the same on every run:
  download:    {PAGE}ca.pem   (or ${ca.caCertPath})
  Chrome, Chromium on Linux:  certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n webacme-playground -i ${ca.caCertPath}
               or Settings > Privacy and security > Security > Manage certificates > Authorities > Import
  Firefox:     Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import

You play the DNS operator and the web server at pebble-challtestsrv, which answers Pebble's checks:
  dns-01:  curl -d '{"host":"_acme-challenge.example.test.","value":"VALUE"}' ${challtest.origin}/set-txt
  http-01: curl -d '{"token":"TOKEN","content":"KEY AUTHORIZATION"}' ${challtest.origin}/add-http01
`
  }

  let server: Awaited<ReturnType<typeof startPlaygroundServer>>
  try {
    server = await startPlaygroundServer({
      dir: built.outdir,
      port: opts.port ?? 8080,
      local,
      ...(caPem && { caPem }),
    })
  } catch (err) {
    if (opts.port !== undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    server = await startPlaygroundServer({ dir: built.outdir, local, ...(caPem && { caPem }) })
  }
  stops.push(() => server.close())

  console.log(`webacme playground: ${server.url}
  (page script ${(built.js.gzip / 1024).toFixed(1)} KB gzip)${help.replaceAll('{PAGE}', server.url)}
Press Ctrl+C to stop.`)

  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err) => {
  console.error(`playground failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
