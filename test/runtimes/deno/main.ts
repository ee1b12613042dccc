/**
 * Deno entry of the cross-runtime end-to-end suite: serves the agent (http-01 + the runner's control
 * endpoints) with `Deno.serve` on the port given as the first argument. Started by test/runtimes/deno/launch.ts.
 */
import { createAgent } from '../agent.ts'

declare const Deno: {
  args: string[]
  version: { deno: string }
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): unknown
}

const agent = createAgent({ name: 'deno', version: Deno.version.deno })
Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(Deno.args[0]),
    onListen: ({ port }) => console.log(`listening ${port}`),
  },
  agent.fetch,
)
