/**
 * workerd entry of the cross-runtime end-to-end suite (the Worker that ./wrangler.toml describes): the agent
 * as the Worker's fetch handler. The same handler answers Pebble's http-01 requests and the runner's
 * control requests; tokens live in the isolate's memory between requests.
 */
import { createAgent } from '../agent.ts'

const agent = createAgent({ name: 'workerd', version: navigator.userAgent })

export default {
  fetch: (request: Request): Promise<Response> => agent.fetch(request),
}
