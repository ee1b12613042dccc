#!/usr/bin/env node
/**
 * `webacme`: the command line of the webacme library, for scripts and cron jobs. Runs unchanged under Node
 * (`npx webacme`), Deno (`deno run -A npm:webacme`) and Bun (`bunx webacme`): it uses only `node:*` modules
 * all three provide, and the library through its package name.
 *
 *   webacme <command> [options]      commands: issue, renew, export, revoke, account, csr, inspect, serve, sync
 *
 * Exit codes: ./exit-codes.ts (0 ok, 2 usage, 3 CA, 4 network, 5 validation, 6 rate limited, 9 deploy hook, ...).
 */
import { createRequire } from 'node:module'
import { account } from './commands/account.ts'
import { csr } from './commands/csr.ts'
import { exportCommand } from './commands/export.ts'
import { inspect } from './commands/inspect.ts'
import { issue } from './commands/issue.ts'
import { renew } from './commands/renew.ts'
import { revoke } from './commands/revoke.ts'
import { serve } from './commands/serve.ts'
import { sync } from './commands/sync.ts'
import type { Command, CommandResult } from './context.ts'
import { EXIT, exitCodeFor, UsageError } from './exit-codes.ts'
import { describeError, errorLines, Reporter, writeStdout } from './output.ts'

const VERSION: string = createRequire(import.meta.url)('webacme/package.json').version

const COMMANDS: Command[] = [issue, renew, exportCommand, revoke, account, csr, inspect, serve, sync]

function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2
  return [
    'usage: webacme <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'webacme <command> --help shows the options of a command.',
    'exit codes: 0 ok, 1 unexpected error, 2 usage, 3 CA refused, 4 network, 5 validation failed,',
    '            6 rate limited, 7 DNS provider, 8 local files/ports/storage, 9 deploy hook failed,',
    '            130 interrupted',
  ].join('\n')
}

/** Runs the command line; resolves to the exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const text = `${mainUsage()}\n`
    if (name === undefined) {
      process.stderr.write(text)
      return EXIT.usage
    }
    await writeStdout(text)
    return EXIT.ok
  }
  if (name === '--version' || name === 'version') {
    await writeStdout(`webacme ${VERSION}\n`)
    return EXIT.ok
  }
  const command = COMMANDS.find((c) => c.name === name)
  const json = rest.includes('--json')
  if (!command) {
    return fail(new UsageError(`unknown command ${JSON.stringify(name)}`), json, undefined, mainUsage())
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    await writeStdout(`${command.usage()}\n`)
    return EXIT.ok
  }
  const reporter = new Reporter({
    json,
    verbose: rest.includes('--verbose') || rest.includes('-v'),
    quiet: rest.includes('--quiet') || rest.includes('-q'),
  })
  const controller = new AbortController()
  const onSignal = (signal: string) => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted)
    reporter.warn(`${signal}: stopping (cleaning up; press Ctrl-C again to quit at once)`)
    controller.abort(new DOMException(`interrupted by ${signal}`, 'AbortError'))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result: CommandResult = await command.run(rest, {
      reporter,
      signal: controller.signal,
      env: process.env,
    })
    const exitCode = result.exitCode ?? EXIT.ok
    const payload = {
      ok: exitCode === EXIT.ok,
      command: command.name,
      exitCode,
      ...result.json,
      elapsedMs: reporter.elapsed(),
      requests: reporter.requests,
    }
    await writeStdout(
      json ? `${JSON.stringify(payload)}\n` : result.text.length ? `${result.text.join('\n')}\n` : '',
    )
    return exitCode
  } catch (err) {
    return fail(err, json, command, undefined, reporter)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function fail(
  err: unknown,
  json: boolean,
  command: Command | undefined,
  usage?: string,
  reporter?: Reporter,
): Promise<number> {
  const exitCode = exitCodeFor(err)
  const prefix = `webacme${command ? ` ${command.name}` : ''}: `
  const lines = errorLines(err)
  let text = `${prefix}${lines[0]}\n${lines
    .slice(1)
    .map((l) => `  ${l}\n`)
    .join('')}`
  if (err instanceof UsageError) {
    // The synopsis, not the whole option table: `--help` has that.
    text += command
      ? `${command.usage().split('\n\n')[0]}\n(webacme ${command.name} --help lists every option)\n`
      : usage
        ? `\n${usage}\n`
        : ''
  }
  process.stderr.write(text)
  if (json) {
    const payload = {
      ok: false,
      command: command?.name,
      exitCode,
      error: describeError(err),
      ...(reporter && { elapsedMs: reporter.elapsed(), requests: reporter.requests }),
    }
    await writeStdout(`${JSON.stringify(payload)}\n`)
  }
  return exitCode
}

const code = await main(process.argv.slice(2))
// Exit explicitly: keep-alive sockets or a lingering timer must not hold a finished command.
process.exit(code)
