/**
 * `node --import tsx test/runtimes/run.ts <runtime>`: the end-to-end scenarios in one runtime
 * (deno, bun, workerd, chromium). See test/runtimes/README.md.
 */
import { bun } from './bun/launch.ts'
import { chromium } from './chromium/launch.ts'
import { deno } from './deno/launch.ts'
import type { RuntimeLauncher } from './runner.ts'
import { runRuntime } from './runner.ts'
import { workerd } from './workerd/launch.ts'

const launchers: Record<string, RuntimeLauncher> = { deno, bun, workerd, chromium }
const name = process.argv[2] ?? ''
const launcher = launchers[name]
if (!launcher) {
  console.error(`usage: node --import tsx test/runtimes/run.ts <${Object.keys(launchers).join('|')}>`)
  process.exit(2)
}
process.exitCode = await runRuntime(launcher)
