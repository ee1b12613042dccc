/**
 * Runs the `webacme` command the way users of each runtime do, from the packed package served by the local npm
 * registry (global-setup.ts): `npx --yes webacme` (Node), `bunx webacme` (Bun), `deno run -A npm:webacme` (Deno).
 * Each runtime trusts the test CA its own way and nothing else; each gets empty caches, outside the repository
 * (npm would otherwise run the checkout's own bin).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { denoBinary } from '../runtimes/deno/launch.ts'
import { root } from '../runtimes/paths.ts'
import { runtimeEnv } from '../runtimes/runner.ts'

export type CliRuntime = 'node' | 'deno' | 'bun'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON, when it is JSON. */
  json: Record<string, unknown> | undefined
}

export interface Cli {
  readonly runtime: CliRuntime
  /** An empty directory outside the repository where the command runs. */
  readonly cwd: string
  /** How the command is invoked, for messages. */
  readonly invocation: string
  run(args: string[], options?: { env?: Record<string, string>; cwd?: string }): Promise<CliResult>
  /** Starts a long-running command (`webacme serve`); `stop()` sends SIGTERM to its process group. */
  start(args: string[], options?: { env?: Record<string, string>; cwd?: string }): RunningCli
}

/** A command that keeps running until stopped. */
export interface RunningCli {
  readonly child: ChildProcess
  /** What it wrote so far. */
  stdout(): string
  stderr(): string
  /** Resolves with the first stderr line matching `pattern`; rejects when the command exits first. */
  waitForStderr(pattern: RegExp): Promise<string>
  /** SIGTERM to the whole process group (npx, bunx and deno start the CLI as a child), then the result. */
  stop(): Promise<CliResult>
}

export async function cliFor(runtime: CliRuntime, caCertPath: string): Promise<Cli> {
  // WEBACME_CLI_FROM_SOURCE=1 (Node only, for quick iteration): cli/main.ts through tsx, no package.
  const fromSource = process.env.WEBACME_CLI_FROM_SOURCE === '1' && runtime === 'node'
  const registry = fromSource ? 'http://127.0.0.1:9' : process.env.WEBACME_CLI_REGISTRY
  if (!registry) throw new Error('WEBACME_CLI_REGISTRY is not set: run through test/cli/vitest.config.ts')
  const home = await mkdtemp(join(tmpdir(), `webacme-cli-${runtime}-`))
  const cwd = join(home, 'work')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(cwd)
  const common = { NPM_CONFIG_REGISTRY: registry, NO_COLOR: '1' }
  let cmd: string
  let prefix: string[]
  let env: NodeJS.ProcessEnv
  switch (runtime) {
    case 'node':
      cmd = 'npx'
      prefix = ['--yes', 'webacme']
      env = runtimeEnv({
        ...common,
        NPM_CONFIG_CACHE: join(home, 'npm-cache'),
        NPM_CONFIG_UPDATE_NOTIFIER: 'false',
        NODE_EXTRA_CA_CERTS: caCertPath,
      })
      break
    case 'bun':
      cmd = join(root, 'node_modules/.bin/bunx')
      prefix = ['webacme']
      env = runtimeEnv({
        ...common,
        BUN_INSTALL_CACHE_DIR: join(home, 'bun-cache'),
        NODE_EXTRA_CA_CERTS: caCertPath,
      })
      break
    case 'deno':
      cmd = denoBinary()
      prefix = ['run', '-A', '--cert', caCertPath, 'npm:webacme']
      env = runtimeEnv({ ...common, DENO_DIR: join(home, 'deno-dir'), DENO_NO_UPDATE_CHECK: '1' })
      break
  }
  if (fromSource) {
    cmd = process.execPath
    // Absolute: the command runs outside the repository; tsx reads the repository's tsconfig paths (webacme/*).
    prefix = [
      '--import',
      pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href,
      join(root, 'cli/main.ts'),
    ]
    env = { ...env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') }
  }
  const invocation =
    runtime === 'node' ? 'npx webacme' : runtime === 'bun' ? 'bunx webacme' : 'deno run -A npm:webacme'
  return {
    runtime,
    cwd,
    invocation,
    start(args, options = {}) {
      const child = spawn(cmd, [...prefix, ...args], {
        cwd: options.cwd ?? cwd,
        env: { ...env, ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
      let stdout = ''
      let stderr = ''
      const waiters = new Set<() => void>()
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c))
      child.stderr!.setEncoding('utf8').on('data', (c: string) => {
        stderr += c
        for (const wake of waiters) wake()
      })
      const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
      child.once('close', () => {
        for (const wake of waiters) wake()
      })
      return {
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        waitForStderr(pattern) {
          return new Promise((resolve, reject) => {
            const check = () => {
              const line = stderr.split('\n').find((l) => pattern.test(l))
              if (line !== undefined) {
                waiters.delete(check)
                resolve(line)
              } else if (child.exitCode !== null || child.signalCode !== null) {
                waiters.delete(check)
                reject(new Error(`${invocation} exited (${child.exitCode ?? child.signalCode}):\n${stderr}`))
              }
            }
            waiters.add(check)
            check()
          })
        },
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            try {
              process.kill(-child.pid!, 'SIGTERM')
            } catch {}
          }
          const code = await closed
          let json: Record<string, unknown> | undefined
          try {
            json = JSON.parse(stdout) as Record<string, unknown>
          } catch {
            json = undefined
          }
          return { code, stdout, stderr, json }
        },
      }
    },
    run(args, options = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(cmd, [...prefix, ...args], {
          cwd: options.cwd ?? cwd,
          env: { ...env, ...options.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
        child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
        child.once('error', reject)
        child.once('close', (code) => {
          let json: Record<string, unknown> | undefined
          try {
            json = JSON.parse(stdout) as Record<string, unknown>
          } catch {
            json = undefined
          }
          resolve({ code, stdout, stderr, json })
        })
      })
    },
  }
}
