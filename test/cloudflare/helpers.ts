/** Typed access to the test Worker's account objects from the workerd unit tests. */
import { env, runInDurableObject } from 'cloudflare:test'
import type { TestAccount, TestAccountStub } from './worker.ts'

/** The account object named `name`, through its stub. */
export function accountStub(name: string): TestAccountStub {
  return env.ACCOUNT.getByName(name) as unknown as TestAccountStub
}

/** Runs `fn` inside the account object behind `stub`, with the instance and its state. */
export function insideAccount<R>(
  stub: TestAccountStub,
  fn: (instance: TestAccount, state: DurableObjectState) => R | Promise<R>,
): Promise<R> {
  return runInDurableObject(stub as unknown as DurableObjectStub<TestAccount>, fn)
}
