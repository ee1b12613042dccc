/**
 * The jobs queue's consumer: each message is one run of a job, issuance or renewal, worked concurrently within the
 * batch. A run starts only when the account object grants it (lease, epoch, room in the CA's limits); everything a
 * crashed run needs to resume is recorded there before the request that depends on it.
 */
import {
  AcmeClient,
  attemptOutcome,
  CaUnavailableError,
  CircuitBreaker,
  FirstReadPacer,
  isAcmeError,
  type NoncePool,
  readCertificateRecord,
  readRenewalState,
  renewDue,
  type Storage,
  saveCertificate,
} from 'webacme'
import {
  ACCOUNT_KEY_LABEL,
  consumeBatch,
  identifierSetKey,
  type JobRecord,
  type KeyRing,
  type MessageOutcome,
  messageOutcome,
  openPrivateKey,
  requestPacer,
  retryDelay,
  runIssueJob,
  type SealedValue,
} from 'webacme/cloudflare'
import { type AccountApi, accountOf, runAccount } from './account-object.ts'
import { caGate } from './ca-gate.ts'
import { awaitingDelegation } from './delegation.ts'
import { deliverToEdge } from './delivery/cloudflare.ts'
import { jobCsr, type KnownCsrs, knownCsrs } from './delivery/csr.ts'
import { issueCsrJob, renewCsrJob } from './delivery/csr-runs.ts'
import { notify } from './delivery/webhooks.ts'
import { type Config, type Env, type JobMessage, readConfig } from './env.ts'
import { readRefusal } from './limits.ts'
import { storageName } from './names.ts'
import { solversFor } from './solvers.ts'
import { ACCOUNT_ID, certificateStorage, jobCertificate, keyRingOf } from './storage.ts'

/** What the runs of one batch share: the account object, one client (its nonces and pacer), the storage. */
interface Session {
  env: Env
  config: Config
  account: AccountApi
  client: AcmeClient
  ring: KeyRing
  storage: Storage
  /** The runs of this batch by the key of their identifier set: who a refused new order belonged to. */
  runs: Map<string, string>
  /** The CSR jobs as the batch began (delivery/csr.ts). */
  csrs: KnownCsrs
  /** Reads the CA's directory for the gate, unless it already has; throws when the CA does not answer. */
  learnDirectory: () => Promise<void>
}

const ACK: MessageOutcome = { action: 'ack' }
/** The longest a run waits in-process for a `Retry-After` before handing the wait to the queue. */
const MAX_INLINE_WAIT = 10_000
/**
 * The longest one run may take: a stuck run must not hold its batch (a queue delivers the next batch of a consumer
 * only after this one; Workers stop a consumer after 15 minutes of wall time).
 */
const RUN_TIMEOUT = 5 * 60_000

/**
 * Deliveries of one message that wait for a CA that does not answer, before the message is acknowledged and the
 * job left to the cron pass (which re-enqueues every unfinished job every 5 minutes). The queue's `max_retries` (10)
 * would otherwise send the message to the dead-letter queue during a long outage, and that fails the job.
 */
const CA_DOWN_DELIVERIES = 5
/** The longest a message waits on the queue for a CA that does not answer (then the next delivery tries it). */
const CA_DOWN_MAX_DELAY_SECONDS = 300

/**
 * One circuit breaker per CA for every batch this isolate works (module state lives as long as the isolate): a CA
 * that stopped answering one batch is not dialled again by the next before the breaker's probe. Without it, each
 * batch's new client would pay its own run of unanswered attempts.
 */
const breakers = new Map<string, CircuitBreaker>()

function breakerFor(directoryUrl: string): CircuitBreaker {
  let breaker = breakers.get(directoryUrl)
  if (!breaker) {
    breaker = new CircuitBreaker()
    breakers.set(directoryUrl, breaker)
  }
  return breaker
}

/**
 * Whether a run failed because the CA did not answer: its circuit breaker is open, or the request got no answer
 * (refused, reset, timed out, a 5xx that is no problem document). Such a failure is not the job's.
 */
function caDidNotAnswer(error: unknown): boolean {
  let current = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (current instanceof CaUnavailableError || attemptOutcome(current) === 'unanswered') return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/**
 * What becomes of a message whose run found the CA not answering: back on the queue no earlier than the breaker's
 * next probe (backing off up to {@link CA_DOWN_MAX_DELAY_SECONDS}), or, after {@link CA_DOWN_DELIVERIES} such
 * deliveries, acknowledged with the job still unfinished, for the cron pass.
 */
function whenTheCaAnswers(error: unknown, deliveries: number): MessageOutcome {
  if (deliveries >= CA_DOWN_DELIVERIES) return ACK
  const retryAfter = error instanceof CaUnavailableError ? error.retryAfter : undefined
  return {
    action: 'retry',
    delaySeconds: retryDelay(deliveries, retryAfter, { maxDelaySeconds: CA_DOWN_MAX_DELAY_SECONDS }),
    reason: `the CA is not answering: ${error instanceof Error ? error.message : String(error)}`,
  }
}

/** Works a batch of the jobs queue. */
export async function consumeJobs(batch: MessageBatch<JobMessage>, env: Env): Promise<void> {
  const config = readConfig(env)
  const account = accountOf(env, config)
  const { session, close } = await openSession(env, config, account)
  try {
    await consumeBatch(batch, (message) => runMessage(session, message.body, message.attempts), {
      concurrency: config.concurrency,
      deadLetter: env.DEAD_LETTERS,
    })
  } finally {
    await close()
  }
}

/** One client for the batch, starting from the account object's nonces and pacer, and giving them back after. */
async function openSession(env: Env, config: Config, account: AccountApi) {
  const started = await account.session()
  const stored = started.account ?? (await account.account())
  const ring = await keyRingOf(env)
  const nonces = [...started.nonces]
  const pool: NoncePool = {
    take: () => nonces.pop(),
    add(nonce) {
      nonces.push(nonce)
      if (nonces.length > 64) nonces.shift()
    },
  }
  let newOrderUrl: string | undefined
  const runs = new Map<string, string>()
  // The refusals reported to the account object: the next invocation's gate starts from the pause they set.
  const reports: Promise<void>[] = []
  const client = new AcmeClient({
    directoryUrl: stored.directoryUrl,
    accountUrl: stored.accountUrl,
    accountKey: await accountKeyOf(ring, stored.privateKey),
    nonces: pool,
    pacer: new FirstReadPacer(started.pacer),
    // Every endpoint's Retry-After kept, new orders one at a time (ca-gate.ts); a 429 on newOrder holds back every
    // job of the account from the moment it arrives, and the budget learns from what it names.
    fetch: caGate(requestPacer(config.limits.requestsPerSecond), {
      newOrderUrl: () => newOrderUrl,
      pausedUntil: started.pausedUntil,
      onNewOrderRefused: ({ retryAfter, detail, identifiers }) => {
        const name = runs.get(identifierSetKey(identifiers)) ?? ''
        reports.push(account.rateLimited(name, readRefusal(detail, identifiers, retryAfter)).catch(() => {}))
      },
    }),
    retry: { maxWait: MAX_INLINE_WAIT },
    breaker: breakerFor(stored.directoryUrl),
  })
  // The gate needs the new-order URL before the first new order. A CA that does not answer the directory does not
  // stop the batch: each run asks again (through the breaker) and records on its job why it waits.
  const learnDirectory = async () => {
    newOrderUrl ??= (await client.directory()).newOrder
  }
  await learnDirectory().catch((error: unknown) => {
    if (!caDidNotAnswer(error)) throw error
  })
  const session: Session = {
    env,
    config,
    account,
    client,
    ring,
    storage: await certificateStorage(env),
    runs,
    csrs: await knownCsrs(env, started.now),
    learnDirectory,
  }
  const close = async () => {
    await Promise.all(reports)
    await account.endSession({ nonces, pacer: client.pacer.toJSON() })
  }
  return { session, close }
}

/** The account key, opened (AES-GCM) and imported once per isolate, not per batch. */
let accountKey: { sealed: string; key: Promise<CryptoKeyPair> } | undefined

function accountKeyOf(ring: KeyRing, sealed: SealedValue): Promise<CryptoKeyPair> {
  // The sealed value names its secret (kid) and its IV is random: a new key or a re-seal is another value.
  const id = `${sealed.kid}.${sealed.iv}.${sealed.data}`
  if (accountKey?.sealed !== id) {
    const key = openPrivateKey(ring, sealed, ACCOUNT_KEY_LABEL)
    accountKey = { sealed: id, key }
    key.catch(() => {
      if (accountKey?.key === key) accountKey = undefined
    })
  }
  return accountKey.key
}

/**
 * `run`, or a `TimeoutError` after RUN_TIMEOUT. The run itself is not stopped (every request and poll in it has its
 * own bound; a signal through every await of the library would cost each request listeners): the batch moves on, and
 * the job's lease keeps another run off it until the run ends or goes silent.
 */
async function withinRunTimeout<T>(run: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DOMException(`the run took more than ${RUN_TIMEOUT} ms`, 'TimeoutError')),
      RUN_TIMEOUT,
    )
  })
  run.catch(() => {})
  try {
    return await Promise.race([run, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** One message's run; `deliveries` is the queue's delivery count of the message (1 for the first). */
async function runMessage(session: Session, body: JobMessage, deliveries: number): Promise<MessageOutcome> {
  try {
    return await (body.kind === 'renew' ? renew(session, body) : issue(session, body, deliveries))
  } finally {
    for (const [key, name] of session.runs) if (name === body.name) session.runs.delete(key)
  }
}

async function issue(session: Session, body: JobMessage, deliveries: number): Promise<MessageOutcome> {
  const { env, config, account, client, ring, storage } = session
  const reissue = body.kind === 'issue' && body.reissue === true
  // Delegated dns-01: no order before the customer's CNAME is in place; the next cron pass checks again.
  if (!reissue && (await awaitingDelegation(env, account, body.name))) return ACK
  const begun = await account.begin(body.name, {
    kind: 'issue',
    wakeMessage: body,
    ...(reissue && { reissue: true }),
  })
  // Done, failed, deleted, taken by a live run, or waiting in line (the account object wakes it): nothing to do.
  if (!('run' in begun)) return ACK
  const { job, epoch } = begun.run
  const run = runAccount(account)
  session.runs.set(identifierSetKey(job.identifiers), job.name)
  // A re-issue whose certificate already comes from this CA (another run did it): nothing to do.
  if (reissue && job.certificate?.directoryUrl === client.transport.directoryUrl) {
    await run.finish(job.name, epoch, { status: 'unchanged' })
    return ACK
  }
  try {
    await session.learnDirectory()
    const solvers = await solversFor(env, config, job.challenge)
    // Bring your own CSR (delivery/csr.ts): finalized with the customer's request, no key kept.
    const csr = await jobCsr(env, job, session.csrs)
    if (csr !== undefined) {
      return await withinRunTimeout(issueCsrJob({ ...session, account: run }, job, epoch, solvers, csr))
    }
    const issued = await withinRunTimeout(runIssueJob({ account: run, job, epoch, ring, client, solvers }))
    const record = await saveCertificate(storage, await storageName(job.name), issued, {
      account: ACCOUNT_ID,
    })
    // Before the job is marked valid, so that a crash repeats the event rather than losing it.
    await notify(env, job.certificate ? 'certificate.renewed' : 'certificate.issued', job, record)
    await deliverToEdge(env, job, record)
    const directory = await client.directory()
    await run.finish(job.name, epoch, {
      status: 'valid',
      certificate: {
        ...jobCertificate(record, client.transport.directoryUrl),
        // RFC 9773 §4.3: ask the CA's renewal information right away.
        ...(directory.renewalInfo && { checkAt: new Date().toISOString() }),
      },
    })
    return ACK
  } catch (error) {
    return failed(session, run, job, epoch, error, deliveries)
  }
}

/** Ends a failed run: retried later (no earlier than the CA's Retry-After), or failed for good. */
async function failed(
  session: Session,
  account: Pick<AccountApi, 'finish'>,
  job: JobRecord,
  epoch: number,
  error: unknown,
  deliveries: number,
): Promise<MessageOutcome> {
  // Superseded (deleted, or taken over after the lease ran out): the job is someone else's now.
  if (isAcmeError(error, 'ERR_STORAGE_CONFLICT') && error.key === `jobs/${job.name}`) return ACK
  const note = errorNote(error)
  // The CA did not answer: not the job's failure, so it does not count against the job's attempts (an outage
  // longer than the backoff of `maxAttempts` would otherwise fail every job in the queue).
  if (caDidNotAnswer(error)) {
    await account.finish(job.name, epoch, { status: 'retry', error: note, attempt: false })
    return whenTheCaAnswers(error, deliveries)
  }
  // A 429 on newOrder reached the account object through the gate already (jobs paused, the limit learned); the
  // queue retries this run no earlier than its Retry-After.
  const outcome = messageOutcome(error, job.attempts + 1)
  if (outcome.action !== 'retry') await notify(session.env, 'certificate.failed', job, undefined, error)
  await account.finish(job.name, epoch, {
    status: outcome.action === 'retry' ? 'retry' : 'failed',
    error: note,
  })
  return outcome
}

/**
 * A renewal run that stored its new certificate and then stopped (a crash, a lost Durable Object call) before the
 * job recorded it: the job still names the certificate before, and the stored one is newer. Does what that run did
 * not (its `renewed` event, the edge, the job) and reports true; renewing again would be a second certificate, and
 * judging the stored one "not due" would leave the job, the event and the edge behind until the next renewal.
 */
async function finishInterruptedRenewal(session: Session, job: JobRecord, epoch: number): Promise<boolean> {
  const { env, account, client, storage } = session
  const stored = await readCertificateRecord(storage, await storageName(job.name))
  const recorded = job.certificate
  if (
    !stored ||
    !recorded ||
    stored.serialNumber === recorded.serialNumber ||
    Date.parse(stored.notAfter) <= Date.parse(recorded.notAfter)
  ) {
    return false
  }
  await notify(env, 'certificate.renewed', job, stored)
  await deliverToEdge(env, job, stored)
  await account.finish(job.name, epoch, {
    status: 'valid',
    // The run that stored it used the service's CA, as this one does.
    certificate: jobCertificate(stored, client.transport.directoryUrl),
  })
  return true
}

async function renew(
  session: Session,
  body: Extract<JobMessage, { kind: 'renew' }>,
): Promise<MessageOutcome> {
  const { env, config, account, client, storage } = session
  const begun = await account.begin(body.name, { kind: 'renew', wakeMessage: body })
  if (!('run' in begun)) return ACK
  const { job, epoch } = begun.run
  session.runs.set(identifierSetKey(job.identifiers), job.name)
  if (await finishInterruptedRenewal(session, job, epoch)) return ACK
  const csr = await jobCsr(env, job, session.csrs)
  if (csr !== undefined) {
    const solvers = await solversFor(env, config, job.challenge)
    return withinRunTimeout(
      renewCsrJob({ ...session, account: runAccount(account) }, job, epoch, solvers, csr, body.asOf),
    )
  }
  try {
    const result = await withinRunTimeout(
      renewDue({
        storage,
        names: [await storageName(job.name)],
        client,
        solvers: await solversFor(env, config, job.challenge),
        // The cron pass's time: a test (or an operator) can ask "what is due as of then".
        now: () => Math.max(Date.now(), body.asOf),
        lookahead: config.lookaheadMs,
      }),
    )
    const state = await readRenewalState(storage, await storageName(job.name))
    const checkAt = state?.nextCheckAt
    const renewed = result.renewed[0]
    if (renewed) {
      const { certificate } = renewed
      await notify(env, 'certificate.renewed', job, certificate)
      await deliverToEdge(env, job, certificate)
      await account.finish(job.name, epoch, {
        status: 'valid',
        certificate: {
          serialNumber: certificate.serialNumber,
          notBefore: certificate.notBefore,
          notAfter: certificate.notAfter,
          renewAt: renewed.renewAt.toISOString(),
          ...(checkAt !== undefined && { checkAt }),
          directoryUrl: client.transport.directoryUrl,
        },
      })
      return ACK
    }
    const skipped = result.skipped[0]
    const held = result.failed[0] ?? result.rescheduled[0]
    if (result.rescheduled[0]) await account.pauseNewOrders(result.rescheduled[0].retryAt.getTime())
    // Not due, or failed and retried at its backoff: the next cron pass that finds it due tries again.
    const renewAt = held?.retryAt.toISOString() ?? skipped?.renewAt.toISOString() ?? job.certificate!.renewAt
    await account.finish(job.name, epoch, {
      status: 'unchanged',
      schedule: { renewAt, ...(checkAt !== undefined && { checkAt }) },
      ...(held && { error: errorNote(held.error) }),
    })
    return ACK
  } catch (error) {
    // renewDue throws only when the storage cannot be listed or the run was aborted.
    await account.finish(job.name, epoch, { status: 'unchanged', error: errorNote(error) })
    return messageOutcome(error, 1)
  }
}

function errorNote(error: unknown): { code?: string; message: string; at: string } {
  return {
    ...(isAcmeError(error) && { code: error.code }),
    message: error instanceof Error ? error.message : String(error),
    at: new Date().toISOString(),
  }
}

/** The dead-letter queue's consumer: whatever lands there is recorded as failed on its job. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const config = readConfig(env)
  const account = accountOf(env, config)
  for (const message of batch.messages) {
    // Ours carry the reason; the platform's (retries used up) are the job message itself.
    const body = message.body as { body?: JobMessage; reason?: string } & Partial<JobMessage>
    const job = body.body ?? (body as JobMessage)
    const reason = body.reason ?? `the queue gave up after ${message.attempts} deliveries`
    if (typeof job?.name === 'string') {
      const current = await account.getJob(job.name)
      if (current && current.status !== 'failed' && !(current.status === 'valid' && current.error)) {
        await notify(env, 'certificate.failed', current, undefined, new Error(reason))
        await account.markFailed(job.name, {
          code: 'ERR_DEAD_LETTER',
          message: reason,
          at: new Date().toISOString(),
        })
      }
      console.error(`webacme: ${job.kind} ${job.name} dead-lettered: ${reason}`)
    }
    message.ack()
  }
}
