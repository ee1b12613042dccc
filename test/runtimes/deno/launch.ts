/** Runs the agent in Deno (`deno run`, TypeScript sources as they are), trusting the test CA with `--cert`. */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { root } from '../paths.ts'
import { type RuntimeLauncher, runtimeEnv, startProcessAgent } from '../runner.ts'

/** The Deno binary: $WEBACME_DENO, else the one scripts/setup.mjs installs into .tmp/tools, else `deno` on PATH. */
export function denoBinary(): string {
  if (process.env.WEBACME_DENO) return process.env.WEBACME_DENO
  const local = join(root, '.tmp/tools/node_modules/.bin/deno')
  return existsSync(local) ? local : 'deno'
}

export const deno: RuntimeLauncher = {
  name: 'deno',
  description: 'deno run --allow-net=127.0.0.1 on the TypeScript sources, CA trusted with --cert',
  async version() {
    return /deno (\S+)/.exec(execFileSync(denoBinary(), ['--version'], { encoding: 'utf8' }))?.[1] ?? '?'
  },
  start: (ca) =>
    startProcessAgent((port) => ({
      cmd: denoBinary(),
      args: [
        'run',
        '--no-prompt',
        '--allow-net=127.0.0.1',
        ...(ca ? ['--cert', ca.caCertPath] : []),
        join(root, 'test/runtimes/deno/main.ts'),
        String(port),
      ],
      // No update check: it would reach for the network, which CI may not have.
      env: runtimeEnv({ DENO_NO_UPDATE_CHECK: '1' }),
    })),
  // rustls, in the fetch error's cause, naming the URL.
  untrustedIssuer(url, probe) {
    const line = `error sending request for url (${url}): client error (Connect): invalid peer certificate: UnknownIssuer`
    return probe.error?.includes(line) ? line : undefined
  },
}
