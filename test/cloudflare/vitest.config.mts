// Unit tests of `webacme/cloudflare` inside workerd (`node scripts/test.mjs --steps=workers`): the pool runs each
// src/cloudflare/*.workerd.test.ts in the Worker that ./wrangler.toml describes, with local KV, R2, Durable
// Objects and a queue, and a Pebble (./global-setup.ts) for the tests that issue. The Worker's outbound TLS trusts
// exactly the test CA. No other network: `Request.cf` is not fetched.
import { fileURLToPath } from 'node:url'
import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'
import { CA_DIR_ENV, getTestCa } from '../harness/ca.ts'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

// One CA for the config and the global setup (which starts Pebble with it).
const ca = await getTestCa()
process.env[CA_DIR_ENV] = ca.dir

export default defineConfig({
  root: here('../..'),
  plugins: [
    cloudflareTest({
      main: here('./worker.ts'),
      wrangler: { configPath: here('./wrangler.toml') },
      miniflare: {
        cf: false,
        outboundService: {
          network: {
            allow: ['private', 'local'],
            deny: [],
            tlsOptions: { trustBrowserCas: false, trustedCertificates: [ca.caPem] },
          },
        },
      },
    }),
  ],
  test: {
    include: ['src/**/*.workerd.test.ts'],
    globalSetup: [here('./global-setup.ts')],
    reporters: ['default', './test/harness/summary-reporter.ts'],
    testTimeout: 60_000,
  },
})
