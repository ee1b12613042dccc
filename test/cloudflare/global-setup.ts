// Vitest globalSetup of the workerd unit tests: one Pebble (with challtestsrv answering http-01) for the tests that
// issue from inside workerd. The Worker trusts the test CA through the pool's Miniflare options (vitest.config.mts).
import type { TestProject } from 'vitest/node'
import { type Pebble, startPebble } from '../harness/pebble.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    pebble: { directoryUrl: string; challtestUrl: string }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pebble: Pebble = await startPebble({ authzReusePercent: 0 })
  project.provide('pebble', { directoryUrl: pebble.directoryUrl, challtestUrl: pebble.challtestUrl! })
  return () => pebble.stop()
}
