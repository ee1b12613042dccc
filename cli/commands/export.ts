/**
 * `webacme export --storage DIR [--name NAME ...] --out DIR`: the PEM files of stored certificates, written as
 * `issue --out` and `renew --out` write them (`DIR/<name>/{privkey,cert,chain,fullchain}.pem`, 0600, atomically),
 * for a server that was set up after the certificate was issued, or files that were lost.
 */
import { readCertificateRecord } from 'webacme'
import { openStorage, storedCertificateNames } from '../account.ts'
import { list, type OptionSpecs, parse, required, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { DEPLOY_HOOK_OPTION, outDir, runDeployHook, writeCertificateFiles } from '../deploy.ts'
import { LocalError, UsageError } from '../exit-codes.ts'
import { exists, probeWritable } from '../files.ts'

const OPTIONS: OptionSpecs = {
  storage: {
    type: 'string',
    value: 'DIR',
    help: 'the storage directory that `webacme issue --storage` filled',
  },
  name: { type: 'string', multiple: true, value: 'NAME', help: 'only this certificate (default: all)' },
  out: {
    type: 'string',
    value: 'DIR',
    help: 'write DIR/<name>/privkey.pem, cert.pem, chain.pem, fullchain.pem',
  },
  ...DEPLOY_HOOK_OPTION,
}

const SYNOPSIS = 'webacme export --storage DIR [--name NAME ...] --out DIR [--deploy-hook CMD]'

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values } = parse(argv, OPTIONS)
  const { reporter, signal } = base
  const storageDir = required(values, 'storage')
  const out = required(values, 'out')
  const deployHook = values['deploy-hook'] as string | undefined
  if (!(await exists(storageDir))) throw new LocalError(`--storage ${storageDir} does not exist`)
  const storage = openStorage(storageDir)
  const { names } = await storedCertificateNames(storage, list(values, 'name'))
  if (names.length === 0) throw new UsageError(`${storageDir} holds no certificate`)
  await probeWritable(out, '--out')
  const exported: Array<{ name: string; serialNumber: string; notAfter: string; files: string[] }> = []
  for (const name of names) {
    const record = await readCertificateRecord(storage, name)
    if (!record) throw new LocalError(`certificate ${name} vanished from ${storageDir}`)
    const files = await writeCertificateFiles(out, name, record.certificate, record.privateKey)
    reporter.step(`${name}: wrote ${files.length} files to ${outDir(out, name)}`)
    exported.push({ name, serialNumber: record.serialNumber, notAfter: record.notAfter, files })
    if (deployHook !== undefined) {
      await runDeployHook(
        deployHook,
        { name, domains: record.identifiers.map((i) => i.value), dir: outDir(out, name), renewed: false },
        { env: base.env, reporter, signal },
      )
    }
  }
  return {
    json: { exported },
    text: exported.map((e) => `exported ${e.name}: serial ${e.serialNumber}, valid until ${e.notAfter}`),
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'write the PEM files of stored certificates (the --out layout of issue and renew)',
  usage: () => usageText(SYNOPSIS, OPTIONS),
  run,
}
