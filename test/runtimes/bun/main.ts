/**
 * Bun entry of the cross-runtime end-to-end suite: serves the agent (http-01 + the runner's control
 * endpoints) with `Bun.serve` on the port given as the first argument. Started by test/runtimes/bun/launch.ts.
 */
import { createAgent } from '../agent.ts'

declare const Bun: {
  argv: string[]
  version: string
  serve(options: {
    hostname: string
    port: number
    idleTimeout: number
    fetch: (request: Request) => Promise<Response>
  }): { port: number }
}

const agent = createAgent({ name: 'bun', version: Bun.version })
// idleTimeout 0: a scenario can take longer than Bun's default 10 s before its response starts.
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(Bun.argv[2]),
  idleTimeout: 0,
  fetch: agent.fetch,
})
console.log(`listening ${server.port}`)
