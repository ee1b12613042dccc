/**
 * `webacme/cloudflare`: building blocks for issuing and renewing certificates on Cloudflare Workers, with
 * structural types for the bindings (nothing here imports `cloudflare:*`):
 *
 * - storage backends for `saveAccount`, `saveCertificate` and `renewDue`: {@link R2Storage} (atomic
 *   compare-and-swap), {@link KvStorage} (compare-and-swap through a Durable Object, {@link KvCasCoordinator}),
 *   {@link DurableObjectRecords}; and {@link sealedStorage}, which seals every record with a Worker secret
 *   ({@link keyRing}) so no private key is stored in plaintext;
 * - http-01 on KV ({@link kvHttp01Store}, {@link kvHttp01Solver}) and the route that answers the CA
 *   ({@link acmeChallengeResponse});
 * - queue consumers: {@link consumeBatch}, {@link messageOutcome} (ack, retry after the CA's `Retry-After`, or the
 *   dead-letter queue);
 * - the per-account Durable Object's logic ({@link AcmeAccountCore}): the account, a shared nonce pool and polling
 *   pacer, a {@link RateBudget} under the CA's limits, each job's durable state; and {@link runIssueJob}, one run of a
 *   job from a consumer.
 *
 * @packageDocumentation
 */

export type {
  AcmeAccountCoreOptions,
  BeginResult,
  JobCertificate,
  JobChange,
  JobKind,
  JobRecord,
  JobResult,
  JobStatus,
  StoredAccount,
} from './account.ts'
export { ACCOUNT_KEY_LABEL, AcmeAccountCore, certificateKeyLabel } from './account.ts'
export type {
  BudgetGrant,
  BudgetRequest,
  BudgetState,
  CountedCertificate,
  LearnedLimits,
  LimitName,
  RateBudgetOptions,
  RateLimits,
} from './budget.ts'
export { identifierSetKey, LETS_ENCRYPT_LIMITS, RateBudget, requestPacer } from './budget.ts'
export type { DurableObjectRecordsOptions } from './do-storage.ts'
export { DurableObjectRecords } from './do-storage.ts'
export type { KvHttp01Options, KvHttp01SolverOptions } from './http01.ts'
export { acmeChallengeResponse, kvHttp01Solver, kvHttp01Store } from './http01.ts'
export type { JobRecorder, RunIssueJobOptions } from './job.ts'
export { runIssueJob } from './job.ts'
export type { KeyRing, SealedValue } from './keyring.ts'
export { isSealedValue, keyRing, openPrivateKey, sealPrivateKey } from './keyring.ts'
export type { KvStorageOptions, KvWriteCoordinator } from './kv-storage.ts'
export { KvCasCoordinator, KvStorage } from './kv-storage.ts'
export type { ConsumeOptions, DeadLetter, MessageOutcome, RetryPolicy, SettleOptions } from './queue.ts'
export { consumeBatch, messageOutcome, retryDelay, retryHint, settleMessage } from './queue.ts'
export type { R2StorageOptions } from './r2-storage.ts'
export { R2Storage } from './r2-storage.ts'
export type { SealedStorage } from './sealed-storage.ts'
export { sealedStorage } from './sealed-storage.ts'
export type {
  DurableObjectListOptions,
  DurableObjectStorageLike,
  KvNamespaceLike,
  MessageBatchLike,
  QueueMessageLike,
  QueueProducerLike,
  R2BucketLike,
  R2ObjectBodyLike,
  R2ObjectLike,
} from './types.ts'
