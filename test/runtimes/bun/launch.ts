/** Runs the agent in Bun (`bun run`, TypeScript sources as they are), trusting the test CA with NODE_EXTRA_CA_CERTS. */
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { root } from '../paths.ts'
import { type RuntimeLauncher, runtimeEnv, startProcessAgent } from '../runner.ts'

/** The Bun binary of the `bun` devDependency. */
export function bunBinary(): string {
  const pkg = createRequire(join(root, 'package.json')).resolve('bun/package.json')
  return join(dirname(pkg), 'bin/bun.exe')
}

export const bun: RuntimeLauncher = {
  name: 'bun',
  description: 'bun run on the TypeScript sources, CA trusted with NODE_EXTRA_CA_CERTS',
  async version() {
    return execFileSync(bunBinary(), ['--version'], { encoding: 'utf8' }).trim()
  },
  start: (ca) =>
    startProcessAgent((port) => ({
      cmd: bunBinary(),
      args: ['run', join(root, 'test/runtimes/bun/main.ts'), String(port)],
      env: runtimeEnv(ca ? { NODE_EXTRA_CA_CERTS: ca.caCertPath } : {}),
    })),
  // BoringSSL's verdict for a leaf whose issuer is unknown, with the request's URL as the error's `path`.
  untrustedIssuer(url, probe) {
    const ok =
      probe.error?.startsWith('TypeError: unable to verify the first certificate') &&
      probe.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' &&
      probe.errorUrl === url
    return ok ? `unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE, ${url})` : undefined
  },
}
