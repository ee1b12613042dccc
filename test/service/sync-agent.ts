/**
 * The pull agent as an operator runs it beside their server: `webacme sync --interval 1` (the CLI as it ships, `node
 * --import tsx cli/main.ts`) for `names`, writing their files under `out` and running `reload` after a change, with
 * the deploy token in WEBACME_SYNC_TOKEN rather than on the command line.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { root } from '../runtimes/paths.ts'

export interface SyncAgent {
  readonly child: ChildProcess
  /** Everything the agent wrote to stdout and stderr so far. */
  output(): string
  /** SIGTERM, then waits for the agent to exit. */
  stop(): Promise<void>
}

export function startSyncAgent(options: {
  serviceUrl: string
  token: string
  out: string
  reload: string
  names: string[]
}): SyncAgent {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'cli/main.ts'),
      'sync',
      '--service',
      options.serviceUrl,
      '--out',
      options.out,
      '--interval',
      '1',
      '--reload',
      options.reload,
      ...options.names.flatMap((name) => ['--name', name]),
    ],
    {
      cwd: root,
      env: { ...process.env, WEBACME_SYNC_TOKEN: options.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')))
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')))
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exit
    },
  }
}
