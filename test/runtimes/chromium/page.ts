/**
 * Chromium entry of the cross-runtime end-to-end suite: the agent in a page served from 127.0.0.1 (a secure
 * context). The library talks to Pebble directly (CORS, TLS trusted through the NSS database). A page cannot
 * listen, so http-01 answers are published through the page server to the runner's responder, and the
 * management APIs (challtestsrv, Pebble's, which send no CORS headers) are reached through the page server.
 */
import type { E2EContext } from '../../e2e/context.ts'
import { type AgentInfo, listScenarios, probe, type RunRequest, runScenario } from '../agent.ts'

async function post(path: string, body: Record<string, string>): Promise<void> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`)
}

const http01: E2EContext['http01'] = {
  set: (token, keyAuthorization) => post('/__http01/set', { token, keyAuthorization }),
  delete: (token) => post('/__http01/delete', { token }),
}

const agent = {
  info: (): AgentInfo => ({ runtime: 'chromium', version: navigator.userAgent, scenarios: listScenarios() }),
  run: (request: RunRequest) => runScenario(request, http01),
  probe,
}

;(globalThis as { __webacme?: typeof agent }).__webacme = agent
