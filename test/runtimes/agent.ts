/**
 * The runtime side of the cross-runtime end-to-end suite: Web APIs only, so the same file runs in Deno, Bun,
 * workerd and a Chromium page. It runs one scenario of test/e2e/scenarios at a time against the servers
 * described by a {@link ServerInfo}, and (where the runtime can listen) answers http-01 itself.
 *
 * HTTP protocol spoken by {@link createAgent}'s `fetch` handler (the Node-side runner is the only client):
 * - `GET /.well-known/acme-challenge/<token>`: http-01 answers (RFC 8555 §8.3), dialled by Pebble's VA.
 * - `GET /__e2e/info`: runtime name and version, and the scenarios this build contains.
 * - `POST /__e2e/run` `{ info, id, domain }`: runs scenario `id`, answers a {@link RunResult}.
 * - `POST /__e2e/probe` `{ url }`: one `fetch(url)`, answers a {@link ProbeResult} (CA trust checks).
 */
import { http01Solver } from '../../src/index.ts'
import type { E2EContext } from '../e2e/context.ts'
import { remoteContext } from '../e2e/remote-context.ts'
import { scenarios } from '../e2e/scenarios/index.ts'
import type { ServerInfo } from '../e2e/servers.ts'

export interface ScenarioSummary {
  /** Index in test/e2e/scenarios/index.ts. */
  id: number
  name: string
  server: string
}

export interface AgentInfo {
  runtime: string
  version: string
  scenarios: ScenarioSummary[]
}

export interface RunRequest {
  info: ServerInfo
  id: number
  domain: string
}

export interface RunResult {
  id: number
  name: string
  ok: boolean
  ms: number
  error?: string
  reports: Array<[string, string | number]>
}

export interface ProbeResult {
  ok: boolean
  status?: number
  /** The error as text: `name: message`, stack and causes. */
  error?: string
  /** The first `code` along the error and its causes (Bun and Node name TLS failures this way). */
  code?: string
  /** The URL the runtime says the error is about, where it says one (Bun: `path`). */
  errorUrl?: string
}

export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/'

/** http-01 answered by the library's own solver handler: the context side sets tokens, the runtime's server answers. */
export interface Http01Tokens {
  readonly responder: E2EContext['http01']
  /** The solver's answer for `/.well-known/acme-challenge/<token>`; a 404 for unknown tokens; undefined otherwise. */
  answer(request: Request): Promise<Response | undefined>
}

export function http01Tokens(): Http01Tokens {
  const tokens = new Map<string, string>()
  const solver = http01Solver({ store: tokens })
  return {
    responder: {
      set: async (token, keyAuthorization) => void tokens.set(token, keyAuthorization),
      delete: async (token) => void tokens.delete(token),
    },
    async answer(request) {
      const answer = await solver.handle(request)
      if (answer) return answer
      return new URL(request.url).pathname.startsWith(CHALLENGE_PREFIX)
        ? new Response('not found\n', { status: 404 })
        : undefined
    },
  }
}

/** `name: message`, the stack and every `cause`, as one string (errors cross to Node as text). */
export function describeError(err: unknown): string {
  const parts: string[] = []
  let current: unknown = err
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      const head = `${current.name}: ${current.message}`
      const stack = current.stack ?? ''
      parts.push(stack.includes(current.message) ? stack : `${head}\n${stack}`)
      current = (current as { cause?: unknown }).cause
    } else {
      parts.push(typeof current === 'string' ? current : JSON.stringify(current))
      current = undefined
    }
    if (current !== undefined && current !== null) parts.push('caused by:')
  }
  return parts.join('\n')
}

export function listScenarios(): ScenarioSummary[] {
  return scenarios.map((s, id) => ({ id, name: s.name, server: s.server }))
}

/** Runs one scenario with a context built from `request.info`; never throws. */
export async function runScenario(request: RunRequest, http01: E2EContext['http01']): Promise<RunResult> {
  const scenario = scenarios[request.id]
  const reports: Array<[string, string | number]> = []
  const started = Date.now()
  if (!scenario) {
    return { id: request.id, name: '?', ok: false, ms: 0, error: `no scenario ${request.id}`, reports }
  }
  const ctx = remoteContext(request.info, {
    http01,
    domain: request.domain,
    report: (name, value) => void reports.push([name, value]),
  })
  try {
    await scenario.run(ctx)
    return { id: request.id, name: scenario.name, ok: true, ms: Date.now() - started, reports }
  } catch (err) {
    return {
      id: request.id,
      name: scenario.name,
      ok: false,
      ms: Date.now() - started,
      error: describeError(err),
      reports,
    }
  }
}

/** One `fetch(url)`: tells whether this runtime trusts the TLS certificate at `url`. */
export async function probe(url: string): Promise<ProbeResult> {
  try {
    const res = await fetch(url)
    await res.arrayBuffer()
    return { ok: true, status: res.status }
  } catch (err) {
    let code: string | undefined
    let errorUrl: string | undefined
    for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
      const { code: c, path, url: u } = e as { code?: unknown; path?: unknown; url?: unknown }
      code ??= typeof c === 'string' ? c : undefined
      errorUrl ??= typeof path === 'string' ? path : typeof u === 'string' ? u : undefined
      e = (e as { cause?: unknown }).cause
    }
    return {
      ok: false,
      error: describeError(err),
      ...(code !== undefined && { code }),
      ...(errorUrl !== undefined && { errorUrl }),
    }
  }
}

export interface Agent {
  readonly tokens: Http01Tokens
  /** A Web-standard fetch handler: `Deno.serve(agent.fetch)`, `Bun.serve({ fetch })`, `export default agent`. */
  fetch(request: Request): Promise<Response>
}

const json = (value: unknown) =>
  new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } })

export function createAgent(runtime: { name: string; version: string }): Agent {
  const tokens = http01Tokens()
  return {
    tokens,
    async fetch(request) {
      const challenge = await tokens.answer(request)
      if (challenge) return challenge
      const { pathname } = new URL(request.url)
      if (request.method === 'GET' && pathname === '/__e2e/info') {
        const info: AgentInfo = {
          runtime: runtime.name,
          version: runtime.version,
          scenarios: listScenarios(),
        }
        return json(info)
      }
      if (request.method === 'POST' && pathname === '/__e2e/run') {
        return json(await runScenario((await request.json()) as RunRequest, tokens.responder))
      }
      if (request.method === 'POST' && pathname === '/__e2e/probe') {
        return json(await probe(((await request.json()) as { url: string }).url))
      }
      return new Response('not found\n', { status: 404 })
    },
  }
}
