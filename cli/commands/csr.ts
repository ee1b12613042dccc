/** `webacme csr --domain NAME ... --key-out FILE --out FILE`: a certificate request for another tool or CA. */
import { createCsr, csrToPem, exportPrivateKeyPem, parseCsr } from 'webacme'
import { flag, list, type OptionSpecs, parse, required, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { UsageError } from '../exit-codes.ts'
import { exists, writeFileAtomic } from '../files.ts'
import { keySpec, newKey, readKey } from '../keys.ts'

const OPTIONS: OptionSpecs = {
  domain: {
    type: 'string',
    multiple: true,
    short: 'd',
    value: 'NAME',
    help: 'name for the subjectAltName (DNS name or IP)',
  },
  out: { type: 'string', value: 'FILE', help: 'where to write the CSR (PEM)' },
  'key-out': {
    type: 'string',
    value: 'FILE',
    help: 'where to write the new private key (PEM, 0600); an existing file needs --force',
  },
  force: { type: 'boolean', help: 'let --key-out replace an existing key file' },
  key: { type: 'string', value: 'FILE', help: 'use this existing private key instead of a new one' },
  'key-type': {
    type: 'string',
    value: 'TYPE',
    help: 'type of a new key: ec256 (default), ec384, ec521, rsa2048, ...',
  },
}

const SYNOPSIS = 'webacme csr --domain NAME [--domain NAME ...] (--key-out FILE | --key FILE) --out FILE'

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values } = parse(argv, OPTIONS)
  const { reporter } = base
  const domains = list(values, 'domain')
  if (domains.length === 0) throw new UsageError('at least one --domain is required')
  const out = required(values, 'out')
  const keyPath = str(values, 'key')
  const keyOut = str(values, 'key-out')
  if ((keyPath === undefined) === (keyOut === undefined)) {
    throw new UsageError('give exactly one of --key-out FILE (a new key) and --key FILE (an existing key)')
  }
  if (keyPath !== undefined && values['key-type'] !== undefined)
    throw new UsageError('--key-type is for a new key (--key-out)')
  // A key is not something to lose to a repeated command line: refuse before anything is generated.
  if (keyOut !== undefined && !flag(values, 'force') && (await exists(keyOut))) {
    throw new UsageError(
      `--key-out ${keyOut} exists: pass --force to replace that key, or --key ${keyOut} to make a CSR with it`,
    )
  }
  const keys =
    keyPath !== undefined
      ? await readKey(keyPath, 'private key')
      : await newKey(keySpec(str(values, 'key-type'), 'key-type'))
  const pem = csrToPem(await createCsr({ keys, identifiers: domains }))
  if (keyOut !== undefined) {
    await writeFileAtomic(keyOut, await exportPrivateKeyPem(keys.privateKey))
    reporter.step(`private key written to ${keyOut}`)
  }
  await writeFileAtomic(out, pem, 0o644)
  const names = parseCsr(pem).identifiers.map((i) => i.value)
  return {
    json: { csr: out, key: keyOut ?? keyPath, names },
    text: [`CSR for ${names.join(', ')} written to ${out}`],
  }
}

export const csr: Command = {
  name: 'csr',
  summary: 'create a certificate signing request (PKCS#10) and its key',
  usage: () => usageText(SYNOPSIS, OPTIONS),
  run,
}
