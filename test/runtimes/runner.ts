/**
 * Node side of the cross-runtime end-to-end suite. For one runtime it starts the agent (test/runtimes/agent.ts
 * inside Deno, Bun, workerd or a Chromium page), then, one server profile at a time, starts the servers with
 * test/e2e/servers.ts and asks the agent to run each scenario of that profile against them. It also shows that
 * the runtime's trust in the test CA is real: an agent started without the CA cannot reach Pebble.
 *
 * Prints one line per scenario and ends with `<runtime> <version>: N passed, N failed`; the counts also go
 * to $WEBACME_SUMMARY_FILE as JSON for scripts/test.mjs. WEBACME_E2E_GREP (a regular expression) selects
 * scenarios by name.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import type { CaShape, ServerProfile } from '../e2e/context.ts'
import { type RunningServers, type ServerInfo, startServers } from '../e2e/servers.ts'
import { getTestCa, type TestCa } from '../harness/ca.ts'
import { OutputTail } from '../harness/output-tail.ts'
import { freePort } from '../harness/ports.ts'
import type { AgentInfo, ProbeResult, RunRequest, RunResult } from './agent.ts'

/** A running agent, however the runtime hosts it. */
export interface AgentHandle {
  /** Port where Pebble's VA dials http-01 for this agent (the runtime's own server, or the runner's). */
  readonly httpPort: number
  info(): Promise<AgentInfo>
  run(request: RunRequest, timeoutMs: number): Promise<RunResult>
  probe(url: string): Promise<ProbeResult>
  /** The servers as the runtime must address them (Chromium reaches the management APIs through its page server). */
  view?(info: ServerInfo): Promise<ServerInfo>
  /** The runtime's own output so far (stderr of workerd, the browser's failed requests ...). */
  logs(): string
  /** The same output, to wait on. */
  readonly output: OutputTail
  stop(): Promise<void>
}

export interface RuntimeLauncher {
  name: string
  /** How the runtime is run and told to trust the CA, for the header line. */
  description: string
  version(): Promise<string>
  /** One-time work before the first agent starts (bundling). */
  prepare?(): Promise<void>
  /** Starts an agent that trusts `ca`, or no extra CA at all when `ca` is undefined. */
  start(ca: TestCa | undefined): Promise<AgentHandle>
  /**
   * The exact failure this runtime gives when it fetches `url` from a TLS server whose issuer it does not
   * trust, found in `probe` (what the fetch threw, in the runtime) and `output` (what the runtime logged since
   * the probe began). Returns that evidence as one line, or undefined when it is not (yet) there.
   */
  untrustedIssuer(url: string, probe: ProbeResult, output: string): string | undefined
}

const SCENARIO_TIMEOUT_MS = 180_000
/**
 * The runtimes run every scenario against the Let's Encrypt-shaped front (test/fixtures/lets-encrypt-ca.ts), which
 * passes everything Pebble does through and adds what Boulder sends; the Node suite runs both shapes.
 * WEBACME_E2E_CA=pebble runs them against Pebble as it is.
 */
const RUNTIME_CA: CaShape = process.env.WEBACME_E2E_CA === 'pebble' ? 'pebble' : 'letsencrypt'
const START_TIMEOUT_MS = 60_000
const LOG_LIMIT = 64 * 1024

/**
 * The environment for a runtime process: this one's, minus every variable that adds trusted CAs (this machine
 * presets NODE_EXTRA_CA_CERTS and SSL_CERT_FILE to the system bundle), plus `extra`. So only what the
 * launcher passes on purpose is trusted, and a mistake shows.
 */
export function runtimeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of [
    'NODE_EXTRA_CA_CERTS',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
    'DENO_CERT',
    'DENO_TLS_CA_STORE',
  ])
    delete env[name]
  return { ...env, ...extra }
}

/** A process's output as the runners keep it: {@link OutputTail} of the last `LOG_LIMIT` characters. */
export const outputTail = (): OutputTail => new OutputTail(LOG_LIMIT)

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL')
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15))
  })
}

export interface RuntimeProcess {
  readonly child: ChildProcess
  readonly output: OutputTail
  exited(): boolean
  stop(): Promise<void>
}

/** Spawns a runtime; its stdout and stderr are kept (and echoed when WEBACME_E2E_VERBOSE is set). */
export function spawnRuntime(cmd: string, args: string[], env: NodeJS.ProcessEnv): RuntimeProcess {
  const output = outputTail()
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      output.append(chunk)
      if (process.env.WEBACME_E2E_VERBOSE) process.stderr.write(chunk)
    })
  }
  child.once('error', (err) => output.append(`spawn ${cmd} failed: ${err.message}\n`))
  const exit = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const exited = () => child.exitCode !== null || child.signalCode !== null || child.pid === undefined
  return {
    child,
    output,
    exited,
    async stop() {
      if (!exited()) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exit
        clearTimeout(timer)
      }
      children.delete(child)
    },
  }
}

async function postJson<T>(url: string, body: unknown, timeoutMs: number): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`POST ${url} answered ${res.status}: ${text.slice(0, 500)}`)
  return JSON.parse(text) as T
}

/**
 * A client of an agent served over HTTP at `baseUrl` (Deno, Bun, workerd). Resolves once the agent answers
 * `/__e2e/info`; rejects when `alive()` turns false or nothing answers in time.
 */
export async function httpAgent(options: {
  baseUrl: string
  httpPort: number
  alive(): boolean
  output: OutputTail
  stop(): Promise<void>
}): Promise<AgentHandle> {
  const { baseUrl, output } = options
  const logs = () => output.toString()
  const deadline = Date.now() + START_TIMEOUT_MS
  let lastError = ''
  for (;;) {
    if (!options.alive()) {
      await options.stop()
      throw new Error(`the runtime exited while starting:\n${logs().slice(-4000)}`)
    }
    try {
      const res = await fetch(`${baseUrl}/__e2e/info`, { signal: AbortSignal.timeout(2000) })
      if (res.ok) {
        await res.arrayBuffer()
        break
      }
      lastError = `status ${res.status}`
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err)
    }
    if (Date.now() > deadline) {
      await options.stop()
      throw new Error(`no answer from ${baseUrl} in ${START_TIMEOUT_MS} ms (${lastError}):\n${logs()}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    httpPort: options.httpPort,
    async info() {
      const res = await fetch(`${baseUrl}/__e2e/info`)
      return (await res.json()) as AgentInfo
    },
    run: (request, timeoutMs) => postJson<RunResult>(`${baseUrl}/__e2e/run`, request, timeoutMs),
    probe: (url) => postJson<ProbeResult>(`${baseUrl}/__e2e/probe`, { url }, 30_000),
    logs,
    output,
    stop: options.stop,
  }
}

/**
 * Starts a runtime process that serves the agent on a free port (retried on another port if it exits, e.g.
 * because the port was taken in between). `command(port)` names the program and its arguments.
 */
export async function startProcessAgent(
  command: (port: number) => { cmd: string; args: string[]; env: NodeJS.ProcessEnv },
): Promise<AgentHandle> {
  const failures: string[] = []
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort()
    const { cmd, args, env } = command(port)
    const proc = spawnRuntime(cmd, args, env)
    try {
      return await httpAgent({
        baseUrl: `http://127.0.0.1:${port}`,
        httpPort: port,
        alive: () => !proc.exited(),
        output: proc.output,
        stop: () => proc.stop(),
      })
    } catch (err) {
      failures.push(`attempt ${attempt}: ${err instanceof Error ? err.message : String(err)}`)
      if (!/exited while starting/.test(String(err))) break
    }
  }
  throw new Error(`could not start the agent:\n${failures.join('\n')}`)
}

/** Retries `start` (a port picked free can be taken before it is bound); throws every attempt's error. */
export async function retryStart<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  const failures: string[] = []
  for (let i = 1; i <= attempts; i++) {
    try {
      return await start()
    } catch (err) {
      failures.push(`attempt ${i}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  throw new Error(`could not start the agent:\n${failures.join('\n')}`)
}

// ---------------------------------------------------------------------------------------------------------

interface Counts {
  passed: number
  failed: number
  skipped: number
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n')

/** Runs every selected scenario in the runtime of `launcher`; resolves to the exit code. */
export async function runRuntime(launcher: RuntimeLauncher): Promise<number> {
  const started = Date.now()
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 }
  const tag = `[${launcher.name}]`
  let label = launcher.name
  const grep = process.env.WEBACME_E2E_GREP ? new RegExp(process.env.WEBACME_E2E_GREP, 'i') : undefined
  const selected = (name: string) => !grep || grep.test(name)
  const failures: { name: string; error: string }[] = []

  const pass = (name: string, ms: number) => {
    counts.passed++
    console.log(`${tag} ✓ ${name} (${seconds(ms)})`)
  }
  const fail = (name: string, ms: number, error: string) => {
    counts.failed++
    failures.push({ name, error: error.split('\n')[0]?.slice(0, 300) ?? '' })
    console.log(`${tag} ✗ ${name} (${seconds(ms)})\n${indent(error)}`)
  }

  let agent: AgentHandle | undefined
  try {
    label = `${launcher.name} ${await launcher.version()}`
    console.log(`${tag} ${label}: ${launcher.description}`)
    await launcher.prepare?.()
    const ca = await getTestCa()
    agent = await launcher.start(ca)
    const { scenarios } = await agent.info()

    const trustName = `CA trust is real: without the test CA ${launcher.name} cannot reach Pebble, with it it can`
    if (selected(trustName)) {
      await trustCheck(launcher, agent, ca, trustName, pass, fail).catch((err: unknown) =>
        fail(trustName, 0, err instanceof Error ? (err.stack ?? err.message) : String(err)),
      )
    }

    const chosen = scenarios.filter((s) => selected(s.name))
    counts.skipped += scenarios.length - chosen.length
    const profiles = [...new Set(chosen.map((s) => s.server))]
    for (const profile of profiles) {
      const todo = chosen.filter((s) => s.server === profile)
      let servers: RunningServers | undefined
      try {
        servers = await startServers(profile as ServerProfile, { httpPort: agent.httpPort }, RUNTIME_CA)
      } catch (err) {
        for (const s of todo) fail(`[${profile}] ${s.name}`, 0, `servers did not start: ${String(err)}`)
        continue
      }
      try {
        const info = agent.view ? await agent.view(servers.info) : servers.info
        const domain = `${profile}-${launcher.name}-${Date.now().toString(36)}.webacme.test`
        for (const s of todo) {
          const name = `[${profile}${RUNTIME_CA === 'pebble' ? '' : `, ${RUNTIME_CA}`}] ${s.name}`
          const t0 = Date.now()
          let result: RunResult
          try {
            result = await agent.run({ info, id: s.id, domain }, SCENARIO_TIMEOUT_MS)
          } catch (err) {
            const why = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : String(err)
            fail(
              name,
              Date.now() - t0,
              `${why}\n--- ${launcher.name} output (tail) ---\n${agent.logs().slice(-3000)}`,
            )
            continue
          }
          for (const [key, value] of result.reports) console.log(`${tag}   report: ${key}: ${value}`)
          if (result.ok) pass(name, result.ms)
          else {
            const pebbleLog = servers.pebble.logs().trimEnd().split('\n').slice(-12).join('\n')
            fail(name, result.ms, `${result.error ?? 'failed'}\n--- pebble log tail ---\n${pebbleLog}`)
          }
        }
      } finally {
        await servers.stop()
      }
    }
  } catch (err) {
    fail(`${launcher.name} run`, 0, err instanceof Error ? (err.stack ?? err.message) : String(err))
  } finally {
    await agent?.stop().catch(() => {})
  }

  const line = `${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`
  console.log(`${label}: ${line} (${seconds(Date.now() - started)})`)
  const file = process.env.WEBACME_SUMMARY_FILE
  if (file) writeFileSync(file, `${JSON.stringify({ ...counts, label, failures })}\n`)
  return counts.failed > 0 ? 1 : 0
}

async function trustCheck(
  launcher: RuntimeLauncher,
  agent: AgentHandle,
  ca: TestCa,
  name: string,
  pass: (name: string, ms: number) => void,
  fail: (name: string, ms: number, error: string) => void,
): Promise<void> {
  const t0 = Date.now()
  const servers = await startServers('default')
  let untrusted: AgentHandle | undefined
  try {
    const url = (agent.view ? await agent.view(servers.info) : servers.info).directoryUrl
    const withCa = await agent.probe(url)
    if (!withCa.ok || withCa.status !== 200) {
      fail(name, Date.now() - t0, `with the CA (${ca.caCertPath}): ${JSON.stringify(withCa)}`)
      return
    }
    untrusted = await launcher.start(undefined)
    const mark = untrusted.output.mark()
    const without = await untrusted.probe(url)
    if (without.ok) {
      fail(name, Date.now() - t0, `without the CA the runtime reached ${url} (${without.status})`)
      return
    }
    // The runtime's own words for an untrusted issuer, about this request (not any error in a whole log).
    const evidence = await untrusted.output.waitFor(
      mark,
      (output) => launcher.untrustedIssuer(url, without, output),
      30_000,
    )
    if (evidence === undefined) {
      const output = untrusted.output.since(mark)
      fail(
        name,
        Date.now() - t0,
        `without the CA the fetch of ${url} failed, but not with ${launcher.name}'s untrusted-issuer error:\n${without.error ?? ''}${without.code ? ` (code ${without.code})` : ''}\n--- output during the probe ---\n${output}`,
      )
    } else {
      pass(`${name} (without: ${evidence.slice(0, 200)})`, Date.now() - t0)
    }
  } finally {
    await untrusted?.stop().catch(() => {})
    await servers.stop()
  }
}
