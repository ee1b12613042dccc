/**
 * `webacme issue`: one certificate for the given names. Writes privkey.pem, cert.pem, chain.pem and fullchain.pem
 * into `--out DIR/<name>/` (0600, all or nothing) and/or keeps the account and certificate in --storage for
 * `webacme renew`, then runs `--deploy-hook`. Everything that can be checked locally (flags, files, ports, DNS
 * credentials) is checked before the first request to the CA: a run that could not deliver never orders.
 */
import {
  exportPrivateKeyPem,
  InvalidArgumentError,
  type IssueEvent,
  issueCertificate,
  saveCertificate,
  splitPemChain,
  storageKeys,
  toIdentifier,
} from 'webacme'
import { ACCOUNT_OPTIONS, DIRECTORY_OPTION, ensureAccount, openAccount } from '../account.ts'
import { flag, list, type OptionSpecs, parse, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { DEPLOY_HOOK_OPTION, outDir, runDeployHook, writeCertificateFiles } from '../deploy.ts'
import { UsageError } from '../exit-codes.ts'
import { probeWritable } from '../files.ts'
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
    help: 'write DIR/<name>/privkey.pem, cert.pem, chain.pem, fullchain.pem (0600)',
  },
  name: {
    type: 'string',
    value: 'NAME',
    help: 'certificate name: --out DIR/<name>/ and the --storage record (default: the first --domain)',
  },
  ...DEPLOY_HOOK_OPTION,
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
  const deployHook = str(values, 'deploy-hook')
  if (out === undefined && storageDir === undefined) {
    throw new UsageError('say where the certificate goes: --out DIR, --storage DIR, or both')
  }
  if (deployHook !== undefined && out === undefined)
    throw new UsageError('--deploy-hook needs --out (the hook is told where the files are)')
  if (str(values, 'directory') === undefined && storageDir === undefined)
    throw new UsageError('--directory is required')
  const certKeySpec = keySpec(str(values, 'key-type'), 'key-type')
  const name = str(values, 'name') ?? domains[0]!.replace(/^\*\./, 'wildcard.')
  try {
    storageKeys.certificate(name) // one safe path segment: it names a directory under --out too
  } catch (err) {
    throw new UsageError(
      `--name ${JSON.stringify(name)}: ${err instanceof InvalidArgumentError ? err.message : String(err)}`,
    )
  }

  // Local checks, before any request: the account key file is written only once they pass.
  const opened = await openAccount(ctx, { createKey: true, deferKeyWrite: true, perCallSignal: true })
  if (opened.newKey && !flag(values, 'agree-tos')) {
    throw new UsageError(
      "creating an account needs your agreement to the CA's terms of service: pass --agree-tos",
    )
  }
  if (out !== undefined) await probeWritable(outDir(out, name), '--out')
  if (storageDir !== undefined) await probeWritable(storageDir, '--storage')
  const keyPath = str(values, 'account-key')
  if (opened.newKey && keyPath !== undefined) await probeWritable(keyPath, '--account-key')
  // Ports bound and DNS credentials read now; the servers answer until the end.
  const solvers = await buildSolvers(ctx)
  try {
    for (const line of solvers.described) reporter.step(line)
    await opened.writeNewKey()
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
      // Ctrl-C: leave no pending authorization behind (RFC 8555 §7.5.2), as a failure does.
      deactivateOnAbort: true,
      onEvent: (event) => {
        const line = describeIssueEvent(event)
        if (line) reporter.step(line)
      },
    })
    const leaf = issued.parsed
    reporter.step(`issued: serial ${leaf.serialNumber}, valid until ${leaf.notAfter.toISOString()}`)
    const sans = [...leaf.dnsNames, ...leaf.ipAddresses]

    let files: string[] = []
    if (out !== undefined) {
      const privateKeyPem = await exportPrivateKeyPem(issued.certificateKey.privateKey)
      files = await writeCertificateFiles(out, name, issued.certificate, privateKeyPem)
      reporter.step(`wrote ${files.length} files to ${outDir(out, name)}`)
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
    if (deployHook !== undefined && out !== undefined) {
      await runDeployHook(
        deployHook,
        { name, domains: sans, dir: outDir(out, name), renewed: false },
        { env: ctx.env, reporter, signal },
      )
    }
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
        name,
        files,
        ...(opened.storage && { storage: { directory: opened.storage.directory, name } }),
        ...(deployHook !== undefined && { deployHook: { exitCode: 0 } }),
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
