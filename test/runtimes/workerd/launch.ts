/**
 * Runs the agent as a Worker in workerd, through miniflare on Node: the Worker that ./wrangler.toml describes,
 * bundled with the library from dist/. Its outbound fetch trusts exactly the test CA (miniflare's
 * `outboundService` network with `trustBrowserCas: false`); its fetch handler listens on the port where
 * Pebble's VA dials http-01.
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { TestCa } from '../../harness/ca.ts'
import { freePort } from '../../harness/ports.ts'
import { bundleAgent } from '../bundle.ts'
import { root, scratch } from '../paths.ts'
import { type AgentHandle, httpAgent, outputTail, type RuntimeLauncher, retryStart } from '../runner.ts'

const require = createRequire(join(root, 'package.json'))
const outfile = join(scratch, 'workerd/worker.js')

interface WorkerConfig {
  name: string
  main: string
  compatibilityDate: string
  compatibilityFlags: string[]
}
let config: WorkerConfig | undefined

async function readWranglerToml(): Promise<WorkerConfig> {
  const { unstable_readConfig } = await import('wrangler')
  // `main` comes back resolved against the file's folder.
  const c = unstable_readConfig({ config: join(root, 'test/runtimes/workerd/wrangler.toml') })
  if (!c.main || !c.compatibility_date) {
    throw new Error('test/runtimes/workerd/wrangler.toml needs `main` and `compatibility_date`')
  }
  return {
    name: c.name ?? 'worker',
    main: c.main,
    compatibilityDate: c.compatibility_date,
    compatibilityFlags: c.compatibility_flags ?? [],
  }
}

async function startWorker(ca: TestCa | undefined): Promise<AgentHandle> {
  if (!config) throw new Error('prepare() was not called')
  const { Miniflare } = await import('miniflare')
  const output = outputTail()
  const collect = (stream: Readable) => {
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      output.append(chunk)
      if (process.env.WEBACME_E2E_VERBOSE) process.stderr.write(chunk)
    })
  }
  const port = await freePort()
  const mf = new Miniflare({
    name: config.name,
    modules: true,
    scriptPath: outfile,
    compatibilityDate: config.compatibilityDate,
    compatibilityFlags: config.compatibilityFlags,
    host: '127.0.0.1',
    port,
    // Only loopback servers, and only the test CA: neither the system store nor NODE_EXTRA_CA_CERTS.
    outboundService: {
      network: {
        allow: ['private', 'local'],
        deny: [],
        tlsOptions: { trustBrowserCas: false, trustedCertificates: ca ? [ca.caPem] : [] },
      },
    },
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      collect(stdout)
      collect(stderr)
    },
  })
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= mf.dispose()
    return stopped
  }
  await mf.ready
  return httpAgent({
    baseUrl: `http://127.0.0.1:${port}`,
    httpPort: port,
    alive: () => stopped === undefined,
    output,
    stop,
  })
}

export const workerd: RuntimeLauncher = {
  name: 'workerd',
  description:
    'test/runtimes/workerd/wrangler.toml Worker bundled from dist/, run by miniflare; outbound TLS trusts only the test CA',
  async version() {
    const v = (name: string) => (require(`${name}/package.json`) as { version: string }).version
    return `${v('workerd')} (miniflare ${v('miniflare')}, wrangler ${v('wrangler')})`
  },
  async prepare() {
    config = await readWranglerToml()
    await bundleAgent({ entry: config.main, outfile, conditions: ['workerd', 'worker', 'browser'] })
  },
  start: (ca) => retryStart(() => startWorker(ca)),
  // The Worker only sees "internal error; reference = <id>"; workerd logs the TLS reason on its stderr under
  // the same id (wdErrId), which ties that log line to this very fetch.
  untrustedIssuer(_url, probe, output) {
    const ref = /^Error: internal error; reference = (\w+)/.exec(probe.error ?? '')?.[1]
    if (!ref) return undefined
    const reason = "TLS peer's certificate is not trusted; reason = unable to get local issuer certificate"
    const logged = new RegExp(`failed: ${reason}\\nstack: [^\\n]*; wdErrId = ${ref}\\b`).test(output)
    return logged ? `${reason} (wdErrId = ${ref})` : undefined
  },
}
