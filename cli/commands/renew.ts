/**
 * `webacme renew --storage DIR`: the cron job. One `renewDue` run over the certificates `webacme issue --storage`
 * kept there: renews the due ones with their stored account, stores the new ones (and writes them to
 * `--out DIR/<name>/` and runs `--deploy-hook` when asked). The exit status says whether anything failed.
 */
import {
  type AcmeClient,
  CircuitBreaker,
  isAcmeError,
  loadAccount,
  type RenewalEvent,
  readAccountRecord,
  renewDue,
} from 'webacme'
import { clientOptions, openStorage, RETRIES_OPTION, storedCertificateNames } from '../account.ts'
import { duration, flag, list, type OptionSpecs, parse, required, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { DEPLOY_HOOK_OPTION, outDir, runDeployHook, writeCertificateFiles } from '../deploy.ts'
import { EXIT, exitCodeFor, LocalError, UsageError } from '../exit-codes.ts'
import { exists, probeWritable } from '../files.ts'
import { describeError } from '../output.ts'
import { buildSolvers, SOLVER_OPTIONS } from '../solvers/index.ts'
import { describeIssueEvent } from './issue.ts'

const OPTIONS: OptionSpecs = {
  storage: {
    type: 'string',
    value: 'DIR',
    help: 'the storage directory that `webacme issue --storage` filled',
  },
  name: { type: 'string', multiple: true, value: 'NAME', help: 'only this certificate (default: all)' },
  lookahead: {
    type: 'string',
    value: 'DURATION',
    help: 'renew what falls due within this time, e.g. your cron interval: 1h (default 0)',
  },
  force: { type: 'boolean', help: 'renew now, due or not' },
  out: { type: 'string', value: 'DIR', help: 'also write each renewed certificate to DIR/<name>/*.pem' },
  ...DEPLOY_HOOK_OPTION,
  ...RETRIES_OPTION,
  ...SOLVER_OPTIONS,
}

const SYNOPSIS =
  'webacme renew --storage DIR (--http-port N | --webroot DIR | --dns PROVIDER | --tls-alpn-port N) [--lookahead 1h] [--out DIR [--deploy-hook CMD]] [options]'

/** Renewing everything now: a lookahead far beyond any certificate's lifetime. */
const FORCE_LOOKAHEAD = 100 * 365 * 86_400_000

function describeRenewalEvent(event: RenewalEvent): string | undefined {
  switch (event.type) {
    case 'schedule':
      return `${event.name}: ${event.due ? 'due' : 'not due'} (renew at ${event.renewAt.toISOString()}, ${event.source})`
    case 'renewal-info-error':
      return `${event.name}: renewal information failed: ${(event.error as Error)?.message ?? event.error}`
    case 'renewing':
      return `${event.name}: renewing${event.resumed ? ' (resuming an earlier order)' : ''}`
    case 'issue': {
      const line = describeIssueEvent(event.event)
      return line && `${event.name}: ${line}`
    }
    case 'renewed':
      return `${event.name}: renewed, serial ${event.serialNumber}`
    case 'failed':
      return `${event.name}: failed (${isAcmeError(event.error) ? event.error.code : (event.error as Error)?.message}), retry after ${event.retryAt.toISOString()}`
  }
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values, positionals } = parse(argv, OPTIONS)
  const ctx: Context = { ...base, values, positionals }
  const { reporter, signal } = ctx
  const storageDir = required(values, 'storage')
  const lookahead = flag(values, 'force') ? FORCE_LOOKAHEAD : (duration(values, 'lookahead') ?? 0)
  const names = list(values, 'name')
  const out = str(values, 'out')
  const deployHook = str(values, 'deploy-hook')
  if (deployHook !== undefined && out === undefined)
    throw new UsageError('--deploy-hook needs --out (the hook is told where the files are)')
  // Local checks before any request: the storage is there and writable, the names exist, --out is writable.
  if (!(await exists(storageDir))) throw new LocalError(`--storage ${storageDir} does not exist`)
  await probeWritable(storageDir, '--storage')
  const storage = openStorage(storageDir)
  await storedCertificateNames(storage, names)
  if (out !== undefined) await probeWritable(out, '--out')
  const solvers = await buildSolvers(ctx)
  try {
    for (const line of solvers.described) reporter.step(line)
    // One client per account, and one circuit breaker per CA for all of them: when the CA stops answering, the
    // run stops sending after the breaker's threshold instead of every certificate paying its own retries.
    const breakers = new Map<string, CircuitBreaker>()
    const clients = new Map<string, Promise<AcmeClient>>()
    const clientOf = (account: string): Promise<AcmeClient> => {
      let client = clients.get(account)
      if (!client) {
        client = readAccountRecord(storage, account).then((record) => {
          const ca = record?.directoryUrl ?? ''
          const breaker = breakers.get(ca) ?? new CircuitBreaker()
          breakers.set(ca, breaker)
          return loadAccount(storage, account, { ...clientOptions(ctx, true), breaker })
        })
        clients.set(account, client)
      }
      return client
    }
    const result = await renewDue({
      storage,
      solvers: solvers.solvers,
      // Each certificate renews with the account it names; --verbose sees its requests. The signal goes to each
      // call, so that after a Ctrl-C the pending authorizations can still be deactivated.
      client: (record) => clientOf(record.account ?? 'default'),
      issue: { deactivateOnAbort: true },
      lookahead,
      ...(names.length && { names }),
      signal,
      onEvent: (event) => {
        const line = describeRenewalEvent(event)
        if (line) reporter.step(line)
      },
    })
    const written: Record<string, string[]> = {}
    const hookFailures: Array<{ name: string; error: unknown }> = []
    if (out !== undefined) {
      for (const { name, certificate } of result.renewed) {
        written[name] = await writeCertificateFiles(
          out,
          name,
          certificate.certificate,
          certificate.privateKey,
        )
        if (deployHook === undefined) continue
        try {
          await runDeployHook(
            deployHook,
            {
              name,
              domains: certificate.identifiers.map((i) => i.value),
              dir: outDir(out, name),
              renewed: true,
            },
            { env: ctx.env, reporter, signal },
          )
        } catch (error) {
          if (signal.aborted) throw error
          reporter.warn(`${name}: ${(error as Error).message}`)
          hookFailures.push({ name, error })
        }
      }
    }
    // Failures decide the status (the first one's kind); a rate-limited renewal is not done either.
    const exitCode =
      result.failed.length > 0
        ? exitCodeFor(result.failed[0]!.error)
        : hookFailures.length > 0
          ? EXIT.deployHook
          : result.rescheduled.length > 0
            ? EXIT.rateLimited
            : EXIT.ok
    return {
      exitCode,
      json: {
        renewed: result.renewed.map((r) => ({
          name: r.name,
          serialNumber: r.certificate.serialNumber,
          notAfter: r.certificate.notAfter,
          replaced: r.replaced.serialNumber,
          resumed: r.resumed,
          renewAt: r.renewAt.toISOString(),
          ...(written[r.name] && { files: written[r.name] }),
          ...(deployHook !== undefined && {
            deployHook: { ok: !hookFailures.some((f) => f.name === r.name) },
          }),
        })),
        ...(hookFailures.length && {
          deployHookFailed: hookFailures.map((f) => ({ name: f.name, error: describeError(f.error) })),
        }),
        failed: result.failed.map((f) => ({
          name: f.name,
          retryAt: f.retryAt.toISOString(),
          error: describeError(f.error),
        })),
        rescheduled: result.rescheduled.map((r) => ({
          name: r.name,
          retryAt: r.retryAt.toISOString(),
          error: describeError(r.error),
        })),
        skipped: result.skipped.map((s) => ({
          name: s.name,
          reason: s.reason,
          renewAt: s.renewAt.toISOString(),
          source: s.source,
          ...(s.explanationURL && { explanationURL: s.explanationURL }),
        })),
        nextRunAt: result.nextRunAt.toISOString(),
      },
      text: [
        ...result.renewed.map(
          (r) =>
            `renewed  ${r.name}: serial ${r.certificate.serialNumber}, valid until ${r.certificate.notAfter}`,
        ),
        ...hookFailures.map((f) => `HOOK     ${f.name}: ${(f.error as Error).message}`),
        ...result.failed.map(
          (f) =>
            `FAILED   ${f.name}: ${(f.error as Error)?.message ?? f.error} (next try ${f.retryAt.toISOString()})`,
        ),
        ...result.rescheduled.map(
          (r) => `limited  ${r.name}: rate-limited, retry at ${r.retryAt.toISOString()}`,
        ),
        ...result.skipped.map(
          (s) =>
            `skipped  ${s.name}: ${s.reason}, renew at ${s.renewAt.toISOString()}${s.explanationURL ? ` (${s.explanationURL})` : ''}`,
        ),
        `${result.renewed.length} renewed, ${result.failed.length} failed, ${result.rescheduled.length} rate-limited, ${result.skipped.length} not due; next run at ${result.nextRunAt.toISOString()}`,
      ],
    }
  } finally {
    await solvers.close()
  }
}

export const renew: Command = {
  name: 'renew',
  summary: 'renew the due certificates of a storage directory (for cron)',
  usage: () =>
    usageText(
      SYNOPSIS,
      OPTIONS,
      'Renews every certificate in --storage that is due (ARI where the CA offers it).',
    ),
  run,
}
