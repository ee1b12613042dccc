/**
 * The end-to-end scenarios in Node (Vitest), each against a real Pebble started by the harness. Scenarios are
 * grouped by the Pebble profile they need; one Pebble per profile.
 */
import { afterAll, beforeAll, describe, it } from 'vitest'
import { type Http01Server, startHttp01Server } from '../harness/http01-server.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { type E2EContext, SERVER_PROFILES, type ServerProfile } from './context.ts'
import { scenarios } from './scenarios/index.ts'

const EAB = {
  kid: 'kid-webacme',
  hmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W',
}
const profiles = [...new Set(scenarios.map((s) => s.server))]

for (const profile of profiles) {
  describe(`e2e [${profile}]`, () => {
    let pebble: Pebble
    let http01: Http01Server
    let ctx: E2EContext
    beforeAll(async () => {
      const settings = SERVER_PROFILES[profile as ServerProfile]
      pebble = await startPebble({
        http01: 'self',
        ...(settings.nonceRejectPercent !== undefined && { nonceRejectPercent: settings.nonceRejectPercent }),
        ...(settings.authzReusePercent !== undefined && { authzReusePercent: settings.authzReusePercent }),
        ...(settings.alternateRoots !== undefined && { alternateRoots: settings.alternateRoots }),
        ...(settings.chainLength !== undefined && { chainLength: settings.chainLength }),
        ...(settings.ordersPerPage !== undefined && { ordersPerPage: settings.ordersPerPage }),
        ...(settings.eab && { externalAccountMacKeys: { [EAB.kid]: EAB.hmacKey } }),
      })
      http01 = await startHttp01Server(pebble.httpPort)
      const challtest = pebble.challtest!
      ctx = {
        directoryUrl: pebble.directoryUrl,
        managementUrl: pebble.managementUrl,
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
        ...(settings.eab && { eab: EAB }),
        domain: `${profile}-${Date.now().toString(36)}.webacme.test`,
        report: (name, value) => console.log(`[e2e report] ${name}: ${value}`),
      }
    })
    afterAll(async () => {
      await http01?.close()
      await pebble?.stop()
    })
    for (const scenario of scenarios.filter((s) => s.server === profile)) {
      it(scenario.name, async () => {
        try {
          await scenario.run(ctx)
        } catch (err) {
          // Pebble's log tail makes a server-side refusal readable from the test report.
          ;(err as Error).message += `\n--- pebble log tail ---\n${pebble.logs().slice(-2000)}`
          throw err
        }
      })
    }
  })
}
