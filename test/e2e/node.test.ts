/**
 * The end-to-end scenarios in Node (Vitest), each against a real Pebble started by the harness, twice: Pebble as it
 * is, and Pebble behind the Let's Encrypt-shaped front (test/fixtures/lets-encrypt-ca.ts). Scenarios are grouped
 * by the server profile they need; one set of servers per profile and CA shape. A third pass runs every scenario
 * against the Let's Encrypt-shaped front with webacme/fetch/node (`nodeFetch`, over node:https) in place of Node's
 * built-in fetch: Boulder's headers (several `Link`s, `Retry-After` on polls and 500s, CORS) through node:http.
 */
import { afterAll, beforeAll, describe, it } from 'vitest'
import { nodeFetch } from '../../src/fetch/node-fetch.ts'
import { type Http01Server, startHttp01Server } from '../harness/http01-server.ts'
import { CA_SHAPES, type E2EContext, type ServerProfile } from './context.ts'
import { scenarios } from './scenarios/index.ts'
import { type RunningServers, startServers } from './servers.ts'

const profiles = [...new Set(scenarios.map((s) => s.server))]

// Every scenario against Pebble as it is and against Pebble behind the Let's Encrypt-shaped front, with the
// built-in fetch; and once more against the Let's Encrypt-shaped front with nodeFetch.
const passes = profiles.flatMap((p) => [
  ...CA_SHAPES.map((c) => [p, c, 'fetch'] as const),
  [p, 'letsencrypt', 'nodeFetch'] as const,
])
for (const [profile, ca, transport] of passes) {
  describe(`e2e [${profile}${ca === 'pebble' ? '' : `, ${ca}`}${transport === 'fetch' ? '' : ', nodeFetch'}]`, () => {
    let servers: RunningServers
    let http01: Http01Server
    let ctx: E2EContext
    beforeAll(async () => {
      servers = await startServers(profile as ServerProfile, {}, ca)
      http01 = await startHttp01Server(servers.info.httpPort)
      const { pebble, info } = servers
      const challtest = pebble.challtest!
      ctx = {
        ca,
        directoryUrl: info.directoryUrl,
        managementUrl: info.managementUrl,
        fetch: transport === 'fetch' ? (input, init) => fetch(input, init) : nodeFetch,
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
        domain: `${profile}-${ca}${transport === 'fetch' ? '' : '-nf'}-${Date.now().toString(36)}.webacme.test`,
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
