/**
 * The test Worker of the `webacme/cloudflare` unit tests: Durable Object classes that delegate to the building
 * blocks, as an application's would, so the tests reach them through real stubs and real storage.
 */
import { DurableObject } from 'cloudflare:workers'
import {
  AcmeAccountCore,
  type BeginResult,
  DurableObjectRecords,
  type JobChange,
  type JobRecord,
  type JobResult,
  KvCasCoordinator,
  type RateLimits,
  type StoredAccount,
} from '../../src/cloudflare/index.ts'

declare global {
  namespace Cloudflare {
    // `env` of `cloudflare:test` is Cloudflare.Env: these bindings.
    interface Env extends TestEnv {}
  }
}

export interface TestEnv {
  KV: KVNamespace
  BUCKET: R2Bucket
  ACCOUNT: DurableObjectNamespace<TestAccount>
  COORDINATOR: DurableObjectNamespace<TestCoordinator>
  RECORDS: DurableObjectNamespace<TestRecords>
  WAKE: Queue<unknown>
}

/** Limits small enough to reach in a test. */
export const TEST_LIMITS: RateLimits = {
  pendingAuthorizations: 3,
  newOrders: { limit: 4, windowSeconds: 60 },
  requestsPerSecond: 50,
}

/** An account object with a clock the test sets, and the wake-ups it sent kept for the test to read. */
export class TestAccount extends DurableObject<TestEnv> {
  core!: AcmeAccountCore
  now = Date.parse('2030-01-01T00:00:00Z')
  woken: unknown[] = []

  constructor(ctx: DurableObjectState, env: TestEnv) {
    super(ctx, env)
    void ctx.blockConcurrencyWhile(async () => {
      this.core = await AcmeAccountCore.load(ctx.storage, {
        limits: TEST_LIMITS,
        leaseMs: 60_000,
        now: () => this.now,
        wake: async (messages) => {
          this.woken.push(...messages)
        },
      })
    })
  }

  async setNow(now: number): Promise<void> {
    this.now = now
  }
  ensureAccount(account: StoredAccount): Promise<StoredAccount> {
    return this.core.ensureAccount(async () => account)
  }
  createJob(input: { name: string; identifiers: string[]; challenge: string }) {
    return this.core.createJob(input)
  }
  getJob(name: string): Promise<JobRecord | undefined> {
    return this.core.getJob(name)
  }
  begin(name: string, request: Parameters<AcmeAccountCore['begin']>[1]): Promise<BeginResult> {
    return this.core.begin(name, request)
  }
  record(name: string, epoch: number, change: JobChange | JobChange[]): Promise<boolean> {
    return this.core.record(name, epoch, change)
  }
  finish(name: string, epoch: number, result: JobResult): Promise<boolean> {
    return this.core.finish(name, epoch, result)
  }
  markFailed(name: string, error: { code?: string; message: string; at: string }) {
    return this.core.markFailed(name, error)
  }
  dueForRenewal(asOf: number): Promise<string[]> {
    return this.core.dueForRenewal(asOf)
  }
  override async alarm(): Promise<void> {
    await this.core.alarm()
  }
}

/**
 * The stub of a TestAccount as the tests call it. Workers' RPC typing turns records holding `unknown` (ACME
 * resources are loose objects) into `never`; the methods return exactly what the object's methods return.
 */
type Called =
  | 'setNow'
  | 'ensureAccount'
  | 'createJob'
  | 'getJob'
  | 'begin'
  | 'record'
  | 'finish'
  | 'markFailed'
  | 'dueForRenewal'
export type TestAccountStub = Omit<DurableObjectStub<TestAccount>, Called> & Pick<TestAccount, Called>

/** The coordinator of KvStorage's compare-and-swap, as an application exposes it. */
export class TestCoordinator extends DurableObject<TestEnv> {
  readonly coordinator: KvCasCoordinator
  constructor(ctx: DurableObjectState, env: TestEnv) {
    super(ctx, env)
    this.coordinator = new KvCasCoordinator(ctx.storage, env.KV)
  }
  compareAndSwap(key: string, expected: string | null, value: string | null): Promise<boolean> {
    return this.coordinator.compareAndSwap(key, expected, value)
  }
  write(key: string, value: string | null): Promise<void> {
    return this.coordinator.write(key, value)
  }
}

/** Hosts a DurableObjectRecords for runInDurableObject. */
export class TestRecords extends DurableObject<TestEnv> {
  records(): DurableObjectRecords {
    return new DurableObjectRecords(this.ctx.storage, { prefix: 'records/' })
  }
}

export default {
  async fetch(): Promise<Response> {
    return new Response('webacme/cloudflare test worker')
  },
  async queue(): Promise<void> {},
} satisfies ExportedHandler<TestEnv>
