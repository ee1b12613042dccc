/**
 * The end-to-end scenarios in Node (Vitest), each against a real Pebble started by the harness. Scenarios are
 * grouped by the server profile they need; one set of servers per profile.
 */
import { afterAll, beforeAll, describe, it } from 'vitest'
import { type Http01Server, startHttp01Server } from '../harness/http01-server.ts'
import type { E2EContext, ServerProfile } from './context.ts'
import { scenarios } from './scenarios/index.ts'
import { type RunningServers, startServers } from './servers.ts'

const profiles = [...new Set(scenarios.map((s) => s.server))]

for (const profile of profiles) {
  describe(`e2e [${profile}]`, () => {
    let servers: RunningServers
    let http01: Http01Server
    let ctx: E2EContext
    beforeAll(async () => {
      servers = await startServers(profile as ServerProfile)
      http01 = await startHttp01Server(servers.info.httpPort)
      const { pebble, info } = servers
      const challtest = pebble.challtest!
      ctx = {
        directoryUrl: info.directoryUrl,
        managementUrl: info.managementUrl,
        fetch: (input, init) => fetch(input, init),
        http01: {
          set: async (token, keyAuthorization) => http01.set(token, keyAuthorization),
          delete: async (token) => http01.delete(token),
        },
        dns: {
          addTxt: (name, value) => challtest.setTxt(name, value),
          clearTxt: (name) => challtest.clearTxt(name),
        },
        certStatus: (serial) => pebble.certStatus(serial),
        ...(info.eab && { eab: info.eab }),
        domain: `${profile}-${Date.now().toString(36)}.webacme.test`,
        report: (name, value) => console.log(`[e2e report] ${name}: ${value}`),
      }
    })
    afterAll(async () => {
      await http01?.close()
      await servers?.stop()
    })
    for (const scenario of scenarios.filter((s) => s.server === profile)) {
      it(scenario.name, async () => {
        try {
          await scenario.run(ctx)
        } catch (err) {
          // Pebble's log tail makes a server-side refusal readable from the test report.
          ;(err as Error).message += `\n--- pebble log tail ---\n${servers.pebble.logs().slice(-2000)}`
          throw err
        }
      })
    }
  })
}
