/**
 * The one way tests reach a system binary (pebble, openssl, pdns_server, chromium, ...). Each `npm test` step
 * (scripts/test.mjs) installs the Debian packages of the setup features it declares and tells its processes
 * which binaries those are, in $WEBACME_SETUP_BINARIES. A harness asking for a binary outside that list fails
 * at once, even when this machine happens to have it: a step that forgot to declare a feature would otherwise
 * pass here and fail on a fresh machine (the PowerDNS suites did exactly that).
 *
 * Outside `npm test` (the variable unset: a direct `vitest`, the demo) only presence is checked.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

export const SETUP_BINARIES_ENV = 'WEBACME_SETUP_BINARIES'

/** The absolute path of a system binary that the current test step's setup installs. */
export function systemBinary(name: string): string {
  const declared = process.env[SETUP_BINARIES_ENV]
  if (declared !== undefined && !declared.split(',').includes(name)) {
    throw new Error(
      `this test needs the system binary "${name}", but its npm test step does not install it ` +
        `(the step's setup installs: ${declared || 'nothing'}). Add the setup feature that provides "${name}" ` +
        '(scripts/setup.mjs FEATURES) to the step in scripts/test.mjs.',
    )
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  throw new Error(
    `"${name}" is not installed: run \`node scripts/setup.mjs\` with the feature that provides it`,
  )
}
