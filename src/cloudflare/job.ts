/**
 * One issuance run of a job kept by an {@link AcmeAccountCore}, from a queue consumer: `issueCertificate` with
 * every crash-recovery fact recorded in the account's Durable Object before the request that depends on it, and a
 * crashed run's leftovers taken care of first.
 */
import { cleanupPresented, type PresentedChallenge } from '../challenges/presented.ts'
import type { ChallengeSolver } from '../challenges/solver.ts'
import type { AcmeClient } from '../client.ts'
import { AcmeResponseError, isProblem } from '../errors.ts'
import { type IssueCertificateOptions, type IssuedCertificate, issueCertificate } from '../issue.ts'
import { type IssuedCertificateForCsr, issueCertificateForCsr } from '../issue-csr.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'
import { StorageError } from '../storage/storage.ts'
import { certificateKeyLabel, type JobChange, type JobRecord } from './account.ts'
import { type KeyRing, openPrivateKey, sealPrivateKey } from './keyring.ts'

/** Where a run records what it did: the account's Durable Object stub (its `record` RPC method). */
export interface JobRecorder {
  record(name: string, epoch: number, change: JobChange): Promise<boolean>
}

/** Options of {@link runIssueJob}. */
export interface RunIssueJobOptions {
  /** The account object (stub) that keeps the job. */
  account: JobRecorder
  /** The job and the epoch of this run, as `begin` returned them. */
  job: JobRecord
  epoch: number
  /** Opens and seals the certificate key kept in the job. */
  ring: KeyRing
  /** A client with the account's key and URL. */
  client: AcmeClient
  solvers: ChallengeSolver[]
  /** More `issueCertificate` options (polling, profile, ...). */
  issue?: Omit<
    IssueCertificateOptions,
    'client' | 'identifiers' | 'solvers' | 'orderUrl' | 'certificateKey' | 'hooks' | 'signal' | 'account'
  >
  signal?: AbortSignalLike
}

/**
 * Runs the issuance of a job:
 * 1. what a crashed run presented and never cleaned up is cleaned up (and forgotten);
 * 2. an order the job already has is resumed, with the certificate key stored before its finalize; an order that is
 *    gone or dead is replaced by a new one (once);
 * 3. the order URL, each presented challenge, each cleanup and the sealed certificate key are recorded in the account
 *    object before the requests that depend on them.
 *
 * A run that was superseded (the job deleted or taken over by another run) stops at its next record with a
 * `StorageError` `ERR_STORAGE_CONFLICT`. Other failures are those of `issueCertificate`.
 */
export function runIssueJob(options: RunIssueJobOptions): Promise<IssuedCertificate>
/**
 * The same for a job whose certificate request was made elsewhere (`csr`, PEM or DER): the order is finalized with
 * it as it is (`issueCertificateForCsr`), so there is no certificate key to keep; the request must name exactly the
 * job's identifiers.
 */
export function runIssueJob(
  options: RunIssueJobOptions & { csr: string | Uint8Array },
): Promise<IssuedCertificateForCsr>
export async function runIssueJob(
  options: RunIssueJobOptions & { csr?: string | Uint8Array },
): Promise<IssuedCertificate | IssuedCertificateForCsr> {
  const { account, job, epoch, ring, client, solvers, signal, csr } = options
  const record = async (change: JobChange) => {
    if (!(await account.record(job.name, epoch, change))) {
      throw new StorageError(
        'ERR_STORAGE_CONFLICT',
        `jobs/${job.name}`,
        `job ${job.name} was deleted or taken over by another run (this run's epoch ${epoch} is superseded)`,
      )
    }
  }
  if (job.presented.length > 0) {
    await cleanupPresented(solvers, job.presented, {
      onCleaned: (presented) => record({ cleaned: presented }),
    })
  }
  const label = certificateKeyLabel(job.name)
  const storedKey = job.certificateKey ? await openPrivateKey(ring, job.certificateKey, label) : undefined
  let orderUrl = job.orderUrl
  const hooks = {
    order: async (order: { url: string }) => {
      if (order.url !== orderUrl) await record({ orderUrl: order.url })
      orderUrl = order.url
    },
    present: (presented: PresentedChallenge) => record({ present: compact(presented) }),
    cleanedUp: (presented: PresentedChallenge) => record({ cleaned: compact(presented) }),
  }
  const attempt = (): Promise<IssuedCertificate | IssuedCertificateForCsr> =>
    csr !== undefined
      ? issueCertificateForCsr({
          ...options.issue,
          client,
          csr,
          identifiers: job.identifiers,
          solvers,
          ...(orderUrl !== undefined && { orderUrl }),
          ...(signal && { signal }),
          hooks,
        })
      : issueCertificate({
          ...options.issue,
          client,
          identifiers: job.identifiers,
          solvers,
          ...(orderUrl !== undefined && { orderUrl }),
          ...(storedKey && { certificateKey: storedKey }),
          ...(signal && { signal }),
          hooks: {
            ...hooks,
            finalize: async ({ certificateKey }) => {
              if (certificateKey === storedKey) return // stored before an earlier finalize
              await record({ certificateKey: await sealPrivateKey(ring, certificateKey.privateKey, label) })
            },
          },
        })
  const resumed = orderUrl
  try {
    return await attempt()
  } catch (error) {
    if (resumed === undefined || signal?.aborted || !orderGone(error)) throw error
    // The order the job kept is gone (expired, deleted by the CA): a new one, with the same key if there was one.
    orderUrl = undefined
    return attempt()
  }
}

/**
 * What a cleanup needs of a presented challenge, and no more: the authorization without its other challenges (every
 * solver cleans up from the challenge, the identifier, the key authorization and the account URL). It crosses to the
 * account object on every present and cleanup.
 */
function compact(presented: PresentedChallenge): PresentedChallenge {
  const { context } = presented
  return {
    type: presented.type,
    context: { ...context, authorization: { ...context.authorization, challenges: [context.challenge] } },
  }
}

/** The CA no longer knows the order: it expired or was deleted. */
function orderGone(error: unknown): boolean {
  return (
    (isProblem(error) && (error.status === 404 || isProblem(error, 'malformed'))) ||
    (error instanceof AcmeResponseError && error.status === 404)
  )
}
