/**
 * `webacme serve`: HTTPS in front of a local app in one command. Certificates are issued on demand at the first
 * handshake for an allowed name (`webacme/tls`), kept in --storage, renewed in the background; tls-alpn-01 is
 * answered on the HTTPS port itself and http-01 on the HTTP port, which redirects everything else to https.
 * Runs until SIGINT/SIGTERM.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as NetServer } from 'node:net'
import { type CertificateKeyType, type CertificateManagerEvent, createCertificateManager } from 'webacme/tls'
import {
  ACCOUNT_OPTIONS,
  DIRECTORY_OPTION,
  ensureAccount,
  externalAccountBinding,
  openAccount,
} from '../account.ts'
import { flag, int, list, type OptionSpecs, parse, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { LocalError, UsageError } from '../exit-codes.ts'
import { createProxy } from '../proxy.ts'

const OPTIONS: OptionSpecs = {
  ...DIRECTORY_OPTION,
  allow: {
    type: 'string',
    multiple: true,
    value: 'NAME|*.DOMAIN',
    help: 'a name that may get a certificate; *.example.com allows every name one label under it',
  },
  to: { type: 'string', value: 'URL', help: 'the local app, e.g. http://127.0.0.1:3000' },
  'http-port': {
    type: 'string',
    value: 'N',
    help: 'HTTP port: http-01 answers and redirects to https (default 80; 0 turns it off)',
  },
  'https-port': { type: 'string', value: 'N', help: 'HTTPS port, also answers tls-alpn-01 (default 443)' },
  listen: { type: 'string', value: 'HOST', help: 'address to listen on (default: every interface)' },
  'key-type': {
    type: 'string',
    value: 'TYPE',
    help: 'certificate key: ec256 (default), ec384, rsa2048, rsa3072, rsa4096',
  },
  ...ACCOUNT_OPTIONS,
}

const SYNOPSIS =
  'webacme serve --allow NAME|*.DOMAIN [--allow ...] --to http://127.0.0.1:PORT --storage DIR --directory URL|PRESET --agree-tos [--http-port 80] [--https-port 443] [options]'

const KEY_TYPES: Record<string, CertificateKeyType> = {
  ec256: 'ec-p256',
  ec384: 'ec-p384',
  rsa2048: 'rsa-2048',
  rsa3072: 'rsa-3072',
  rsa4096: 'rsa-4096',
}

function describeEvent(event: CertificateManagerEvent): string {
  switch (event.type) {
    case 'issued':
      return `${event.name}: issued serial ${event.serialNumber} in ${event.ms} ms, valid until ${event.notAfter.toISOString()}`
    case 'renewed':
      return `${event.name}: renewed (serial ${event.serialNumber}${event.byThisProcess ? '' : ', by another process'})`
    case 'refused':
      return `${event.name}: refused (${event.reason}${event.remoteAddress ? ` from ${event.remoteAddress}` : ''})`
    case 'failed':
      return `${event.name}: issuance failed${event.fastFail ? ' (CA breaker open)' : ''}: ${(event.error as Error)?.message ?? String(event.error)}`
    case 'served-stale':
      return `${event.name}: serving the ${event.expired ? 'expired' : 'old'} certificate ${event.serialNumber} (renewal failing)`
  }
}

function listen(server: NetServer | HttpServer, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new LocalError(
          `cannot listen on ${host ?? '*'}:${port}: ${err.code === 'EACCES' ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : err.message}`,
        ),
      ),
    )
    server.listen({ port, ...(host !== undefined && { host }) }, () => {
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : port)
    })
  })
}

function close(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    if ('closeAllConnections' in server) server.closeAllConnections()
  })
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values, positionals } = parse(argv, OPTIONS)
  const ctx: Context = { ...base, values, positionals }
  const { reporter, signal } = ctx
  const allow = list(values, 'allow')
  if (allow.length === 0)
    throw new UsageError('at least one --allow NAME is required (there is no allow-all)')
  const toFlag = str(values, 'to')
  if (toFlag === undefined) throw new UsageError('--to URL of the local app is required')
  let target: URL
  try {
    target = new URL(toFlag)
  } catch {
    throw new UsageError(`--to must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(toFlag)}`)
  }
  if (target.protocol !== 'http:') throw new UsageError(`--to must be an http: URL, got ${target.protocol}`)
  if (str(values, 'storage') === undefined)
    throw new UsageError('--storage DIR is required: certificates and keys live there')
  if (str(values, 'account-key') !== undefined)
    throw new UsageError('serve keeps its account in --storage (use --account NAME), not --account-key')
  if (!flag(values, 'agree-tos')) {
    throw new UsageError(
      "serve creates the account and orders certificates unattended: pass --agree-tos to agree to the CA's terms of service",
    )
  }
  const httpPort = int(values, 'http-port', 0, 65535) ?? 80
  const httpsPort = int(values, 'https-port', 1, 65535) ?? 443
  const host = str(values, 'listen')
  const keyTypeFlag = (str(values, 'key-type') ?? 'ec256').toLowerCase()
  const keyType = KEY_TYPES[keyTypeFlag]
  if (!keyType)
    throw new UsageError(`--key-type must be one of ${Object.keys(KEY_TYPES).join(', ')}, got ${keyTypeFlag}`)

  const opened = await openAccount(ctx, { createKey: true })
  const storage = opened.storage!
  const account = await ensureAccount(ctx, opened)
  const contact = list(values, 'email')
  const eab = externalAccountBinding(ctx)
  const manager = createCertificateManager({
    client: opened.client,
    account: {
      termsOfServiceAgreed: true,
      ...(contact.length && { contact }),
      ...(eab && { externalAccountBinding: eab }),
    },
    storage,
    allow,
    keyType,
    challenges: { tlsAlpn01: true, http01: httpPort !== 0 },
    onEvent: (event) => {
      const line = describeEvent(event)
      if (event.type === 'failed' || event.type === 'served-stale') reporter.warn(line)
      else reporter.step(line)
    },
  })
  const proxy = createProxy(target, (message) => reporter.warn(message))
  const https = createHttpsServer({ SNICallback: manager.SNICallback }, proxy.handle)
  https.on('upgrade', proxy.upgrade)
  // A client that gives up mid-handshake (or asks for a refused name) is not an error of the server.
  https.on('tlsClientError', () => {})
  const front = manager.listener(https)
  const http = httpPort === 0 ? undefined : createHttpServer(manager.httpHandler)
  const servers: Array<NetServer | HttpServer> = []
  try {
    const boundHttps = await listen(front, httpsPort, host)
    servers.push(front)
    const boundHttp = http ? await listen(http, httpPort, host) : undefined
    if (http) servers.push(http)
    const where = host ?? '*'
    reporter.step(
      `serving https://${where}:${boundHttps} -> ${target.origin}${boundHttp === undefined ? '' : `, http://${where}:${boundHttp} (http-01, redirects)`}; allowed: ${allow.join(', ')}`,
    )
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve()
      else signal.addEventListener('abort', () => resolve(), { once: true })
    })
    reporter.step('stopping')
    const stats = manager.stats()
    return {
      json: {
        account: account.url,
        storage: storage.directory,
        https: boundHttps,
        ...(boundHttp !== undefined && { http: boundHttp }),
        stats,
      },
      text: [
        `served ${stats.cached} certificate(s); issued ${stats.issued}, renewed ${stats.renewed}, refused ${stats.refused}, failed ${stats.failed}`,
      ],
    }
  } finally {
    await Promise.all(servers.map(close))
    await close(https)
    proxy.close()
    await manager.close()
  }
}

export const serve: Command = {
  name: 'serve',
  summary: 'HTTPS reverse proxy in front of a local app, certificates issued on demand',
  usage: () =>
    usageText(
      SYNOPSIS,
      OPTIONS,
      'Serves HTTPS for the --allow names (a certificate is ordered at the first handshake for a name, kept in\n' +
        '--storage and renewed in the background) and forwards every request to --to with X-Forwarded-For,\n' +
        '-Proto and -Host. tls-alpn-01 is answered on the HTTPS port, http-01 on the HTTP port, which redirects the\n' +
        'rest to https. Runs until Ctrl-C (SIGINT) or SIGTERM.',
    ),
  run,
}
