/**
 * The service's Durable Object (one, named {@link SERVICE_OBJECT}: service/state.ts): a thin shell around
 * `AcmeAccountCore` from `webacme/cloudflare`, plus what only the service knows: how to create the account at the
 * configured CA (from the vars and secrets), where woken jobs go (the jobs queue), the hostname index (one hostname,
 * one job), and the move of an earlier version's state (an object per CA directory) into it.
 */
import { DurableObject } from 'cloudflare:workers'
import { AcmeClient, generateKeyPair, type PresentedChallenge } from 'webacme'
import {
  ACCOUNT_KEY_LABEL,
  AcmeAccountCore,
  type BeginResult,
  type JobChange,
  type JobRecord,
  type JobResult,
  type StoredAccount,
  sealPrivateKey,
} from 'webacme/cloudflare'
import { type Config, type Env, type JobMessage, readConfig } from './env.ts'
import { type Refusal, registeredDomain } from './limits.ts'
import {
  hostKey,
  type LegacyObject,
  type LegacyPage,
  MOVED_KEY,
  migrateFromLegacy,
  SERVICE_OBJECT,
} from './state.ts'
import { keyRingOf } from './storage.ts'

/** What a cron pass enqueued (renewal.ts), as the object keeps it: `GET /api/status` shows it as `lastPass`. */
export interface PassReport {
  /** When it ran, and the time it judged due-ness as of (the scheduled time), ms. */
  at: number
  asOf: number
  /** Unfinished jobs re-enqueued. */
  resumed: number
  /** Renewal runs enqueued. */
  renewals: number
  /** Re-issues enqueued: certificates from another CA than the configured one. */
  reissues?: number
}

export class AcmeAccount extends DurableObject<Env> {
  #core!: AcmeAccountCore
  readonly #config: Config
  #ready: Promise<void> | undefined
  #hostLock: Promise<unknown> = Promise.resolve()
  /** Requests this object answered since it started (`GET /api/status`: what a certificate costs in calls). */
  #requests = 0
  #serviceObject: boolean | undefined

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#config = readConfig(env)
    void ctx.blockConcurrencyWhile(() => this.#load())
  }

  async #load(): Promise<void> {
    const { env, ctx } = this
    this.#core = await AcmeAccountCore.load(ctx.storage, {
      limits: this.#config.limits,
      registeredDomain,
      wake: async (messages) => {
        // sendBatch takes at most 100 messages.
        for (let i = 0; i < messages.length; i += 100) {
          await env.JOBS.sendBatch((messages.slice(i, i + 100) as JobMessage[]).map((body) => ({ body })))
        }
      },
    })
  }

  /** Whether this is the service object (not a legacy one named by a directory URL). */
  #isServiceObject(): boolean {
    // Asked on every request: the id (a digest of the name) is computed once.
    this.#serviceObject ??= this.ctx.id.equals(this.env.ACCOUNTS.idFromName(SERVICE_OBJECT))
    return this.#serviceObject
  }

  /**
   * Before the service object answers anything: the state of an earlier version (an object named by the directory
   * URL) is copied in, once (service/state.ts), and the core reloaded from it.
   */
  #migrated(): Promise<void> {
    this.#requests++
    // Only the service object takes state in; a legacy object only gives it (exportEntries).
    if (!this.#isServiceObject()) return Promise.resolve()
    this.#ready ??= this.ctx
      .blockConcurrencyWhile(async () => {
        const from = this.env.MIGRATE_FROM_DIRECTORY?.trim() || this.#config.directoryUrl
        const legacy = this.env.ACCOUNTS.getByName(from) as unknown as LegacyObject
        const moved = await migrateFromLegacy(this.ctx.storage, legacy, from)
        if (moved !== undefined) {
          // What was copied (an account without jobs, too) is what the core works from now.
          await this.#load()
          if (moved > 0)
            console.log(`webacme: moved ${moved} jobs from the object of ${from} into ${SERVICE_OBJECT}`)
        }
      })
      .catch((error: unknown) => {
        this.#ready = undefined
        throw error
      })
    return this.#ready
  }

  /** A page of this object's storage, for the move into the service object (called on a legacy object only). */
  async exportEntries(after: string | undefined): Promise<LegacyPage> {
    const page = await this.ctx.storage.list({
      limit: 256,
      ...(after !== undefined && { startAfter: after }),
    })
    const entries = [...page.entries()]
    return { entries, ...(entries.length === 256 && { next: entries.at(-1)![0] }) }
  }

  /** The move is done: this legacy object stops waking anyone. */
  async exportDone(to: string): Promise<void> {
    await this.ctx.storage.put(MOVED_KEY, to)
    await this.ctx.storage.deleteAlarm()
  }

  /** The ACME account, created at the CA the first time (needs ACME_TERMS_OF_SERVICE_AGREED=true). */
  async account(): Promise<StoredAccount> {
    await this.#migrated()
    return this.#core.ensureAccount(
      async () => {
        const { directoryUrl, termsOfServiceAgreed, contact } = this.#config
        if (!termsOfServiceAgreed) {
          throw new Error(
            'ERR_TERMS_NOT_AGREED: read the CA terms of service, then set ACME_TERMS_OF_SERVICE_AGREED = "true"',
          )
        }
        const accountKey = await generateKeyPair('ES256')
        const client = new AcmeClient({ directoryUrl, accountKey })
        const eab =
          this.env.ACME_EAB_KID && this.env.ACME_EAB_HMAC_KEY
            ? { kid: this.env.ACME_EAB_KID, hmacKey: this.env.ACME_EAB_HMAC_KEY }
            : undefined
        await client.createAccount({
          termsOfServiceAgreed: true,
          ...(contact.length > 0 && { contact }),
          ...(eab && { externalAccountBinding: eab }),
        })
        const ring = await keyRingOf(this.env)
        return {
          directoryUrl,
          accountUrl: client.accountUrl!,
          privateKey: await sealPrivateKey(ring, accountKey.privateKey, ACCOUNT_KEY_LABEL),
        }
      },
      { directoryUrl: this.#config.directoryUrl },
    )
  }

  /**
   * What a consumer invocation starts from (AcmeAccountCore.session), the CA's pause, and `now`: this object's clock
   * (the clock of every job's `createdAt`) as it answered.
   */
  async session(): Promise<ReturnType<AcmeAccountCore['session']> & { pausedUntil?: number; now: number }> {
    await this.#migrated()
    const now = Date.now()
    const started = this.#core.session()
    // An account at another CA (ACME_DIRECTORY changed): the consumer asks for the account, which creates it.
    if (started.account && started.account.directoryUrl !== this.#config.directoryUrl) {
      return { account: undefined, nonces: [], pacer: {}, now }
    }
    // The CA's pause, for the consumer's gate: no new order before it, whichever invocation asks.
    const pausedUntil = this.#core.budget.state.pausedUntil
    return { ...started, ...(pausedUntil !== undefined && { pausedUntil }), now }
  }
  /** A `429 rateLimited` on a new order of job `name` (or of no known job): the budget learns from it. */
  async rateLimited(name: string, refusal: Refusal): Promise<void> {
    await this.#migrated()
    return this.#core.rateLimited(name, refusal)
  }
  async endSession(back: Parameters<AcmeAccountCore['endSession']>[0]): Promise<void> {
    await this.#migrated()
    return this.#core.endSession(back)
  }
  /**
   * Creates a job (AcmeAccountCore.createJob), refusing a hostname that another job manages: one hostname, one
   * job, so that two certificates of the service never compete for the same name's challenges and limits.
   */
  async createJob(input: {
    name: string
    identifiers: string[]
    challenge: string
  }): Promise<
    Awaited<ReturnType<AcmeAccountCore['createJob']>> | { hostnameTaken: { hostname: string; name: string } }
  > {
    await this.#migrated()
    const run = this.#hostLock.then(async () => {
      for (const hostname of input.identifiers) {
        const owner = await this.ctx.storage.get<string>(hostKey(hostname))
        if (owner === undefined || owner === input.name) continue
        if (await this.#core.getJob(owner)) return { hostnameTaken: { hostname, name: owner } }
      }
      const result = await this.#core.createJob(input)
      if ('job' in result && result.created) {
        await this.ctx.storage.put(
          Object.fromEntries(input.identifiers.map((hostname) => [hostKey(hostname), input.name])),
        )
      }
      return result
    })
    this.#hostLock = run.catch(() => {})
    return run
  }
  async getJob(name: string): Promise<JobRecord | undefined> {
    await this.#migrated()
    return this.#core.getJob(name)
  }
  async listJobs(options: {
    cursor?: string
    limit?: number
  }): Promise<{ jobs: JobRecord[]; cursor?: string }> {
    await this.#migrated()
    return this.#core.listJobs(options)
  }
  async deleteJob(name: string): Promise<JobRecord | undefined> {
    await this.#migrated()
    const run = this.#hostLock.then(async () => {
      const job = await this.#core.deleteJob(name)
      if (job) {
        const owned = await this.ctx.storage.get<string>(job.identifiers.map(hostKey))
        const mine = [...owned].filter(([, owner]) => owner === name).map(([key]) => key)
        if (mine.length > 0) await this.ctx.storage.delete(mine)
      }
      return job
    })
    this.#hostLock = run.catch(() => {})
    return run
  }
  async begin(
    name: string,
    request: { kind: 'issue' | 'renew'; wakeMessage: JobMessage; reissue?: boolean },
  ): Promise<BeginResult> {
    await this.#migrated()
    return this.#core.begin(name, request)
  }
  /** What a run did, before the request that depends on it; several changes of one run are one write. */
  async record(name: string, epoch: number, change: JobChange | JobChange[]): Promise<boolean> {
    await this.#migrated()
    return this.#core.record(name, epoch, change)
  }
  /**
   * Ends a run; `before`: what the run did and had not recorded yet (cleanups, which a crash only repeats), recorded
   * first in the same request.
   */
  async finish(name: string, epoch: number, result: JobResult, before?: JobChange[]): Promise<boolean> {
    await this.#migrated()
    if (before && before.length > 0 && !(await this.#core.record(name, epoch, before))) return false
    return this.#core.finish(name, epoch, result)
  }
  async markFailed(
    name: string,
    error: Parameters<AcmeAccountCore['markFailed']>[1],
  ): Promise<JobRecord | undefined> {
    await this.#migrated()
    return this.#core.markFailed(name, error)
  }
  async pauseNewOrders(until: number): Promise<void> {
    await this.#migrated()
    return this.#core.pauseNewOrders(until)
  }
  async unfinished(): Promise<string[]> {
    await this.#migrated()
    return this.#core.unfinished()
  }
  async dueForRenewal(asOf: number): Promise<string[]> {
    await this.#migrated()
    return this.#core.dueForRenewal(asOf)
  }
  /** Jobs whose certificate came from another CA than the configured one: each is re-issued from it. */
  async issuedElsewhere(): Promise<string[]> {
    await this.#migrated()
    return this.#core.issuedElsewhere(this.#config.directoryUrl)
  }
  /** Jobs per status, challenges left presented, the budget, the last cron pass: for `GET /api/status`. */
  async status() {
    await this.#migrated()
    const [summary, lastPass] = await Promise.all([
      this.#core.summary(),
      this.ctx.storage.get<PassReport>('last-pass'),
    ])
    return { ...summary, ...(lastPass && { lastPass }), objectRequests: this.#requests }
  }
  /** What the last cron pass enqueued. */
  async recordPass(report: PassReport): Promise<void> {
    this.#requests++
    await this.ctx.storage.put('last-pass', report)
  }

  override async alarm(): Promise<void> {
    // A legacy object (named by a directory URL) wakes nobody: its jobs live in the service object.
    if (!this.#isServiceObject()) return
    await this.#migrated()
    await this.#core.alarm()
  }
}

type Called =
  | 'account'
  | 'session'
  | 'endSession'
  | 'createJob'
  | 'getJob'
  | 'listJobs'
  | 'deleteJob'
  | 'begin'
  | 'record'
  | 'finish'
  | 'markFailed'
  | 'pauseNewOrders'
  | 'rateLimited'
  | 'unfinished'
  | 'dueForRenewal'
  | 'issuedElsewhere'
  | 'status'
  | 'recordPass'

/**
 * The account object as its callers see it. Workers' RPC types turn records that hold `unknown` (ACME resources are
 * loose objects) into `never`; over RPC each method returns exactly what the object's method returns.
 */
export type AccountApi = {
  [K in Called]: (...args: Parameters<AcmeAccount[K]>) => Promise<Awaited<ReturnType<AcmeAccount[K]>>>
}

/**
 * The service's object. Found by a fixed name, not by the CA's directory URL (service/state.ts): a change of CA
 * keeps every job. `config` is kept for callers (the object reads the same configuration).
 */
export function accountOf(env: Env, _config?: Config): AccountApi {
  // The object's id is a digest of its name: computed once per isolate (and namespace), not per request.
  if (serviceId?.namespace !== env.ACCOUNTS) {
    serviceId = { namespace: env.ACCOUNTS, id: env.ACCOUNTS.idFromName(SERVICE_OBJECT) }
  }
  return env.ACCOUNTS.get(serviceId.id) as unknown as AccountApi
}

let serviceId: { namespace: DurableObjectNamespace; id: DurableObjectId } | undefined

/**
 * The account object as one run of a job sees it: the run's writes go to the object as they must, each before the
 * request that depends on it, except a cleanup (of a presented challenge), which is sent with the run's next write or
 * with its `finish`. A crash in between only makes the next run clean up again what is already gone, so a
 * certificate costs one request to the object less.
 */
export function runAccount(account: AccountApi): Pick<AccountApi, 'record' | 'finish'> {
  let cleaned: JobChange[] = []
  const take = () => {
    const taken = cleaned
    cleaned = []
    return taken
  }
  return {
    record(name, epoch, change) {
      if (!Array.isArray(change) && 'cleaned' in change) {
        // The object finds what was cleaned up by its type and challenge URL (AcmeAccountCore.record): no more crosses.
        const { type, context } = change.cleaned
        cleaned.push({
          cleaned: { type, context: { challenge: { url: context.challenge.url } } } as PresentedChallenge,
        })
        return Promise.resolve(true)
      }
      return account.record(name, epoch, [...take(), ...(Array.isArray(change) ? change : [change])])
    },
    finish(name, epoch, result) {
      const before = take()
      return before.length > 0
        ? account.finish(name, epoch, result, before)
        : account.finish(name, epoch, result)
    },
  }
}
