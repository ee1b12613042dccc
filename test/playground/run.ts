/**
 * The playground in headless Chromium, driven the way a person uses it, against a real Pebble
 * (`node --import tsx test/playground/run.ts`; `node scripts/test.mjs --steps=build,playground` in `npm test`).
 *
 * Servers: Pebble with pebble-challtestsrv for DNS (the test adds TXT records there, as the user would at their DNS
 * provider) and the test's own http-01 responder on Pebble's http port (the test serves the file); dnsdist as the
 * DNS-over-HTTPS front the page checks TXT records with; the ARI fixture in front of Pebble for renewal windows; the
 * page built into playground/dist and served by playground/server.ts. The browser trusts the test CA through an NSS
 * database, with certificate errors not ignored.
 *
 * Each flow in flows.ts is one test; a flow whose prerequisite failed is skipped. Screenshots of every screen go
 * to .tmp/screenshots/playground/. The counts go to $WEBACME_SUMMARY_FILE for the total of `npm test`.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, ConsoleMessage } from 'playwright-core'
import { buildPlayground } from '../../playground/build.ts'
import { startPlaygroundServer } from '../../playground/server.ts'
import { startAriProxy } from '../fixtures/ari-proxy.ts'
import { startLetsEncryptShapedPebble } from '../fixtures/lets-encrypt-ca.ts'
import { getTestCa } from '../harness/ca.ts'
import { startDohFront } from '../harness/dnsdist.ts'
import { startHttp01Server } from '../harness/http01-server.ts'
import { startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { executablePath, FLAGS, makeHome } from '../runtimes/chromium/launch.ts'
import { runtimeEnv } from '../runtimes/runner.ts'
import { type Context, FLOWS } from './flows.ts'

const root = join(fileURLToPath(import.meta.url), '../../..')
const SHOTS = join(root, '.tmp/screenshots/playground')
/** A safety net against a hung flow, not a timing assertion: flows wait on events. */
const FLOW_LIMIT_MS = 180_000

async function main(): Promise<number> {
  const started = Date.now()
  const counts = { passed: 0, failed: 0, skipped: 0 }
  const failures: { name: string; error: string }[] = []
  const chromiumPath = executablePath()
  const version = /([\d.]+)/.exec(execFileSync(chromiumPath, ['--version'], { encoding: 'utf8' }))?.[1] ?? '?'
  const built = await buildPlayground()
  const label = `playground (chromium ${version}; page ${(built.js.gzip / 1024).toFixed(1)} KB gzip)`
  await rm(SHOTS, { recursive: true, force: true })
  await mkdir(SHOTS, { recursive: true })
  await mkdir(join(root, '.tmp'), { recursive: true })
  const work = await mkdtemp(join(root, '.tmp/playground-test-'))

  const ca = await getTestCa()
  const http01 = await startHttp01Server(await freePort())
  // The page's own CA looks like Let's Encrypt (Boulder's directory, headers, nonces, Retry-After); the EAB CA below
  // is Pebble as it is, so the page is proven against both.
  const pebble = await startLetsEncryptShapedPebble({
    http01: 'self',
    httpPort: http01.port,
    authzReusePercent: 0,
  })
  const doh = await startDohFront({ upstream: `127.0.0.1:${pebble.dnsPort}` })
  const ari = await startAriProxy({ pebble, profiles: false })
  // A second CA that requires external account binding, as ZeroSSL and Google do.
  const eab = { kid: 'playground-kid', hmacKey: randomBytes(32).toString('base64url') }
  const eabPebble = await startPebble({ externalAccountMacKeys: { [eab.kid]: eab.hmacKey } })
  const server = await startPlaygroundServer({
    dir: built.outdir,
    local: {
      directoryUrl: pebble.directoryUrl,
      pebbleUrl: pebble.directoryUrl,
      dohUrl: doh.url,
      dohFormat: 'wire',
      caCertUrl: '/ca.pem',
    },
    caPem: ca.caPem,
  })

  // A HOME whose NSS database trusts only the test CA (as the Chromium runtime runner makes it).
  const home = await makeHome(ca)
  const homes = [home]

  const { chromium } = await import('playwright-core')
  let browser: Browser | undefined
  try {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: FLAGS,
      env: runtimeEnv({ HOME: home }),
      timeout: 60_000,
    })
    const context = await browser.newContext({
      ignoreHTTPSErrors: false, // trust comes from the NSS database only
      acceptDownloads: true,
      viewport: { width: 1100, height: 900 },
    })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], {
      origin: server.url.replace(/\/$/, ''),
    })
    const page = await context.newPage()
    page.setDefaultTimeout(60_000)
    const caOrigins = new Set(
      [pebble.directoryUrl, ari.directoryUrl, eabPebble.directoryUrl].map((url) => new URL(url).origin),
    )
    const ctx: Context = {
      page,
      pebble,
      eabPebble: { directoryUrl: eabPebble.directoryUrl, ...eab },
      http01,
      ari,
      server,
      ca,
      work,
      data: {},
      consoleErrors: [],
      caHttpErrors: [],
      async screenshot(name) {
        await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
      },
      async untrustedPage() {
        // Another Chromium whose HOME has no NSS database: it trusts nothing of ours.
        const bare = await makeHome(undefined)
        homes.push(bare)
        const other = await chromium.launch({
          executablePath: chromiumPath,
          args: FLAGS,
          env: runtimeEnv({ HOME: bare }),
        })
        const untrusted = await (await other.newContext({ ignoreHTTPSErrors: false })).newPage()
        return { page: untrusted, close: () => other.close() }
      },
    }
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() !== 'error') return
      const url = message.location().url
      // Chromium logs every HTTP error status as a console error. The CA's (a badNonce the library retries, a
      // refusal the page shows) are part of ACME; anything else is the page's fault.
      const fromCa = url && caOrigins.has(new URL(url).origin)
      if (
        fromCa &&
        /^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())
      )
        ctx.caHttpErrors.push(`${message.text()} ${url}`)
      else ctx.consoleErrors.push(`${message.text()}${url ? ` (${url})` : ''}`)
    })
    page.on('pageerror', (error) => ctx.consoleErrors.push(`uncaught: ${error.stack ?? error.message}`))
    await page.goto(server.url)

    const outcome = new Map<string, 'passed' | 'failed' | 'skipped'>()
    for (const flow of FLOWS) {
      const missing = (flow.needs ?? []).filter((n) => outcome.get(n) !== 'passed')
      if (missing.length > 0) {
        outcome.set(flow.name, 'skipped')
        counts.skipped++
        console.log(`  - ${flow.name} (skipped: needs ${missing.join(', ')})`)
        continue
      }
      const t0 = Date.now()
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          flow.run(ctx),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no result after ${FLOW_LIMIT_MS} ms`)), FLOW_LIMIT_MS)
          }),
        ])
        outcome.set(flow.name, 'passed')
        counts.passed++
        console.log(`  ✓ ${flow.name} (${Date.now() - t0} ms)`)
      } catch (err) {
        outcome.set(flow.name, 'failed')
        counts.failed++
        failures.push({
          name: flow.name,
          error: String(err instanceof Error ? err.message : err).split('\n')[0] ?? '',
        })
        console.log(
          `  ✗ ${flow.name}\n${String(err instanceof Error ? (err.stack ?? err.message) : err).replace(/^/gm, '      ')}`,
        )
        await page
          .screenshot({ path: join(SHOTS, `FAILED-${flow.name.replace(/\W+/g, '-')}.png`), fullPage: true })
          .catch(() => {})
        if (ctx.consoleErrors.length)
          console.log(`      console errors so far:\n${ctx.consoleErrors.join('\n')}`)
      } finally {
        clearTimeout(timer)
      }
    }
    console.log(
      `  (CA responses with an HTTP error status, logged by Chromium and handled by the page: ${ctx.caHttpErrors.length})`,
    )
    console.log(`  screenshots: ${SHOTS}`)
  } catch (err) {
    counts.failed++
    failures.push({
      name: 'playground run',
      error: String(err instanceof Error ? err.message : err).split('\n')[0] ?? '',
    })
    console.log(`  ✗ playground run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  } finally {
    await browser?.close().catch(() => {})
    await Promise.allSettled([
      server.close(),
      ari.close(),
      doh.stop(),
      pebble.stop(),
      eabPebble.stop(),
      http01.close(),
    ])
    await Promise.all([work, ...homes].map((dir) => rm(dir, { recursive: true, force: true })))
  }

  const line = `${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`
  console.log(`${label}: ${line} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  const file = process.env.WEBACME_SUMMARY_FILE
  if (file) writeFileSync(file, `${JSON.stringify({ ...counts, label, failures })}\n`)
  return counts.failed > 0 ? 1 : 0
}

process.exitCode = await main()
