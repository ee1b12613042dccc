// Vitest globalSetup of the workerd unit tests: one Pebble (with challtestsrv answering http-01) for the tests that
// issue from inside workerd, and a BIND 9 for the RFC 2136 adapter over `connect()` from cloudflare:sockets. The
// Worker trusts the test CA through the pool's Miniflare options (vitest.config.mts).
import type { TestProject } from 'vitest/node'
import type { AuthoritativeServer } from '../harness/authoritative.ts'
import { startBind } from '../harness/bind.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    pebble: { directoryUrl: string; challtestUrl: string }
    bind: { port: number; zone: string; key: { name: string; secret: string; algorithm: string } }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pebble: Pebble = await startPebble({ authzReusePercent: 0 })
  let bind: AuthoritativeServer
  try {
    bind = await startBind({ zones: ['workerd.test'] })
  } catch (err) {
    await pebble.stop()
    throw err
  }
  project.provide('pebble', { directoryUrl: pebble.directoryUrl, challtestUrl: pebble.challtestUrl! })
  project.provide('bind', { port: bind.port, zone: 'workerd.test', key: bind.keys['hmac-sha256'] })
  return async () => {
    await Promise.all([pebble.stop(), bind.stop()])
  }
}
