/**
 * The logic of a Durable Object per ACME account: everything several Worker invocations must share to issue and
 * renew at scale for one account.
 *
 * - The account (directory URL, account URL, the account key sealed with a Worker secret), created once.
 * - A nonce pool and the polling pacer, handed to each consumer invocation's client and taken back after it, so a
 *   new invocation does not start from nothing (no `HEAD newNonce`, no first polls at the default interval).
 * - The {@link RateBudget}: pending authorizations, new orders per window, the CA's own pauses.
 * - Every job's durable state: status, the order URL, what was presented, the certificate key (sealed) written
 *   before finalize, the last error. A job runs under a lease and an epoch: a second run of the same job is refused
 *   while the first is alive, and a run whose epoch was superseded (its lease ran out, the job was deleted) is
 *   fenced off at its next write, so two runs never finalize the same job.
 *
 * Runtime-neutral: the Worker's Durable Object class (which must extend `DurableObject` from `cloudflare:workers` to
 * be called over RPC) builds one of these in its constructor and delegates to it.
 */
import type { PresentedChallenge } from '../challenges/presented.ts'
import { keyedQueue } from '../dns/queue.ts'
import type { FirstReadPacerState } from '../protocol/poll.ts'
import type { ErrorNote } from '../renewal/records.ts'
import {
  type BudgetGrant,
  type BudgetState,
  RateBudget,
  type RateBudgetOptions,
  type RateLimits,
} from './budget.ts'
import type { SealedValue } from './keyring.ts'
import type { DurableObjectStorageLike } from './types.ts'

/** The account as stored; the key stays sealed. */
export interface StoredAccount {
  directoryUrl: string
  accountUrl: string
  /** The account key (PKCS#8 PEM), sealed for the label {@link ACCOUNT_KEY_LABEL}. */
  privateKey: SealedValue
}

/** The label the account key is sealed for. */
export const ACCOUNT_KEY_LABEL = 'account/private-key'

/** The label a job's certificate key is sealed for. */
export function certificateKeyLabel(name: string): string {
  return `jobs/${name}/certificate-key`
}

/** Where a job stands. */
export type JobStatus = 'pending' | 'processing' | 'valid' | 'failed'

/** What a run of a job does. */
export type JobKind = 'issue' | 'renew'

/** The certificate a job holds. */
export interface JobCertificate {
  serialNumber: string
  notBefore: string
  notAfter: string
  /** When it is due for renewal. */
  renewAt: string
  /** When to ask the CA's renewal information (RFC 9773) again, where the CA offers it. */
  checkAt?: string
  /**
   * The directory URL of the CA that issued it. When the account's CA changes, {@link AcmeAccountCore.issuedElsewhere}
   * lists the jobs whose certificate came from another CA, to be re-issued (`begin` with `reissue`).
   */
  directoryUrl?: string
}

/** A job's durable state. */
export interface JobRecord {
  name: string
  identifiers: string[]
  /** The challenge type to answer (`http-01`, `dns-01`). */
  challenge: string
  status: JobStatus
  /** The current run; every `begin` and every delete moves it on. */
  epoch: number
  /** What the current or last run does. */
  kind?: JobKind
  /** The order of the run in progress. */
  orderUrl?: string
  /** The key the order is (about to be) finalized with, sealed for {@link certificateKeyLabel}. */
  certificateKey?: SealedValue
  /** Challenges presented and not yet cleaned up. */
  presented: PresentedChallenge[]
  /** Failed runs in a row. */
  attempts: number
  error?: ErrorNote
  certificate?: JobCertificate
  renewals: number
  createdAt: string
  updatedAt: string
  /**
   * Why the job's last run was held back and until when it waits at least (when the limit frees by itself): a
   * limit of the CA ({@link LimitName}), `paused` (the CA's Retry-After), `probing` or `queued`.
   */
  waitingFor?: { limit: string; until?: string }
}

/** What a run records, each before the request that depends on it. */
export type JobChange =
  | { orderUrl: string }
  | { present: PresentedChallenge }
  | { cleaned: PresentedChallenge }
  | { certificateKey: SealedValue }

/** How a run ended. */
export type JobResult =
  | { status: 'valid'; certificate: JobCertificate }
  | { status: 'failed'; error: ErrorNote }
  /** It will be retried (by the queue): the order and key are kept for the next run. */
  | {
      status: 'retry'
      error: ErrorNote
      /**
       * `false` when the run never got an answer from the CA (it was down or its circuit breaker open): the job was
       * not at fault, so {@link JobRecord.attempts} stays as it is (default `true`: a failed attempt).
       */
      attempt?: boolean
    }
  /**
   * Nothing issued: a renewal that was not due after all, or one that failed and will be tried again by schedule
   * (`error`). The renewal schedule may have moved.
   */
  | { status: 'unchanged'; schedule?: Pick<JobCertificate, 'renewAt' | 'checkAt'>; error?: ErrorNote }

/** The answer to {@link AcmeAccountCore.begin}. */
export type BeginResult =
  | { run: { epoch: number; job: JobRecord } }
  | { wait: Exclude<BudgetGrant, { granted: true }> }
  | { skip: 'missing' | 'busy' | 'done' | 'failed' | 'not-issued' }

/** Options of {@link AcmeAccountCore}. */
export interface AcmeAccountCoreOptions {
  limits: RateLimits
  /**
   * Called with the wake-up messages of jobs that waited for room and now fit (what they passed to `begin`): send
   * them to the queue.
   */
  wake: (messages: unknown[]) => Promise<void>
  /** How long a run may go without writing before another may take the job over (ms, default 300 000). */
  leaseMs?: number
  /** The clock (ms; default `Date.now`). */
  now?: () => number
  /** The registered domain of a hostname, for the per-domain limit (see {@link RateBudgetOptions}). */
  registeredDomain?: RateBudgetOptions['registeredDomain']
}

const NONCE_POOL = 64
const JOBS_IN_MEMORY = 2048
const NONCES_PER_SESSION = 16
const JOB = 'job/'

/**
 * The shared state of one ACME account. Build it with {@link AcmeAccountCore.load} inside the Durable Object's
 * `blockConcurrencyWhile`, then call its methods from the object's RPC methods.
 */
export class AcmeAccountCore {
  readonly #storage: DurableObjectStorageLike
  readonly #options: AcmeAccountCoreOptions
  readonly #budget: RateBudget
  readonly #serial = keyedQueue()
  readonly #leases = new Map<string, { epoch: number; until: number }>()
  readonly #wakeMessages = new Map<string, unknown>()
  /** Jobs read or written lately, least recent first (records are replaced, never changed in place). */
  readonly #jobs = new Map<string, JobRecord>()
  #account: StoredAccount | undefined
  #creating: Promise<StoredAccount> | undefined
  #pacer: FirstReadPacerState
  #nonces: string[] = []

  private constructor(
    storage: DurableObjectStorageLike,
    options: AcmeAccountCoreOptions,
    loaded: { account?: StoredAccount; budget?: BudgetState; pacer?: FirstReadPacerState },
  ) {
    this.#storage = storage
    this.#options = options
    this.#account = loaded.account
    this.#budget = new RateBudget(options.limits, loaded.budget, {
      ...(options.registeredDomain && { registeredDomain: options.registeredDomain }),
    })
    this.#pacer = loaded.pacer ?? {}
  }

  /** Reads the account, the budget and the pacer from `storage`. */
  static async load(
    storage: DurableObjectStorageLike,
    options: AcmeAccountCoreOptions,
  ): Promise<AcmeAccountCore> {
    const [account, budget, pacer] = await Promise.all([
      storage.get('account') as Promise<StoredAccount | undefined>,
      storage.get('budget') as Promise<BudgetState | undefined>,
      storage.get('pacer') as Promise<FirstReadPacerState | undefined>,
    ])
    return new AcmeAccountCore(storage, options, {
      ...(account && { account }),
      ...(budget && { budget }),
      ...(pacer && { pacer }),
    })
  }

  #now(): number {
    return (this.#options.now ?? Date.now)()
  }

  // --- The account, nonces, pacer ----------------------------------------------------------------------

  /**
   * The account, creating it with `create` the first time (once, however many callers ask at once). With
   * `directoryUrl`, an account at another CA does not count: a new one is created at that CA, the previous one is
   * kept under `account@<its directory URL>`, and what belonged to the previous CA (nonces, the pacer, its new-order
   * window and pause) is forgotten.
   */
  async ensureAccount(
    create: () => Promise<StoredAccount>,
    options: { directoryUrl?: string } = {},
  ): Promise<StoredAccount> {
    const wanted = options.directoryUrl
    if (this.#account && (wanted === undefined || this.#account.directoryUrl === wanted)) return this.#account
    this.#creating ??= (async () => {
      const account = await create()
      const previous = this.#account
      if (previous && previous.directoryUrl !== account.directoryUrl) {
        await this.#storage.put(`account@${previous.directoryUrl}`, previous)
        this.#nonces = []
        this.#pacer = {}
        await this.#storage.delete('pacer')
        this.#budget.forgetCa()
        await this.#storage.put('budget', this.#budget.state)
      }
      await this.#storage.put('account', account)
      this.#account = account
      return account
    })().finally(() => {
      this.#creating = undefined
    })
    return this.#creating
  }

  /** What a consumer invocation starts from: the account, some nonces (taken out of the pool), the pacer. */
  session(): { account: StoredAccount | undefined; nonces: string[]; pacer: FirstReadPacerState } {
    return {
      account: this.#account,
      nonces: this.#nonces.splice(Math.max(0, this.#nonces.length - NONCES_PER_SESSION)),
      pacer: this.#pacer,
    }
  }

  /** What a consumer invocation hands back: its unused nonces and what its pacer learned. */
  async endSession(back: { nonces: string[]; pacer?: FirstReadPacerState }): Promise<void> {
    const known = new Set(this.#nonces)
    for (const nonce of back.nonces)
      if (typeof nonce === 'string' && !known.has(nonce)) this.#nonces.push(nonce)
    if (this.#nonces.length > NONCE_POOL) this.#nonces.splice(0, this.#nonces.length - NONCE_POOL)
    if (back.pacer) {
      this.#pacer = back.pacer
      await this.#storage.put('pacer', back.pacer)
    }
  }

  /** Nonces in the pool (for tests and metrics). */
  get nonceCount(): number {
    return this.#nonces.length
  }

  // --- Jobs --------------------------------------------------------------------------------------------

  /**
   * Creates job `name`, or resets a failed one with the same identifiers. An existing job with the same identifiers
   * is returned as it is (`created: false`); with other identifiers it is a `conflict`.
   */
  createJob(input: {
    name: string
    identifiers: string[]
    challenge: string
  }): Promise<{ created: boolean; job: JobRecord } | { conflict: JobRecord }> {
    return this.#serial(input.name, async () => {
      const existing = await this.#job(input.name)
      const now = new Date(this.#now()).toISOString()
      if (existing) {
        const same =
          existing.challenge === input.challenge &&
          [...existing.identifiers].sort().join() === [...input.identifiers].sort().join()
        if (!same) return { conflict: existing }
        if (existing.status !== 'failed') return { created: false, job: existing }
        const { error: _e, ...rest } = existing
        const reset: JobRecord = {
          ...rest,
          status: existing.certificate ? 'valid' : 'pending',
          attempts: 0,
          updatedAt: now,
        }
        await this.#put(reset)
        return { created: true, job: reset }
      }
      const job: JobRecord = {
        name: input.name,
        identifiers: [...input.identifiers],
        challenge: input.challenge,
        status: 'pending',
        epoch: 0,
        presented: [],
        attempts: 0,
        renewals: 0,
        createdAt: now,
        updatedAt: now,
      }
      await this.#put(job)
      return { created: true, job }
    })
  }

  /** Job `name`, as stored. */
  getJob(name: string): Promise<JobRecord | undefined> {
    return this.#job(name)
  }

  /** Jobs in name order, `limit` at a time after `cursor` (the last name of the previous page). */
  async listJobs(
    options: { cursor?: string; limit?: number } = {},
  ): Promise<{ jobs: JobRecord[]; cursor?: string }> {
    const limit = Math.min(1000, Math.max(1, options.limit ?? 100))
    const page = await this.#storage.list({
      prefix: JOB,
      limit: limit + 1,
      ...(options.cursor !== undefined && { startAfter: JOB + options.cursor }),
    })
    const jobs = [...page.values()] as JobRecord[]
    const more = jobs.length > limit
    if (more) jobs.length = limit
    return { jobs, ...(more && { cursor: jobs.at(-1)!.name }) }
  }

  /** Deletes job `name`: a run in progress is fenced off at its next write, and its room in the budget is freed. */
  deleteJob(name: string): Promise<JobRecord | undefined> {
    return this.#serial(name, async () => {
      const job = await this.#job(name)
      if (!job) return undefined
      await this.#storage.delete(JOB + name)
      this.#jobs.delete(name)
      this.#leases.delete(name)
      this.#wakeMessages.delete(name)
      if (this.#budget.release(name)) await this.#budgetChanged()
      return job
    })
  }

  /**
   * Starts a run of job `name`: refused while another run holds the job's lease (`busy`), for a job already done or
   * failed (`issue`) or without a certificate (`renew`); made to `wait` when the budget has no room (the job is woken
   * with `wakeMessage` when it has). Otherwise the job's epoch moves on and the run gets it with a lease.
   */
  begin(
    name: string,
    request: {
      kind: JobKind
      /** What to send to the queue when the job is woken after a wait for room. */
      wakeMessage: unknown
      /** Authorizations the run will hold (default: the job's identifiers). */
      authorizations?: number
      /** Whether the run places a new order (default: unless the job has one to resume). */
      newOrder?: boolean
      /**
       * An issuance run for a job that has a certificate (from another CA): allowed although the job is `valid`,
       * which it stays while the run works (its certificate is still the one served).
       */
      reissue?: boolean
    },
  ): Promise<BeginResult> {
    return this.#serial(name, async () => {
      const job = await this.#job(name)
      if (!job) return { skip: 'missing' }
      const now = this.#now()
      if (this.#runHolds(name, now)) return { skip: 'busy' }
      if (request.kind === 'issue' && job.status === 'valid' && !(request.reissue && job.certificate))
        return { skip: 'done' }
      if (request.kind === 'issue' && job.status === 'failed') return { skip: 'failed' }
      if (request.kind === 'renew' && !job.certificate) return { skip: 'not-issued' }
      const grant = this.#budget.acquire(
        name,
        {
          authorizations: request.authorizations ?? job.identifiers.length,
          newOrder: request.newOrder ?? job.orderUrl === undefined,
          identifiers: job.identifiers,
          // A renewal of a certificate whose CA gives renewal information carries ARI's `replaces`: exempt.
          exempt: request.kind === 'renew' && job.certificate?.checkAt !== undefined,
        },
        now,
      )
      if (!grant.granted) {
        this.#wakeMessages.set(name, request.wakeMessage)
        const waitingFor = {
          limit: grant.reason,
          ...(grant.retryAt !== undefined && { until: new Date(grant.retryAt).toISOString() }),
        }
        if (job.waitingFor?.limit !== waitingFor.limit || job.waitingFor.until !== waitingFor.until) {
          await this.#put({ ...job, waitingFor })
        }
        await this.#budgetChanged()
        return { wait: grant }
      }
      this.#wakeMessages.delete(name)
      const epoch = job.epoch + 1
      this.#leases.set(name, { epoch, until: now + this.#leaseMs() })
      const { waitingFor: _w, ...unheld } = job
      const started: JobRecord = {
        ...unheld,
        epoch,
        kind: request.kind,
        status: request.kind === 'issue' && !job.certificate ? 'processing' : job.status,
        updatedAt: new Date(now).toISOString(),
      }
      await this.#put(started)
      await this.#budgetChanged()
      return { run: { epoch, job: started } }
    })
  }

  /**
   * Records what run `epoch` of job `name` did, before the request that depends on it. `false` when the run was
   * superseded (the job was deleted or taken over): the run must stop. Several changes (in the order they happened)
   * are one write.
   */
  record(name: string, epoch: number, change: JobChange | readonly JobChange[]): Promise<boolean> {
    return this.#serial(name, async () => {
      const job = await this.#current(name, epoch)
      if (!job) return false
      const next: JobRecord = { ...job, updatedAt: new Date(this.#now()).toISOString() }
      const changes: readonly JobChange[] = Array.isArray(change) ? change : [change as JobChange]
      for (const change of changes) {
        if ('orderUrl' in change) next.orderUrl = change.orderUrl
        if ('certificateKey' in change) next.certificateKey = change.certificateKey
        if ('present' in change)
          next.presented = [
            ...next.presented.filter((p) => !samePresented(p, change.present)),
            change.present,
          ]
        if ('cleaned' in change)
          next.presented = next.presented.filter((p) => !samePresented(p, change.cleaned))
      }
      await this.#put(next)
      // The first new order placed after a pause (the probe): the others may follow.
      if (changes.some((c) => 'orderUrl' in c) && this.#budget.orderPlaced(name)) await this.#budgetChanged()
      return true
    })
  }

  /** Ends run `epoch` of job `name`: frees its room in the budget (waking who fits) and records the result. */
  finish(name: string, epoch: number, result: JobResult): Promise<boolean> {
    return this.#serial(name, async () => {
      const job = await this.#current(name, epoch)
      if (!job) return false
      const now = this.#now()
      const at = new Date(now).toISOString()
      this.#leases.delete(name)
      const { orderUrl: _o, certificateKey: _k, error: _e, ...rest } = job
      let next: JobRecord
      switch (result.status) {
        case 'valid':
          next = {
            ...rest,
            status: 'valid',
            attempts: 0,
            certificate: result.certificate,
            renewals: job.certificate ? job.renewals + 1 : job.renewals,
            updatedAt: at,
          }
          break
        case 'failed':
          next = {
            ...rest,
            status: job.certificate ? 'valid' : 'failed',
            attempts: job.attempts + 1,
            error: result.error,
            updatedAt: at,
          }
          break
        case 'retry':
          next = {
            ...job,
            status: job.certificate ? 'valid' : 'pending',
            attempts: result.attempt === false ? job.attempts : job.attempts + 1,
            error: result.error,
            updatedAt: at,
          }
          break
        case 'unchanged': {
          const { certificate, error: _previous, ...kept } = job
          next = {
            ...kept,
            ...(certificate && { certificate }),
            status: certificate ? 'valid' : job.status,
            ...(result.error && { error: result.error }),
            updatedAt: at,
          }
          if (certificate && result.schedule) {
            const { checkAt: _c, ...kept } = certificate
            next.certificate = {
              ...kept,
              renewAt: result.schedule.renewAt,
              ...(result.schedule.checkAt !== undefined && { checkAt: result.schedule.checkAt }),
            }
          }
          break
        }
      }
      await this.#put(next)
      if ((result.status === 'failed' || result.status === 'retry') && validationFailed(result.error)) {
        this.#budget.authorizationsFailed(failedIdentifiers(result.error, job.identifiers), now)
      }
      this.#budget.release(name, result.status === 'valid', now)
      await this.#budgetChanged()
      return true
    })
  }

  /**
   * Job `name` will not heal (its message went to the dead-letter queue without a run to finish it): `failed`, or
   * still `valid` with the error when it has a certificate. Any run of it is fenced off.
   */
  markFailed(name: string, error: ErrorNote): Promise<JobRecord | undefined> {
    return this.#serial(name, async () => {
      const job = await this.#job(name)
      if (!job) return undefined
      this.#leases.delete(name)
      const { orderUrl: _o, certificateKey: _k, ...rest } = job
      const next: JobRecord = {
        ...rest,
        epoch: job.epoch + 1,
        status: job.certificate ? 'valid' : 'failed',
        error,
        updatedAt: new Date(this.#now()).toISOString(),
      }
      await this.#put(next)
      if (this.#budget.release(name)) await this.#budgetChanged()
      return next
    })
  }

  /** The CA asked for no new orders before `until` (ms): every job waits (`429 rateLimited` on newOrder). */
  async pauseNewOrders(until: number): Promise<void> {
    this.#budget.pause(until)
    await this.#budgetChanged()
  }

  /**
   * The CA refused a new order of job `name` with `429 rateLimited`: the budget learns from it (see
   * {@link RateBudget.rateLimited}: the named limit lowered to what was in flight, a pause, then a probe).
   */
  async rateLimited(name: string, refusal: Parameters<RateBudget['rateLimited']>[1]): Promise<void> {
    this.#budget.rateLimited(name, refusal, this.#now())
    await this.#budgetChanged()
  }

  /** Every job, in name order, read a page of 1,000 at a time. */
  async *#allJobs(): AsyncGenerator<JobRecord> {
    let cursor: string | undefined
    do {
      const page = await this.listJobs({ limit: 1000, ...(cursor !== undefined && { cursor }) })
      yield* page.jobs
      cursor = page.cursor
    } while (cursor !== undefined)
  }

  /** Whether a live run holds job `name` (its lease has not run out at `now`). */
  #runHolds(name: string, now: number): boolean {
    const lease = this.#leases.get(name)
    return lease !== undefined && lease.until > now
  }

  /**
   * Names of the jobs that are not done and that nothing in this object's memory is taking care of: no live run,
   * not waiting in the budget's line. After a restart (memory lost) that is every job not done. A cron pass
   * re-enqueues them: queue messages do not survive a restart, this object does.
   */
  async unfinished(): Promise<string[]> {
    const now = this.#now()
    const waiting = new Set(this.#budget.waiting)
    const names: string[] = []
    for await (const job of this.#allJobs()) {
      if (job.status !== 'pending' && job.status !== 'processing') continue
      if (this.#runHolds(job.name, now) || waiting.has(job.name)) continue
      names.push(job.name)
    }
    return names
  }

  /**
   * Names of the jobs with a certificate that is due for renewal by `asOf` (ms), or whose renewal information is due
   * for a check, and that no run holds: a cron pass enqueues a renewal run for each.
   */
  async dueForRenewal(asOf: number): Promise<string[]> {
    const now = this.#now()
    const names: string[] = []
    for await (const { name, certificate } of this.#allJobs()) {
      if (!certificate || this.#runHolds(name, now)) continue
      const due =
        Date.parse(certificate.renewAt) <= asOf ||
        (certificate.checkAt !== undefined && Date.parse(certificate.checkAt) <= asOf)
      if (due) names.push(name)
    }
    return names
  }

  /**
   * Names of the jobs whose certificate was issued by a CA other than `directoryUrl` (the account's CA changed) and
   * that no run holds: each is re-issued from the new CA (`begin` with `reissue`) while its certificate stays
   * served. A certificate that does not record its CA is left alone.
   */
  async issuedElsewhere(directoryUrl: string): Promise<string[]> {
    const now = this.#now()
    const names: string[] = []
    for await (const { name, certificate } of this.#allJobs()) {
      if (certificate?.directoryUrl === undefined || certificate.directoryUrl === directoryUrl) continue
      if (!this.#runHolds(name, now)) names.push(name)
    }
    return names
  }

  /**
   * Jobs per status, challenges presented and not cleaned up, and the budget's state: for an operator's status page
   * and for tests. Reads every job.
   */
  async summary(): Promise<{
    jobs: Record<JobStatus, number>
    presented: number
    pendingAuthorizations: number
    waiting: number
    nonces: number
  }> {
    const jobs: Record<JobStatus, number> = { pending: 0, processing: 0, valid: 0, failed: 0 }
    let presented = 0
    for await (const job of this.#allJobs()) {
      jobs[job.status]++
      presented += job.presented.length
    }
    return {
      jobs,
      presented,
      pendingAuthorizations: this.#budget.held,
      waiting: this.#budget.waiting.length,
      nonces: this.#nonces.length,
    }
  }

  /** The Durable Object's alarm: wakes the jobs whose wait ended by itself. */
  async alarm(): Promise<void> {
    await this.#budgetChanged()
  }

  /** The budget, for tests and metrics. */
  get budget(): RateBudget {
    return this.#budget
  }

  // --- Internals ----------------------------------------------------------------------------------------

  #leaseMs(): number {
    return this.#options.leaseMs ?? 300_000
  }

  /**
   * Job `name`: from memory when this object wrote or read it lately (it is the only writer of its jobs, so the copy
   * is current), else from storage. Saves a storage read and its deserialisation on each of a run's writes.
   */
  async #job(name: string): Promise<JobRecord | undefined> {
    const cached = this.#jobs.get(name)
    if (cached) return cached
    const job = (await this.#storage.get(JOB + name)) as JobRecord | undefined
    if (job) this.#remember(job)
    return job
  }

  async #put(job: JobRecord): Promise<void> {
    await this.#storage.put(JOB + job.name, job)
    this.#remember(job)
  }

  #remember(job: JobRecord): void {
    this.#jobs.delete(job.name)
    this.#jobs.set(job.name, job)
    if (this.#jobs.size > JOBS_IN_MEMORY) this.#jobs.delete(this.#jobs.keys().next().value!)
  }

  /** The job if run `epoch` is still its current run; renews the run's lease. */
  async #current(name: string, epoch: number): Promise<JobRecord | undefined> {
    const job = await this.#job(name)
    if (!job || job.epoch !== epoch) return undefined
    this.#leases.set(name, { epoch, until: this.#now() + this.#leaseMs() })
    return job
  }

  /** Stores the budget, wakes who fits now, and sets the alarm for the next wait that ends by itself. */
  async #budgetChanged(): Promise<void> {
    const now = this.#now()
    const woken = this.#budget.wake(now)
    await this.#storage.put('budget', this.#budget.state)
    const messages = woken.flatMap((name) =>
      this.#wakeMessages.has(name) ? [this.#wakeMessages.get(name)] : [],
    )
    for (const name of woken) this.#wakeMessages.delete(name)
    if (messages.length > 0) await this.#options.wake(messages)
    const next = this.#budget.nextWake(now)
    if (next !== undefined) {
      const current = await this.#storage.getAlarm()
      if (current === null || current > next || current <= now) await this.#storage.setAlarm(next)
    }
  }
}

/** Problem codes of a validation that failed (what the failed-authorization limit counts). */
const VALIDATION_FAILURES = new Set([
  'ERR_AUTHORIZATION_INVALID',
  'ERR_CHALLENGE_INVALID',
  'ERR_ACME_UNAUTHORIZED',
  'ERR_ACME_CONNECTION',
  'ERR_ACME_DNS',
  'ERR_ACME_INCORRECT_RESPONSE',
  'ERR_ACME_TLS',
  'ERR_ACME_CAA',
])

function validationFailed(error: ErrorNote): boolean {
  return error.code !== undefined && VALIDATION_FAILURES.has(error.code)
}

/** The identifiers whose authorization failed: the one the message names, else all of the job's. */
function failedIdentifiers(error: ErrorNote, identifiers: string[]): string[] {
  const named = /authorization for (\S+) is invalid/.exec(error.message)?.[1]
  return named && identifiers.includes(named) ? [named] : identifiers
}

function samePresented(a: PresentedChallenge, b: PresentedChallenge): boolean {
  return a.type === b.type && a.context.challenge.url === b.context.challenge.url
}
