/**
 * The Durable Object per ACME account (one per CA directory): a thin shell around `AcmeAccountCore` from
 * `webacme/cloudflare`, plus what only the service knows: how to create the account (from the vars and secrets)
 * and where woken jobs go (the jobs queue).
 */
import { DurableObject } from 'cloudflare:workers'
import { AcmeClient, generateKeyPair } from 'webacme'
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
import type { PassReport } from './renewal.ts'
import { keyRingOf } from './storage.ts'

export class AcmeAccount extends DurableObject<Env> {
  #core!: AcmeAccountCore
  readonly #config: Config

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#config = readConfig(env)
    void ctx.blockConcurrencyWhile(async () => {
      this.#core = await AcmeAccountCore.load(ctx.storage, {
        limits: this.#config.limits,
        wake: async (messages) => {
          // sendBatch takes at most 100 messages.
          for (let i = 0; i < messages.length; i += 100) {
            await env.JOBS.sendBatch((messages.slice(i, i + 100) as JobMessage[]).map((body) => ({ body })))
          }
        },
      })
    })
  }

  /** The ACME account, created at the CA the first time (needs ACME_TERMS_OF_SERVICE_AGREED=true). */
  account(): Promise<StoredAccount> {
    return this.#core.ensureAccount(async () => {
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
    })
  }

  session(): ReturnType<AcmeAccountCore['session']> {
    return this.#core.session()
  }
  endSession(back: Parameters<AcmeAccountCore['endSession']>[0]): Promise<void> {
    return this.#core.endSession(back)
  }
  createJob(input: { name: string; identifiers: string[]; challenge: string }) {
    return this.#core.createJob(input)
  }
  getJob(name: string): Promise<JobRecord | undefined> {
    return this.#core.getJob(name)
  }
  listJobs(options: { cursor?: string; limit?: number }): Promise<{ jobs: JobRecord[]; cursor?: string }> {
    return this.#core.listJobs(options)
  }
  deleteJob(name: string): Promise<JobRecord | undefined> {
    return this.#core.deleteJob(name)
  }
  begin(name: string, request: { kind: JobMessage['kind']; wakeMessage: JobMessage }): Promise<BeginResult> {
    return this.#core.begin(name, request)
  }
  record(name: string, epoch: number, change: JobChange): Promise<boolean> {
    return this.#core.record(name, epoch, change)
  }
  finish(name: string, epoch: number, result: JobResult): Promise<boolean> {
    return this.#core.finish(name, epoch, result)
  }
  markFailed(
    name: string,
    error: Parameters<AcmeAccountCore['markFailed']>[1],
  ): Promise<JobRecord | undefined> {
    return this.#core.markFailed(name, error)
  }
  pauseNewOrders(until: number): Promise<void> {
    return this.#core.pauseNewOrders(until)
  }
  unfinished(): Promise<string[]> {
    return this.#core.unfinished()
  }
  dueForRenewal(asOf: number): Promise<string[]> {
    return this.#core.dueForRenewal(asOf)
  }
  /** Jobs per status, challenges left presented, the budget, the last cron pass: for `GET /api/status`. */
  async status() {
    const [summary, lastPass] = await Promise.all([
      this.#core.summary(),
      this.ctx.storage.get<PassReport>('last-pass'),
    ])
    return { ...summary, ...(lastPass && { lastPass }) }
  }
  /** What the last cron pass enqueued. */
  async recordPass(report: PassReport): Promise<void> {
    await this.ctx.storage.put('last-pass', report)
  }

  override async alarm(): Promise<void> {
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
  | 'unfinished'
  | 'dueForRenewal'
  | 'status'
  | 'recordPass'

/**
 * The account object as its callers see it. Workers' RPC types turn records that hold `unknown` (ACME resources are
 * loose objects) into `never`; over RPC each method returns exactly what the object's method returns.
 */
export type AccountApi = {
  [K in Called]: (...args: Parameters<AcmeAccount[K]>) => Promise<Awaited<ReturnType<AcmeAccount[K]>>>
}

/** The account object of the configured CA. */
export function accountOf(env: Env, config: Config): AccountApi {
  return env.ACCOUNTS.getByName(config.directoryUrl) as unknown as AccountApi
}
