import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests that run inside workerd have their own step and config (test/cloudflare/vitest.config.mts).
    exclude: [...configDefaults.exclude, '**/*.workerd.test.ts'],
    // Child processes, not threads: NODE_EXTRA_CA_CERTS (set by the global setup) is read only when a
    // Node process starts, and test servers (Pebble) are child processes killed on worker exit.
    pool: 'forks',
    globalSetup: ['./test/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
})
