/**
 * The challenge solvers a command line asks for, in the order given by the table below: `--http-port`,
 * `--webroot`, `--tls-alpn-port`, `--dns`. Several may be given; each authorization uses the first one the CA
 * offers a challenge for (a wildcard needs `--dns`).
 */
import type { ChallengeSolver } from 'webacme'
import { exclusive, int, list, type OptionSpecs, str } from '../args.ts'
import type { Context } from '../context.ts'
import { UsageError } from '../exit-codes.ts'
import { certbotHookSolver, DNS_PROVIDERS, dnsSolver } from './dns.ts'
import { startHttp01Server } from './http.ts'
import { startTlsAlpn01Server } from './tls-alpn.ts'
import { webrootSolver } from './webroot.ts'

export const SOLVER_OPTIONS: OptionSpecs = {
  'http-port': {
    type: 'string',
    value: 'N',
    help: 'answer http-01 from a server on this port (the CA dials port 80)',
  },
  'http-host': { type: 'string', value: 'HOST', help: 'address for --http-port (default: every interface)' },
  webroot: {
    type: 'string',
    value: 'DIR',
    help: 'answer http-01 by writing DIR/.well-known/acme-challenge/<token>',
  },
  dns: {
    type: 'string',
    value: 'PROVIDER',
    help: `answer dns-01 through ${Object.keys(DNS_PROVIDERS).join(', ')} (credentials from the environment)`,
  },
  'manual-auth-hook': {
    type: 'string',
    value: 'CMD',
    help: 'answer dns-01 through certbot-style hooks: CMD runs (/bin/sh) with CERTBOT_DOMAIN, CERTBOT_VALIDATION, ...',
  },
  'manual-cleanup-hook': {
    type: 'string',
    value: 'CMD',
    help: 'removes what --manual-auth-hook added (CERTBOT_AUTH_OUTPUT holds what it printed)',
  },
  'dns-resolver': {
    type: 'string',
    value: 'URL',
    help: 'DNS-over-HTTPS resolver for the propagation check: default (public resolvers), none, or a URL',
  },
  'tls-alpn-port': {
    type: 'string',
    value: 'N',
    help: 'answer tls-alpn-01 from a TLS server on this port (the CA dials 443)',
  },
  'tls-alpn-host': {
    type: 'string',
    value: 'HOST',
    help: 'address for --tls-alpn-port (default: every interface)',
  },
}

export interface Solvers {
  solvers: ChallengeSolver[]
  /** One line per solver, for the progress output. */
  described: string[]
  /** Stops the servers that were started. */
  close(): Promise<void>
}

export function hasSolver(ctx: Context): boolean {
  return ['http-port', 'webroot', 'dns', 'tls-alpn-port', 'manual-auth-hook'].some(
    (n) => ctx.values[n] !== undefined,
  )
}

/** Starts what the solver flags ask for. Throws UsageError when none is given. */
export async function buildSolvers(ctx: Context): Promise<Solvers> {
  const { values, env, reporter } = ctx
  if (!hasSolver(ctx)) {
    throw new UsageError(
      'say how to answer the CA: --http-port N, --webroot DIR, --dns PROVIDER, --manual-auth-hook CMD or --tls-alpn-port N',
    )
  }
  if (values['http-host'] !== undefined && values['http-port'] === undefined)
    throw new UsageError('--http-host needs --http-port')
  if (values['tls-alpn-host'] !== undefined && values['tls-alpn-port'] === undefined) {
    throw new UsageError('--tls-alpn-host needs --tls-alpn-port')
  }
  const authHook = str(values, 'manual-auth-hook')
  if (values['dns-resolver'] !== undefined && values.dns === undefined && authHook === undefined)
    throw new UsageError('--dns-resolver needs --dns or --manual-auth-hook')
  if (values['manual-cleanup-hook'] !== undefined && authHook === undefined)
    throw new UsageError('--manual-cleanup-hook needs --manual-auth-hook')
  exclusive(values, 'dns', 'manual-auth-hook')
  const httpPort = int(values, 'http-port', 1, 65535)
  const tlsPort = int(values, 'tls-alpn-port', 1, 65535)
  const webroot = str(values, 'webroot')
  const dns = str(values, 'dns')
  // Build what can fail on bad input first (DNS credentials), before any port is opened.
  const dns01 =
    dns !== undefined
      ? await dnsSolver(dns, str(values, 'dns-resolver'), env, reporter)
      : authHook !== undefined
        ? await certbotHookSolver(
            {
              auth: authHook,
              cleanup: str(values, 'manual-cleanup-hook'),
              allDomains: list(values, 'domain'),
            },
            str(values, 'dns-resolver'),
            env,
          )
        : undefined

  const solvers: ChallengeSolver[] = []
  const described: string[] = []
  const closers: Array<() => Promise<void>> = []
  const close = async () => {
    await Promise.all(closers.map((c) => c()))
  }
  try {
    if (httpPort !== undefined) {
      const server = await startHttp01Server(httpPort, str(values, 'http-host'))
      closers.push(server.close)
      solvers.push(server.solver)
      described.push(`http-01 served on ${server.address}`)
    }
    if (webroot !== undefined) {
      solvers.push(webrootSolver(webroot))
      described.push(`http-01 through the webroot ${webroot}`)
    }
    if (tlsPort !== undefined) {
      const server = await startTlsAlpn01Server(tlsPort, str(values, 'tls-alpn-host'))
      closers.push(server.close)
      solvers.push(server.solver)
      described.push(`tls-alpn-01 served on ${server.address}`)
    }
    if (dns01) {
      solvers.push(dns01)
      described.push(`dns-01 through ${dns ?? 'the certbot-style --manual-auth-hook'}`)
    }
  } catch (err) {
    await close()
    throw err
  }
  return { solvers, described, close }
}
