/**
 * `webacme inspect FILE`: what a certificate, a chain, a CSR or a storage record (`certificates/<name>.json` of
 * `--storage`) holds: names, validity, issuer, serial, the RFC 9773 CertID, and with `--directory` the CA's
 * renewal window (ARI). A record's private key is never shown.
 */
import {
  AcmeClient,
  certId,
  decodePemAll,
  fetchRenewalInfo,
  generateKeyPair,
  isAcmeError,
  type ParsedCertificate,
  parseCertificate,
  parseCertificateRecord,
  parseCsr,
  verifyCsrSignature,
} from 'webacme'
import { clientOptions, DIRECTORY_OPTION } from '../account.ts'
import { type OptionSpecs, parse, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { LocalError } from '../exit-codes.ts'
import { readText } from '../files.ts'
import { resolveDirectory } from '../presets.ts'

const OPTIONS: OptionSpecs = { ...DIRECTORY_OPTION }
const SYNOPSIS =
  'webacme inspect FILE [--directory URL|PRESET]   (FILE: PEM certificate, chain or CSR; or a storage record .json)'
const DAY = 86_400_000

function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes && Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':')
}

function certificateJson(c: ParsedCertificate, now: number): Record<string, unknown> {
  let id: string | undefined
  try {
    id = certId(c)
  } catch {
    id = undefined
  }
  return {
    subject: c.subject.dn,
    issuer: c.issuer.dn,
    serialNumber: c.serialNumber,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    daysLeft: Math.floor((c.notAfter.getTime() - now) / DAY),
    expired: c.notAfter.getTime() < now,
    names: [...c.dnsNames, ...c.ipAddresses],
    isCA: c.isCA ?? false,
    ...(id !== undefined && { certId: id }),
    ...(c.authorityKeyIdentifier && { authorityKeyIdentifier: hex(c.authorityKeyIdentifier) }),
    ...(c.subjectKeyIdentifier && { subjectKeyIdentifier: hex(c.subjectKeyIdentifier) }),
  }
}

function certificateText(j: Record<string, unknown>, label: string): string[] {
  const names = j.names as string[]
  return [
    `${label}`,
    `  subject    ${j.subject || '(empty)'}`,
    `  issuer     ${j.issuer}`,
    `  serial     ${j.serialNumber}`,
    `  valid      ${j.notBefore} .. ${j.notAfter} (${j.expired ? 'EXPIRED' : `${j.daysLeft} days left`})`,
    ...(names.length ? [`  names      ${names.join(', ')}`] : []),
    ...(j.certId ? [`  CertID     ${j.certId}`] : []),
    ...(j.isCA ? ['  CA         yes'] : []),
  ]
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values, positionals } = parse(argv, OPTIONS, { min: 1, max: 1 })
  const { reporter, signal } = base
  const file = positionals[0]!
  const directory = str(values, 'directory')
  const directoryUrl = directory === undefined ? undefined : resolveDirectory(directory)
  let text = await readText(file, 'file')
  let record: Record<string, unknown> | undefined
  if (text.trimStart().startsWith('{')) {
    // A storage record: its chain is inspected, plus what the record says about renewal.
    let parsed: ReturnType<typeof parseCertificateRecord>
    try {
      parsed = parseCertificateRecord(JSON.parse(text), file)
    } catch (err) {
      throw new LocalError(`${file} is not a webacme certificate record: ${(err as Error).message}`, {
        cause: err,
      })
    }
    record = {
      name: parsed.name,
      identifiers: parsed.identifiers.map((i) => i.value),
      issuedAt: parsed.issuedAt,
      ...(parsed.account !== undefined && { account: parsed.account }),
      ...(parsed.profile !== undefined && { profile: parsed.profile }),
    }
    text = parsed.certificate
  }
  const blocks = decodePemAll(text)
  if (blocks.length === 0) throw new LocalError(`${file} holds no PEM block`)
  const now = Date.now()

  if (blocks.every((b) => b.label.endsWith('CERTIFICATE REQUEST'))) {
    const parsed = parseCsr(text)
    const names = parsed.identifiers.map((i) => i.value)
    // RFC 2986 §4.2: whether the request is signed by the key it carries (a CA refuses it otherwise).
    const verified = await verifyCsrSignature(parsed)
    const signature = verified === undefined ? 'not checked' : verified ? 'valid' : 'invalid'
    return {
      json: { kind: 'csr', names, ...(parsed.commonName && { commonName: parsed.commonName }), signature },
      text: [
        'certificate request',
        `  names      ${names.join(', ')}`,
        ...(parsed.commonName ? [`  CN         ${parsed.commonName}`] : []),
        `  signature  ${signature}${verified === false ? ' (altered, or signed with another key: a CA refuses it)' : ''}`,
      ],
    }
  }
  const certificates = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(b.der))
  if (certificates.length === 0) throw new LocalError(`${file} holds no certificate or certificate request`)
  const json = certificates.map((c) => certificateJson(c, now))
  const lines = json.flatMap((j, i) => certificateText(j, i === 0 ? 'certificate' : `issuer ${i}`))
  const result: Record<string, unknown> = {
    kind: record ? 'record' : certificates.length > 1 ? 'chain' : 'certificate',
    ...(record && { record }),
    certificates: json,
  }
  if (record) {
    lines.unshift(
      `stored certificate "${record.name}"`,
      `  renews     ${(record.identifiers as string[]).join(', ')}${record.account ? ` (account "${record.account}")` : ''}`,
      `  stored at  ${record.issuedAt}`,
    )
  }

  if (directoryUrl !== undefined) {
    // renewalInfo is unauthenticated (RFC 9773 §4.1): a throw-away key makes the client, nothing is signed.
    const client = new AcmeClient({
      directoryUrl,
      accountKey: await generateKeyPair('ES256'),
      ...clientOptions({ values, reporter, signal }),
    })
    try {
      const info = await fetchRenewalInfo(client, certificates[0]!, { signal })
      result.renewalInfo = {
        url: info.url,
        suggestedWindow: {
          start: info.suggestedWindow.start.toISOString(),
          end: info.suggestedWindow.end.toISOString(),
        },
        ...(info.explanationURL && { explanationURL: info.explanationURL }),
        retryAfter: info.retryAfter.toISOString(),
      }
      lines.push(
        `  renewal    ${info.suggestedWindow.start.toISOString()} .. ${info.suggestedWindow.end.toISOString()} (the CA's window, RFC 9773)`,
        ...(info.explanationURL ? [`  why        ${info.explanationURL}`] : []),
      )
    } catch (err) {
      if (!(isAcmeError(err) && err.code === 'ERR_UNSUPPORTED')) throw err
      result.renewalInfo = null
      lines.push(`  renewal    ${err.message}`)
    }
  }
  return { json: result, text: lines }
}

export const inspect: Command = {
  name: 'inspect',
  summary: 'show a certificate, chain or CSR (names, validity, CertID, ARI window)',
  usage: () => usageText(SYNOPSIS, OPTIONS),
  run,
}
