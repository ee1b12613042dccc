/**
 * `npm run demo`: issue a real certificate with webacme.
 *
 * Without `--directory` it starts a local Pebble (the embedded default CA, with a throw-away TLS CA that this
 * process trusts for real through NODE_EXTRA_CA_CERTS), creates an account, answers http-01 itself, and
 * writes the key and the chain as PEM files. With `--directory` it talks to any ACME CA; the http-01
 * responder must then be reachable on port 80 of every `--domain` (use `--http-port` behind a redirect).
 */
import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { AcmeClient, generateKeyPair, http01Solver, issueCertificate } from '../src/index.ts'
import { splitPemChain } from '../src/pkix/chain.ts'
import { exportPrivateKeyPem } from '../src/pkix/private-key.ts'
import { CA_DIR_ENV, caEnv, getTestCa } from '../test/harness/ca.ts'
import { freePorts } from '../test/harness/ports.ts'

const USAGE = `usage: npm run demo -- [options]

  --directory URL   ACME directory (default: start a local Pebble; CA trust via NODE_EXTRA_CA_CERTS)
  --domain NAME     name to certify, repeatable (default: demo.webacme.test with the local Pebble)
  --http-port N     port where the demo serves http-01 (default: a free port with Pebble, 80 otherwise)
  --out DIR         where to write privkey.pem and fullchain.pem (default: ./demo-out)
  --email ADDRESS   account contact (optional)
  -h, --help        this text`

interface DemoOptions {
  directory: string | undefined
  domains: string[]
  httpPort: number | undefined
  out: string
  email: string | undefined
}

function parseOptions(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      directory: { type: 'string' },
      domain: { type: 'string', multiple: true },
      'http-port': { type: 'string' },
      out: { type: 'string' },
      email: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  let httpPort: number | undefined
  if (values['http-port'] !== undefined) {
    httpPort = Number(values['http-port'])
    if (!Number.isInteger(httpPort) || httpPort < 1 || httpPort > 65535) {
      throw new Error(`--http-port must be a port number, got ${JSON.stringify(values['http-port'])}`)
    }
  }
  if (values.directory !== undefined) {
    try {
      new URL(values.directory)
    } catch {
      throw new Error(`--directory must be a URL, got ${JSON.stringify(values.directory)}`)
    }
    if (!values.domain?.length) throw new Error('--domain is required with --directory')
  }
  return {
    directory: values.directory,
    domains: values.domain?.length ? values.domain : ['demo.webacme.test'],
    httpPort,
    out: resolve(values.out ?? 'demo-out'),
    email: values.email,
  }
}

/** Re-runs this script with the local CA trusted: Node reads NODE_EXTRA_CA_CERTS only at start. */
async function relaunchTrustingLocalCa(): Promise<never> {
  const ca = await getTestCa()
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, ...caEnv(ca) },
    },
  )
  const code = await new Promise<number>((done) =>
    child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0))),
  )
  process.exit(code)
}

async function main(): Promise<void> {
  let options: DemoOptions
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    console.error(`demo: ${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
  if (!options.directory && !process.env[CA_DIR_ENV]) await relaunchTrustingLocalCa()

  const started = performance.now()
  let requests = 0
  const countingFetch: typeof fetch = (input, init) => {
    requests++
    return fetch(input, init)
  }

  // The http-01 responder: the library's solver behind a plain Node server.
  const http01 = http01Solver()
  const httpPort = options.httpPort ?? (options.directory ? 80 : (await freePorts(1))[0]!)
  const server = createServer(async (req, res) => {
    const body = await http01.lookup(req.url ?? '/')
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain' }).end(body ?? 'not found')
  })
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(httpPort, ok))

  let pebble: { directoryUrl: string; stop(): Promise<void> } | undefined
  try {
    if (!options.directory) {
      const { startPebble } = await import('../test/harness/pebble.ts')
      pebble = await startPebble({ http01: 'self', httpPort, nonceRejectPercent: 0 })
      console.log(`Started Pebble: ${pebble.directoryUrl} (http-01 answered on port ${httpPort})`)
    }
    const directoryUrl = options.directory ?? pebble!.directoryUrl

    const client = new AcmeClient({
      directoryUrl,
      accountKey: await generateKeyPair('ES256'),
      fetch: countingFetch,
    })
    const account = await client.createAccount({
      termsOfServiceAgreed: true,
      ...(options.email && { contact: [options.email] }),
    })
    console.log(`Account:  ${account.url}`)

    const {
      certificate,
      certificateKey,
      parsed: leaf,
      chains,
    } = await issueCertificate({
      client,
      identifiers: options.domains,
      solvers: [http01],
      onEvent: (event) => {
        if (event.type === 'order') {
          console.log(
            `Order:    ${event.order.url} for ${event.order.identifiers.map((i) => i.value).join(', ')}`,
          )
        } else if (event.type === 'authorization') {
          console.log(`          ${event.identifier.value}: ${event.status}`)
        }
      },
    })
    await mkdir(options.out, { recursive: true })
    const keyPath = resolve(options.out, 'privkey.pem')
    const chainPath = resolve(options.out, 'fullchain.pem')
    await writeFile(keyPath, await exportPrivateKeyPem(certificateKey.privateKey), { mode: 0o600 })
    await writeFile(chainPath, certificate)

    console.log(`
Certificate issued in ${Math.round(performance.now() - started)} ms with ${requests} requests to the CA
  subject:   ${leaf.subject.dn || '(empty)'}
  SANs:      ${[...leaf.dnsNames, ...leaf.ipAddresses].join(', ')}
  issuer:    ${leaf.issuer.dn}
  valid:     ${leaf.notBefore.toISOString()} .. ${leaf.notAfter.toISOString()}
  serial:    ${leaf.serialNumber}
  chain:     ${splitPemChain(certificate).length} certificates${chains[0]!.alternates.length ? `, ${chains[0]!.alternates.length} alternate chain(s)` : ''}
  key:       ${keyPath}
  chain:     ${chainPath}`)
  } finally {
    server.close()
    await pebble?.stop()
  }
}

main().catch((err) => {
  console.error(`demo failed: ${(err as Error).message}`)
  process.exit(1)
})
