/** `webacme revoke --cert FILE (--account-key FILE | --cert-key FILE) [--reason R]` (RFC 8555 §7.6). */
import {
  AcmeClient,
  generateKeyPair,
  importPrivateKeyPem,
  parseCertificate,
  REVOCATION_REASONS,
  type RevocationReason,
} from 'webacme'
import { clientOptions, DIRECTORY_OPTION, ensureAccount, openAccount } from '../account.ts'
import { type OptionSpecs, parse, required, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { LocalError, UsageError } from '../exit-codes.ts'
import { readText } from '../files.ts'
import { resolveDirectory } from '../presets.ts'

const OPTIONS: OptionSpecs = {
  ...DIRECTORY_OPTION,
  cert: { type: 'string', value: 'FILE', help: 'the certificate (PEM; the first certificate of a chain)' },
  'account-key': { type: 'string', value: 'FILE', help: 'sign with the account that ordered it' },
  'cert-key': { type: 'string', value: 'FILE', help: "sign with the certificate's own private key instead" },
  storage: { type: 'string', value: 'DIR', help: 'use the account kept in this storage directory' },
  account: { type: 'string', value: 'NAME', help: 'account record name in --storage (default "default")' },
  reason: {
    type: 'string',
    value: 'REASON',
    help: `RFC 5280 reason: ${Object.keys(REVOCATION_REASONS).join(', ')}, or its code`,
  },
}

const SYNOPSIS =
  'webacme revoke --directory URL|PRESET --cert FILE (--account-key FILE | --cert-key FILE) [--reason REASON]'

function reasonOf(value: string | undefined): RevocationReason | undefined {
  if (value === undefined) return undefined
  const codes = Object.values(REVOCATION_REASONS) as number[]
  if (/^\d+$/.test(value) && codes.includes(Number(value))) return Number(value) as RevocationReason
  const name = Object.keys(REVOCATION_REASONS).find((k) => k.toLowerCase() === value.toLowerCase())
  if (name) return name as RevocationReason
  throw new UsageError(
    `--reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')} or its code, got ${value}`,
  )
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values, positionals } = parse(argv, OPTIONS)
  const ctx: Context = { ...base, values, positionals }
  const { reporter, signal } = ctx
  const certPath = required(values, 'cert')
  const reason = reasonOf(str(values, 'reason'))
  const certKeyPath = str(values, 'cert-key')
  const byAccount = values['account-key'] !== undefined || values.storage !== undefined
  if (byAccount === (certKeyPath !== undefined)) {
    throw new UsageError(
      'sign the revocation with exactly one of --account-key FILE (or --storage DIR) and --cert-key FILE',
    )
  }
  const pem = await readText(certPath, 'certificate')
  let leaf: ReturnType<typeof parseCertificate>
  try {
    leaf = parseCertificate(pem)
  } catch (err) {
    throw new LocalError(`${certPath} holds no certificate: ${(err as Error).message}`, { cause: err })
  }
  let client: AcmeClient
  let certificateKey: CryptoKeyPair | undefined
  if (certKeyPath !== undefined) {
    const directoryUrl = resolveDirectory(required(values, 'directory'))
    try {
      certificateKey = await importPrivateKeyPem(await readText(certKeyPath, 'certificate key'))
    } catch (err) {
      if (err instanceof LocalError) throw err
      throw new LocalError(`${certKeyPath} is not a usable private key: ${(err as Error).message}`, {
        cause: err,
      })
    }
    // No account is involved: the request is signed with the certificate key (RFC 8555 §7.6, jwk form).
    client = new AcmeClient({
      directoryUrl,
      accountKey: await generateKeyPair('ES256'),
      ...clientOptions(ctx),
    })
  } else {
    const opened = await openAccount(ctx, { createKey: false })
    await ensureAccount(ctx, opened)
    client = opened.client
  }
  reporter.step(
    `revoking serial ${leaf.serialNumber} (${[...leaf.dnsNames, ...leaf.ipAddresses].join(', ')})`,
  )
  await client.revokeCertificate(pem, {
    ...(reason !== undefined && { reason }),
    ...(certificateKey && { certificateKey }),
    signal,
  })
  return {
    json: { serialNumber: leaf.serialNumber, revoked: true, ...(reason !== undefined && { reason }) },
    text: [`revoked serial ${leaf.serialNumber}${reason !== undefined ? ` (${reason})` : ''}`],
  }
}

export const revoke: Command = {
  name: 'revoke',
  summary: 'revoke a certificate (signed by the account or by the certificate key)',
  usage: () => usageText(SYNOPSIS, OPTIONS),
  run,
}
