import { availableParallelism } from 'node:os'
import { configDefaults, defineConfig } from 'vitest/config'

const src = new URL('./src/', import.meta.url).pathname

export default defineConfig({
  // The CLI's unit tests (cli/**/*.test.ts) import the library by its package name, as the CLI does: here that
  // name means src/, not a build. Nothing else imports 'webacme' by name.
  resolve: {
    alias: [
      { find: /^webacme$/, replacement: `${src}index.ts` },
      { find: /^webacme\/storage\/fs$/, replacement: `${src}storage/fs.ts` },
      { find: /^webacme\/dns\/exec$/, replacement: `${src}dns/providers/exec-node.ts` },
      { find: /^webacme\/dns\/(.+)$/, replacement: `${src}dns/providers/$1.ts` },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'cli/**/*.test.ts'],
    // Tests that run inside workerd have their own step and config (test/cloudflare/vitest.config.mts).
    exclude: [...configDefaults.exclude, '**/*.workerd.test.ts'],
    // Child processes, not threads: NODE_EXTRA_CA_CERTS (set by the global setup) is read only when a
    // Node process starts, and test servers (Pebble) are child processes killed on worker exit.
    pool: 'forks',
    // The suite waits on servers (Pebble, workerd, nginx, DNS daemons) far more than it computes: two files at once
    // even on 2 cores (vitest's default there is one), which takes the step from about 14 to about 10 minutes.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    globalSetup: ['./test/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
})
