/**
 * `webacme issue`: one certificate for the given names. Writes privkey.pem, cert.pem, chain.pem and fullchain.pem
 * into --out (0600, all or nothing) and/or keeps the account and certificate in --storage for `webacme renew`.
 */
import {
  exportPrivateKeyPem,
  type IssuedCertificate,
  type IssueEvent,
  issueCertificate,
  saveCertificate,
  splitPemChain,
  toIdentifier,
} from 'webacme'
import { ACCOUNT_OPTIONS, DIRECTORY_OPTION, ensureAccount, openAccount } from '../account.ts'
import { flag, list, type OptionSpecs, parse, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { UsageError } from '../exit-codes.ts'
import { writeFilesAtomic } from '../files.ts'
import { keySpec, newKey } from '../keys.ts'
import { buildSolvers, SOLVER_OPTIONS } from '../solvers/index.ts'

const OPTIONS: OptionSpecs = {
  ...DIRECTORY_OPTION,
  domain: {
    type: 'string',
    multiple: true,
    short: 'd',
    value: 'NAME',
    help: 'name to certify (DNS name, *.wildcard or IP)',
  },
  out: {
    type: 'string',
    value: 'DIR',
    help: 'write privkey.pem, cert.pem, chain.pem, fullchain.pem here (0600)',
  },
  name: {
    type: 'string',
    value: 'NAME',
    help: 'certificate name in --storage (default: the first --domain)',
  },
  'key-type': {
    type: 'string',
    value: 'TYPE',
    help: 'certificate key: ec256 (default), ec384, ec521, rsa2048, rsa3072, rsa4096, ed25519',
  },
  profile: { type: 'string', value: 'NAME', help: 'certificate profile the CA offers (e.g. shortlived)' },
  'preferred-chain': {
    type: 'string',
    value: 'CN',
    help: 'pick the chain whose top certificate is issued by this common name',
  },
  ...ACCOUNT_OPTIONS,
  ...SOLVER_OPTIONS,
}

const SYNOPSIS =
  'webacme issue --directory URL|PRESET --domain NAME [--domain NAME ...] --agree-tos (--out DIR | --storage DIR) (--http-port N | --webroot DIR | --dns PROVIDER | --tls-alpn-port N) [options]'

/** The PEM files of an issued certificate, as --out gets them. */
export async function pemFiles(
  issued: Pick<IssuedCertificate, 'certificate' | 'certificateKey'>,
): Promise<Record<string, string>> {
  const [leaf, ...chain] = splitPemChain(issued.certificate)
  const join = (blocks: string[]) => blocks.map((b) => `${b.trim()}\n`).join('')
  return {
    'privkey.pem': await exportPrivateKeyPem(issued.certificateKey.privateKey),
    'cert.pem': join([leaf!]),
    'chain.pem': join(chain),
    'fullchain.pem': join([leaf!, ...chain]),
  }
}

/** One progress line per issuance step. */
export function describeIssueEvent(event: IssueEvent): string | undefined {
  switch (event.type) {
    case 'order':
      return `order ${event.resumed ? 'resumed' : 'placed'}: ${event.order.url} (${event.order.status})`
    case 'authorization':
      return `${event.identifier.value}: ${event.status === 'reused' ? 'already authorized' : event.status}`
    case 'finalize':
      return 'finalizing'
    case 'certificate':
      return 'downloading the certificate'
    case 'cleanup-error':
      return `cleanup of ${event.challengeType} for ${event.identifier.value} failed: ${(event.error as Error)?.message ?? event.error}`
    case 'authorization-deactivated':
      return `deactivated the pending authorization of ${event.identifier.value}`
    case 'deactivate-error':
      return `could not deactivate ${event.url}: ${(event.error as Error)?.message ?? event.error}`
    case 'replaces-dropped':
      return 'the CA refused "replaces"; ordered without it'
  }
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values, positionals } = parse(argv, OPTIONS)
  const ctx: Context = { ...base, values, positionals }
  const { reporter, signal } = ctx
  const domains = list(values, 'domain')
  if (domains.length === 0) throw new UsageError('at least one --domain is required')
  // A name that cannot be ordered is refused before any key is made or request sent (ERR_INVALID_ARGUMENT).
  for (const domain of domains) toIdentifier(domain)
  const out = str(values, 'out')
  const storageDir = str(values, 'storage')
  if (out === undefined && storageDir === undefined) {
    throw new UsageError('say where the certificate goes: --out DIR, --storage DIR, or both')
  }
  if (str(values, 'directory') === undefined && storageDir === undefined)
    throw new UsageError('--directory is required')
  const certKeySpec = keySpec(str(values, 'key-type'), 'key-type')
  const name = str(values, 'name') ?? domains[0]!.replace(/^\*\./, 'wildcard.')

  const opened = await openAccount(ctx, { createKey: true })
  // Refuse a new account without agreement before any port is opened or request sent.
  if (opened.newKey && !flag(values, 'agree-tos')) {
    throw new UsageError(
      "creating an account needs your agreement to the CA's terms of service: pass --agree-tos",
    )
  }
  const solvers = await buildSolvers(ctx)
  try {
    for (const line of solvers.described) reporter.step(line)
    const account = await ensureAccount(ctx, opened)
    const profile = str(values, 'profile')
    const preferredChain = str(values, 'preferred-chain')
    const issued = await issueCertificate({
      client: opened.client,
      identifiers: domains,
      solvers: solvers.solvers,
      certificateKey: await newKey(certKeySpec),
      ...(profile !== undefined && { profile }),
      ...(preferredChain !== undefined && { preferredChain }),
      signal,
      onEvent: (event) => {
        const line = describeIssueEvent(event)
        if (line) reporter.step(line)
      },
    })
    const leaf = issued.parsed
    reporter.step(`issued: serial ${leaf.serialNumber}, valid until ${leaf.notAfter.toISOString()}`)

    let files: string[] = []
    if (out !== undefined) {
      files = await writeFilesAtomic(out, await pemFiles(issued))
      reporter.step(`wrote ${files.length} files to ${out}`)
    }
    if (opened.storage) {
      await saveCertificate(opened.storage, name, issued, {
        account: opened.accountName,
        ...(profile !== undefined && { profile }),
      })
      reporter.step(
        `stored as "${name}" in ${opened.storage.directory} (webacme renew --storage ${opened.storage.directory})`,
      )
    }
    const sans = [...leaf.dnsNames, ...leaf.ipAddresses]
    return {
      json: {
        account: account.url,
        order: issued.order.url,
        certificate: {
          serialNumber: leaf.serialNumber,
          subject: leaf.subject.dn,
          issuer: leaf.issuer.dn,
          names: sans,
          notBefore: leaf.notBefore.toISOString(),
          notAfter: leaf.notAfter.toISOString(),
          chainLength: splitPemChain(issued.certificate).length,
        },
        files,
        ...(opened.storage && { storage: { directory: opened.storage.directory, name } }),
      },
      text: [
        `certificate for ${sans.join(', ')}`,
        `  serial   ${leaf.serialNumber}`,
        `  issuer   ${leaf.issuer.dn}`,
        `  valid    ${leaf.notBefore.toISOString()} .. ${leaf.notAfter.toISOString()}`,
        ...files.map((f) => `  wrote    ${f}`),
      ],
    }
  } finally {
    await solvers.close()
  }
}

export const issue: Command = {
  name: 'issue',
  summary: 'issue a certificate (http-01, webroot, dns-01 or tls-alpn-01)',
  usage: () =>
    usageText(
      SYNOPSIS,
      OPTIONS,
      'Orders a certificate, answers the challenges, and writes the key and chain.',
    ),
  run,
}
