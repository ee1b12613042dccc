// Vitest globalSetup: one throw-away TLS CA per test run, trusted by every test worker.
//
// Runs in the main vitest process before any worker is forked. Vitest 4 forks each worker with
// `{ ...process.env, ... }` taken when the tests are scheduled, i.e. after this setup, so the
// variables set here reach the workers' environment and NODE_EXTRA_CA_CERTS is in place when Node
// starts in them (it is read only at process start). test/harness/pebble.test.ts checks this.
// When scripts/test.mjs (or anyone) already exported WEBACME_TEST_CA_DIR, that CA is reused.

import { CA_DIR_ENV, caEnv, createTestCa, isTestCaDir, loadTestCa, removeTestCa } from './ca.ts'

export default async function setup(): Promise<() => Promise<void>> {
  const saved = {
    [CA_DIR_ENV]: process.env[CA_DIR_ENV],
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
  }
  const existing = process.env[CA_DIR_ENV]
  const reuse = existing !== undefined && existing !== '' && isTestCaDir(existing)
  const ca = reuse ? await loadTestCa(existing) : await createTestCa()
  Object.assign(process.env, caEnv(ca))

  return async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    if (!reuse) await removeTestCa(ca)
  }
}
