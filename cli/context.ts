/** What every command gets: its parsed flags, the reporter, the abort signal (Ctrl-C) and the environment. */
import type { Values } from './args.ts'
import type { Reporter } from './output.ts'

export interface Context {
  values: Values
  positionals: string[]
  reporter: Reporter
  /** Aborted on SIGINT/SIGTERM: every library call gets it, so a Ctrl-C stops waits and cleans up. */
  signal: AbortSignal
  env: Record<string, string | undefined>
}

/** The result of a command: the JSON object for --json, the text lines otherwise, and the exit code. */
export interface CommandResult {
  json: Record<string, unknown>
  text: string[]
  exitCode?: number
}

export interface Command {
  name: string
  summary: string
  usage(): string
  run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult>
}
