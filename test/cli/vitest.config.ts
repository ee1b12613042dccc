import { defineConfig } from 'vitest/config'

// The package as users get it, end to end: the `webacme` command run as users run it (npx, bunx, deno run npm:)
// from the packed package (test/cli), and `jsr:@webacme/webacme` through a local JSR that `deno publish` uploads to
// (test/jsr). `node scripts/test.mjs --steps=cli`. Kept out of the main vitest run: it packs the package first.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/cli/**/*.e2e.ts', 'test/jsr/**/*.e2e.ts'],
    pool: 'forks',
    // One runtime at a time: each file starts Pebble, PowerDNS and dnsdist; the machine is shared.
    fileParallelism: false,
    globalSetup: ['./test/cli/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
})
