/**
 * The runs of a CSR job (csr.ts): issuance and renewal both finalize with the job's request, through
 * `runIssueJob` and the same account-object records as every other run (order URL, presented challenges), so a
 * crashed run resumes its order by URL; there is no key to record.
 */
import type { AcmeClient, ChallengeSolver, Storage } from 'webacme'
import { type JobRecord, type KeyRing, type MessageOutcome, runIssueJob } from 'webacme/cloudflare'
import type { AccountApi } from '../account-object.ts'
import type { Env } from '../env.ts'
import { storageName } from '../names.ts'
import { ACCOUNT_ID, jobCertificate } from '../storage.ts'
import { csrRenewal, saveCsrCertificate } from './csr.ts'
import { notify } from './webhooks.ts'

/** What a run gets from the consumer's session. */
export interface CsrRunContext {
  env: Env
  /** The account object as the run sees it (`runAccount`). */
  account: Pick<AccountApi, 'record' | 'finish'>
  client: AcmeClient
  ring: KeyRing
  storage: Storage
}

const ACK: MessageOutcome = { action: 'ack' }

/**
 * Issues (or re-issues) the certificate of a CSR job, stores it, tells the webhooks, and ends the run `valid`.
 * Throws what the issuance throws: the consumer's failure handling applies.
 */
export async function issueCsrJob(
  context: CsrRunContext,
  job: JobRecord,
  epoch: number,
  solvers: ChallengeSolver[],
  csr: string,
  replaces?: string,
): Promise<MessageOutcome> {
  const { env, account, client, ring, storage } = context
  const issued = await runIssueJob({
    account,
    job,
    epoch,
    ring,
    client,
    solvers,
    csr,
    ...(replaces !== undefined && { issue: { replaces } }),
  })
  const record = await saveCsrCertificate(storage, await storageName(job.name), issued, ACCOUNT_ID)
  // Before the job is marked valid: a crash in between re-runs the job, and the event is written again under the
  // same message id (at least once, never lost).
  await notify(env, job.certificate ? 'certificate.renewed' : 'certificate.issued', job, record)
  await account.finish(job.name, epoch, {
    status: 'valid',
    certificate: jobCertificate(record, client.transport.directoryUrl),
  })
  return ACK
}

/** A renewal run of a CSR job as of `asOf` (ms): re-issued with the same request when due, else rescheduled. */
export async function renewCsrJob(
  context: CsrRunContext,
  job: JobRecord,
  epoch: number,
  solvers: ChallengeSolver[],
  csr: string,
  asOf: number,
): Promise<MessageOutcome> {
  const { account, storage } = context
  const renewal = await csrRenewal(storage, job, Math.max(Date.now(), asOf))
  if (!renewal.due) {
    await account.finish(job.name, epoch, { status: 'unchanged', schedule: { renewAt: renewal.renewAt } })
    return ACK
  }
  try {
    return await issueCsrJob(context, job, epoch, solvers, csr, renewal.replaces)
  } catch (error) {
    // The certificate in place stays served; the next cron pass after an hour tries again.
    const retryAt = new Date(Date.now() + 3_600_000).toISOString()
    await account.finish(job.name, epoch, {
      status: 'unchanged',
      schedule: { renewAt: retryAt },
      error: {
        message: error instanceof Error ? error.message : String(error),
        at: new Date().toISOString(),
        ...(typeof (error as { code?: unknown }).code === 'string' && {
          code: (error as { code: string }).code,
        }),
      },
    })
    await notify(context.env, 'certificate.failed', job, undefined, error)
    return ACK
  }
}
