/**
 * What a person does with the playground, one flow per test, asserting on what the page shows and checking the
 * results outside the browser (OpenSSL, Node's X509Certificate, Pebble's management API). Flows run in order and
 * share one page, like one visit: the account made first is used by the orders, their certificates by the
 * inspector and the revocations.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, type X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { PAGE_CSP, type PlaygroundServer } from '../../playground/server.ts'
import { type AriProxy, fixtureCertId } from '../fixtures/ari-proxy.ts'
import type { Http01Server } from '../harness/http01-server.ts'
import type { Pebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { startService } from '../service/service-process.ts'
import {
  checkChainAndKey,
  jwkThumbprint,
  openssl,
  parseChain,
  publicPem,
  sanNames,
  serialOf,
  thumbprint,
  verifyCsr,
} from './checks.ts'

export interface Context {
  page: Page
  pebble: Pebble
  /** A Pebble that requires external account binding, and the EAB credentials it knows. */
  eabPebble: { directoryUrl: string; kid: string; hmacKey: string }
  http01: Http01Server
  ari: AriProxy
  server: PlaygroundServer
  /** The test CA (Pebble's TLS chains to it): its PEM and file. */
  ca: { caPem: string; caCertPath: string }
  /** Scratch directory for files the page produced. */
  work: string
  /** What one flow hands to later ones. */
  data: {
    accountUrl?: string
    dnsChain?: string
    dnsKey?: string
    httpChain?: string
    httpKey?: string
  }
  /** Console errors and uncaught exceptions of the page (must stay empty). */
  consoleErrors: string[]
  /** Chromium's log lines for CA responses with a 4xx status (badNonce retries, refusals the page shows). */
  caHttpErrors: string[]
  screenshot(name: string): Promise<void>
  /** The page in a second browser that does not trust the test CA. */
  untrustedPage(): Promise<{ page: Page; close(): Promise<void> }>
}

export interface Flow {
  name: string
  needs?: string[]
  run(ctx: Context): Promise<void>
}

// --- Page helpers ------------------------------------------------------------------------------------------

async function openScreen(page: Page, screen: string): Promise<void> {
  await page.click(`nav a[href="#${screen}"]`)
  await page.locator(`#${screen}`).waitFor({ state: 'visible' })
}

async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).textContent()) ?? '').trim()
}

/** Clicks `selector` and answers the dialog it opens (a `confirm`), checking the question; returns it. */
async function answerDialog(
  page: Page,
  selector: string,
  accept: boolean,
  question: RegExp,
): Promise<string> {
  // The click resolves only once the dialog is answered: the answer is set up first.
  let message: string | undefined
  page.once('dialog', (dialog) => {
    message = dialog.message()
    void (accept ? dialog.accept() : dialog.dismiss())
  })
  await page.click(selector)
  assert.ok(message !== undefined, `${selector} asked nothing`)
  assert.match(message, question)
  return message
}

async function downloaded(page: Page, trigger: () => Promise<void>): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), trigger()])
  const path = await download.path()
  return { name: download.suggestedFilename(), text: await readFile(path, 'utf8') }
}

/** Describes the focused element: its id, else tag and text. */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null
    if (!el || el === document.body) return 'body'
    return el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}:${(el.textContent ?? '').trim().slice(0, 40)}`
  })
}

/** Presses Tab until `target` has the focus; returns what got the focus on the way (target included). */
async function tabTo(page: Page, target: string | RegExp, limit = 60): Promise<string[]> {
  const path: string[] = []
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab')
    const now = await focused(page)
    path.push(now)
    if (typeof target === 'string' ? now === target : target.test(now)) return path
  }
  throw new Error(`${String(target)} not reached by Tab; focus went through: ${path.join(' → ')}`)
}

/** The account record in IndexedDB, read the way any script of the page could, and what it allows. */
function storedKey(page: Page, directoryUrl: string) {
  return page.evaluate(async (url) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('webacme-playground')
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    })
    const record = await new Promise<{ keyPair: CryptoKeyPair; accountUrl?: string }>((resolve, reject) => {
      const request = db.transaction('accounts').objectStore('accounts').get(url)
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    })
    db.close()
    const { privateKey, publicKey } = record.keyPair
    // (No named helper functions in here: tsx would wrap them in a `__name` call the page does not have.)
    const refusals: Record<string, string> = {}
    for (const format of ['pkcs8', 'jwk'] as const) {
      try {
        await crypto.subtle.exportKey(format, privateKey)
        refusals[format] = 'exported'
      } catch (err) {
        refusals[format] = (err as DOMException).name
      }
    }
    return {
      type: privateKey.type,
      extractable: privateKey.extractable,
      algorithm: privateKey.algorithm as EcKeyAlgorithm,
      pkcs8: refusals.pkcs8,
      jwk: refusals.jwk,
      publicJwk: (await crypto.subtle.exportKey('jwk', publicKey)) as JsonWebKey,
      accountUrl: record.accountUrl,
    }
  }, directoryUrl)
}

/** "Find existing account" finds the account the first flow created. */
async function findsTheAccount(ctx: Context): Promise<void> {
  await ctx.page.click('#acct-find')
  await ctx.page.locator('#acct-find:not([aria-busy])').waitFor()
  assert.equal(await text(ctx.page, '#acct-error'), '')
  assert.equal(await text(ctx.page, '#acct-url'), ctx.data.accountUrl)
}

/** The URL of a directory resource, read from Pebble as the page would. */
async function directoryEntry(ctx: Context, name: string): Promise<string> {
  return ctx.page.evaluate(
    async ([url, key]) => ((await (await fetch(url!)).json()) as Record<string, string>)[key!]!,
    [ctx.pebble.directoryUrl, name],
  )
}

// --- Flows -------------------------------------------------------------------------------------------------

const trust: Flow = {
  name: 'TLS verified for real: without the test CA the page cannot reach Pebble, and says why',
  async run(ctx) {
    const { page, close } = await ctx.untrustedPage()
    try {
      const certificateErrors: string[] = []
      page.on('requestfailed', (r) => {
        if (/ERR_CERT_AUTHORITY_INVALID/.test(r.failure()?.errorText ?? '')) certificateErrors.push(r.url())
      })
      await page.goto(ctx.server.url)
      await page.locator('#ca-error .error[data-code="ERR_NETWORK"]').waitFor()
      // The library retried (a browser does not tell a certificate error from a dropped connection), and gave up.
      assert.ok(certificateErrors.length > 0, 'the directory request failed on the certificate')
      assert.deepEqual(new Set(certificateErrors), new Set([ctx.pebble.directoryUrl]))
      // Said plainly, with the CA certificate the server offers (and no talk of CORS: Pebble answers those).
      await page.locator('#ca-untrusted').waitFor({ state: 'visible' })
      assert.equal(await page.locator('#ca-error .hint').count(), 0, 'no guess about CORS besides it')
      const hint = await text(page, '#ca-untrusted')
      assert.match(hint, /does not trust the TLS certificate of the local Pebble/)
      assert.match(hint, /Remove it again when you are done/)
      assert.doesNotMatch(hint, /CORS/)
      assert.equal(await page.getAttribute('#ca-cert-link', 'href'), '/ca.pem')
      const served = await page.evaluate(async () => (await fetch('/ca.pem')).text())
      assert.equal(served.trim(), ctx.ca.caPem.trim(), 'the link serves the CA certificate')
    } finally {
      await close()
    }
    // The browser of the other flows trusts it (its NSS database has the test CA).
    await ctx.page.locator('#ca-details').waitFor()
  },
}

const account: Flow = {
  name: 'account: created only with explicit agreement to the terms',
  async run(ctx) {
    const { page } = ctx
    await page.locator('#ca-details').waitFor()
    assert.equal(await page.inputValue('#ca-directory'), ctx.pebble.directoryUrl)
    assert.match(
      await text(page, '#acct-tos-value'),
      // The page's CA is Pebble behind the Let's Encrypt-shaped front, which names Let's Encrypt's agreement.
      /^https:\/\/letsencrypt\.org\/documents\//,
      'the terms of service link is shown',
    )
    await page.click('#key-generate')
    await page.locator('#key-status[data-thumbprint]').waitFor()
    assert.match(
      await text(page, '#key-status'),
      /ECDSA P-256 key, thumbprint \S+, kept in this browser; private key not extractable/,
    )

    // Without the tick the page refuses, and no newAccount request leaves the browser.
    const newAccount = await directoryEntry(ctx, 'newAccount')
    const sent: string[] = []
    const listener = (r: { url(): string; method(): string }) => {
      if (r.url() === newAccount && r.method() === 'POST') sent.push(r.url())
    }
    page.on('request', listener)
    await page.click('#acct-create')
    await page.locator('#acct-error [data-code="TERMS_NOT_AGREED"]').waitFor()
    assert.equal(await focused(page), '#acct-agree', 'the agreement box gets the focus')
    assert.equal(sent.length, 0, 'no account request without agreement')

    await page.fill('#acct-contact', 'first@example.test')
    await page.check('#acct-agree')
    await page.click('#acct-create')
    await page.locator('#acct-status', { hasText: 'valid' }).waitFor()
    page.off('request', listener)
    // (More than one when Pebble rejected a nonce: the library retries with a fresh one.)
    assert.ok(sent.length >= 1, 'the newAccount request went out after agreement')
    const url = await text(page, '#acct-url')
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/my-account\/\S+$/)
    assert.equal(await text(page, '#acct-contact-shown'), 'mailto:first@example.test')
    ctx.data.accountUrl = url
    await ctx.screenshot('01-account-created')
  },
}

const notExtractable: Flow = {
  name: 'account key: non-extractable in IndexedDB, and still usable after a reload',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    const key = await storedKey(page, ctx.pebble.directoryUrl)
    assert.equal(key.type, 'private')
    assert.equal(key.extractable, false)
    assert.equal(key.algorithm.name, 'ECDSA')
    assert.equal(key.algorithm.namedCurve, 'P-256')
    assert.equal(key.pkcs8, 'InvalidAccessError', 'exportKey(pkcs8) is refused')
    assert.equal(key.jwk, 'InvalidAccessError', 'exportKey(jwk) is refused')
    assert.equal(key.accountUrl, ctx.data.accountUrl)
    const shown = await page.getAttribute('#key-status', 'data-thumbprint')
    assert.equal(jwkThumbprint(key.publicJwk), shown, 'the thumbprint shown is the stored key’s')

    await page.reload()
    await page.locator('#acct-status', { hasText: 'valid' }).waitFor()
    await findsTheAccount(ctx) // signs with the key from IndexedDB
  },
}

const contact: Flow = {
  name: 'account: contact update',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    await page.fill('#acct-contact', 'ops@example.test')
    await page.click('#acct-update')
    await page.locator('#acct-contact-shown', { hasText: 'mailto:ops@example.test' }).waitFor()
    assert.equal(await text(page, '#acct-error'), '')

    // After a reload the field shows the account's contact; an empty or unchanged update is not sent.
    await page.reload()
    await page.locator('#acct-status', { hasText: 'valid' }).waitFor()
    assert.equal(await page.inputValue('#acct-contact'), 'ops@example.test')
    const sent: string[] = []
    const listener = (r: { url(): string; method(): string }) => {
      if (r.url() === ctx.data.accountUrl && r.method() === 'POST') sent.push(r.url())
    }
    page.on('request', listener)
    for (const value of ['ops@example.test', '']) {
      await page.fill('#acct-contact', value)
      await page.click('#acct-update')
      await page.locator('#acct-error [data-code="NOTHING_TO_UPDATE"]').waitFor()
      assert.equal(await focused(page), '#acct-contact')
    }
    page.off('request', listener)
    assert.deepEqual(sent, [], 'no update request for an empty or unchanged contact')
    await ctx.screenshot('01b-contact-not-sent')
  },
}

const csr: Flow = {
  name: 'CSR tool: new keys and a pasted key, each CSR verified by openssl req -verify',
  async run(ctx) {
    const { page, work } = ctx
    await openScreen(page, 'csr')
    await page.fill('#csr-names', 'csr.example.test\nwww.csr.example.test, 192.0.2.7')
    for (const type of ['RSA-2048', 'ES384', 'ES256']) {
      await page.selectOption('#csr-key-type', type)
      await page.click('#csr-create')
      await page.locator('#csr-pem').waitFor()
      const csrPem = await page.inputValue('#csr-pem')
      const keyPem = await page.inputValue('#csr-key-out')
      const checked = await verifyCsr(csrPem, work, `csr-${type}`)
      assert.ok(checked.verified, `openssl req -verify accepts the ${type} CSR`)
      for (const san of ['DNS:csr.example.test', 'DNS:www.csr.example.test', 'IP Address:192.0.2.7'])
        assert.ok(checked.text.includes(san), `the CSR asks for ${san}`)
      assert.equal(checked.publicKeyPem, publicPem(keyPem), 'the key shown is the CSR’s key')
    }
    assert.match(await text(page, '#csr-summary'), /ECDSA P-256 \(new, made in this page\)/)
    const file = await downloaded(page, () => page.click('#csr-out a[download="request.csr"]'))
    assert.equal(file.text, await page.inputValue('#csr-pem'), 'the download is the CSR shown')
    await ctx.screenshot('02-csr-tool')

    // A key the user brings (P-384 from openssl), pasted: the CSR carries its public key.
    const own = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], work)
    await page.check('#csr-key-mine')
    await page.fill('#csr-key-pem', own)
    await page.fill('#csr-names', 'mine.example.test')
    await page.click('#csr-create')
    await page.locator('#csr-summary', { hasText: 'ECDSA P-384 (yours)' }).waitFor()
    assert.equal(await page.locator('#csr-key-out').count(), 0, 'no key is offered for a pasted key')
    const checked = await verifyCsr(await page.inputValue('#csr-pem'), work, 'csr-own')
    assert.ok(checked.verified, 'openssl req -verify accepts the CSR for the pasted key')
    assert.equal(checked.publicKeyPem, publicPem(own), 'the CSR carries the pasted key')
  },
}

const dnsOrder: Flow = {
  name: 'dns-01 order (apex + wildcard): the user adds the TXT records, the DoH check turns green, chain and key download',
  needs: [account.name],
  async run(ctx) {
    const { page, pebble } = ctx
    await openScreen(page, 'order')
    await page.fill('#order-names', 'dns.example.test\n*.dns.example.test')
    // http-01 picked by mistake: a wildcard needs dns-01, and the page says it switched.
    await page.check('#order-http')
    assert.ok(await page.locator('#order-doh-box').isHidden(), 'no DNS check panel for http-01')
    await page.click('#order-place')
    const cards = page.locator('#order-tasks article.task')
    await page.locator('#order-tasks-title').waitFor()
    assert.ok(await page.isChecked('#order-dns'), 'the radio button moved to dns-01')
    assert.match(await text(page, '#order-status'), /switched to dns-01/)
    assert.ok(await page.locator('#order-doh-box').isVisible(), 'the DNS check panel is back')
    assert.equal(await cards.count(), 2)
    const records: Array<{ name: string; value: string }> = []
    for (const card of await cards.all()) {
      const name = ((await card.locator('.dns-name').textContent()) ?? '').trim()
      const value = ((await card.locator('.dns-value').textContent()) ?? '').trim()
      assert.equal(name, '_acme-challenge.dns.example.test', 'apex and wildcard share the record name')
      // The page looked before the record existed, and says so.
      await card.locator('.dns-state[data-dns="waiting"]').waitFor()
      records.push({ name, value })
    }
    assert.notEqual(records[0]!.value, records[1]!.value)
    // The copy button puts the value on the clipboard.
    await cards.first().getByRole('button', { name: 'Copy value' }).click()
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), records[0]!.value)

    // The user adds both values at their DNS (pebble-challtestsrv), then asks the page to look again.
    for (const { name, value } of records) await pebble.challtest!.setTxt(`${name}.`, value)
    for (const card of await cards.all()) {
      await card.locator('button.dns-check').click()
      await card.locator('.dns-state[data-dns="visible"]').waitFor()
    }
    await ctx.screenshot('03-order-dns-01-records-visible')

    await page.click('#order-validate')
    await page.locator('#order-issued').waitFor()
    for (const card of await cards.all()) assert.equal(await card.getAttribute('data-state'), 'valid')
    assert.match(
      await text(page, '#order-key-check'),
      /ECDSA P-256, made in this page: matches the certificate/,
    )
    const chain = await downloaded(page, () => page.click('#order-issued a[download="fullchain.pem"]'))
    const key = await downloaded(page, () => page.click('#order-issued a[download="privkey.pem"]'))
    const { names } = checkChainAndKey(chain.text, key.text, await pebble.roots(0))
    assert.deepEqual(names.sort(), ['*.dns.example.test', 'dns.example.test'])
    ctx.data.dnsChain = chain.text
    ctx.data.dnsKey = key.text
    // The request log lists what the library sent, with the CA's answers.
    const newOrder = new URL(await directoryEntry(ctx, 'newOrder'))
    await page.click('#log summary')
    const log = await page.locator('#log-list').innerText()
    assert.ok(log.includes(`POST ${newOrder.host}${newOrder.pathname} 201`), `newOrder in the log:\n${log}`)
    await ctx.screenshot('04-order-issued')
    await page.click('#log summary')
  },
}

const keyboardOrder: Flow = {
  name: 'http-01 order by keyboard only: focus order, the test serves the file, downloads by Enter',
  needs: [account.name],
  async run(ctx) {
    const { page, http01, pebble } = ctx
    await page.evaluate(() => {
      location.hash = '#account'
      ;(document.activeElement as HTMLElement | null)?.blur()
    })
    // From the top of the page to the Order screen.
    await tabTo(page, 'a:Order')
    await page.keyboard.press('Enter')
    await page.locator('#order').waitFor({ state: 'visible' })
    assert.equal(await focused(page), '#order-title', 'the screen heading takes the focus')

    // The form in reading order; Cancel is skipped while nothing runs.
    const path = await tabTo(page, '#order-place')
    assert.equal(path.length, 6, `focus order: ${path.join(' → ')}`)
    assert.deepEqual(path.slice(0, 3), ['#order-names', '#order-dns', '#order-key-type'])
    assert.match(path[3]!, /^summary:Order with my own CSR/)
    assert.match(path[4]!, /^summary:DNS check:/)
    // Type the name, pick http-01 with the arrow key, pick the key type, place the order.
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Shift+Tab')
    assert.equal(await focused(page), '#order-names')
    await page.keyboard.press('Control+A')
    await page.keyboard.type('http.example.test')
    await page.keyboard.press('Tab')
    await page.keyboard.press('ArrowDown')
    assert.equal(await focused(page), '#order-http')
    assert.ok(await page.isChecked('#order-http'), 'the arrow key picked http-01')
    await page.keyboard.press('Tab')
    await page.keyboard.press('End') // the last key type: RSA 3072
    await tabTo(page, '#order-place')
    await page.keyboard.press('Enter')
    await page.locator('#order-tasks-title').waitFor()
    assert.equal(await focused(page), '#order-tasks-title', 'the instructions take the focus')

    // The test plays the web server: it serves the file the page describes.
    const card = page.locator('#order-tasks article.task').first()
    const url = await text(page, '#order-tasks .http-url')
    const content = await text(page, '#order-tasks .http-content')
    assert.match(url, /^http:\/\/http\.example\.test\/\.well-known\/acme-challenge\/[\w-]+$/)
    http01.set(url.split('/').pop()!, content)

    const toValidate = await tabTo(page, '#order-validate')
    assert.deepEqual(toValidate.slice(0, 3), [
      'button:Copy URL',
      'button:Copy content',
      'a:Download the file',
    ])
    await page.keyboard.press('Enter')
    await page.locator('#order-issued-title').waitFor()
    assert.equal(await focused(page), '#order-issued-title')
    assert.equal(await card.getAttribute('data-state'), 'valid')
    assert.match(await text(page, '#order-key-check'), /RSA 3072, made in this page: matches the certificate/)
    await ctx.screenshot('05-order-http-01-by-keyboard')

    await tabTo(page, 'a:Download fullchain.pem')
    const chain = await downloaded(page, () => page.keyboard.press('Enter'))
    await tabTo(page, 'a:Download privkey.pem')
    const key = await downloaded(page, () => page.keyboard.press('Enter'))
    const { names } = checkChainAndKey(chain.text, key.text, await pebble.roots(0))
    assert.deepEqual(names, ['http.example.test'])
    assert.ok(http01.requests > 0, 'Pebble fetched the file from the test’s server')
    ctx.data.httpChain = chain.text
    ctx.data.httpKey = key.text
  },
}

const failedValidation: Flow = {
  name: 'a failed validation: the name’s card shows the error code and the CA’s problem',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    await openScreen(page, 'order')
    await page.fill('#order-names', 'nofile.example.test')
    await page.check('#order-http')
    await page.click('#order-place')
    await page.locator('#order-tasks-title').waitFor()
    // The user asks for validation without serving the file: the test's server answers 404.
    await page.click('#order-validate')
    const card = page.locator('#order-tasks article.task')
    await card.locator('.task-error .error').waitFor()
    assert.equal(await card.getAttribute('data-state'), 'invalid')
    assert.equal(
      await card.locator('.task-error .error').getAttribute('data-code'),
      'ERR_AUTHORIZATION_INVALID',
    )
    assert.match(await card.locator('.task-error .problem').innerText(), /urn:ietf:params:acme:error:\w+/)
    const detail = await text(page, '#order-tasks .problem-detail')
    assert.notEqual(detail, '', 'the CA’s detail is shown')
    assert.ok(!(await text(page, '#order-tasks .message')).includes(detail), 'and not twice')
    await page.locator('#order-status', { hasText: 'could not validate' }).waitFor()
    assert.ok(await page.locator('#order-validate-card').isHidden(), 'the invalid order cannot go on')
    assert.ok(await page.isEnabled('#order-place'))
    await ctx.screenshot('06-order-validation-failed')
  },
}

const inspector: Flow = {
  name: 'inspector: fields, CertID, chain order and timeline of a real chain; the ARI window from the CA',
  needs: [dnsOrder.name],
  async run(ctx) {
    const { page, ari } = ctx
    const chainPem = ctx.data.dnsChain!
    const [leaf, intermediate] = parseChain(chainPem) as [X509Certificate, X509Certificate]
    await openScreen(page, 'inspect')
    await page.fill('#inspect-pem', chainPem)
    assert.equal(
      await page.inputValue('#inspect-ca'),
      ctx.pebble.directoryUrl,
      'the account’s CA is asked by default',
    )
    // That CA (Let's Encrypt-shaped) offers ARI; the timeline without ARI is drawn against a plain Pebble.
    await page.fill('#inspect-ca', ctx.eabPebble.directoryUrl)
    await page.click('#inspect-run')
    await page.locator('#timeline').waitFor()

    // The fields, against Node's own parse.
    const card = page.locator('article.cert[data-index="0"]')
    const fields = await card.locator('dl.fields').innerText()
    assert.ok(fields.includes(`CN=${/CN=(.+)/.exec(leaf.subject)![1]}`), 'subject')
    assert.ok(fields.includes(`CN=${/CN=(.+)/.exec(leaf.issuer)![1]}`), 'issuer')
    for (const name of sanNames(leaf)) assert.ok(fields.includes(name), `SAN ${name}`)
    assert.equal(await text(page, 'article.cert[data-index="0"] .serial'), serialOf(leaf))
    assert.equal(await text(page, 'article.cert[data-index="0"] .key'), 'ECDSA P-256')
    assert.equal(
      await text(page, 'article.cert[data-index="1"] .key'),
      intermediate.publicKey.asymmetricKeyType === 'rsa'
        ? `RSA ${intermediate.publicKey.asymmetricKeyDetails?.modulusLength}`
        : 'ECDSA P-256',
    )
    const notBefore = new Date(leaf.validFrom)
    const notAfter = new Date(leaf.validTo)
    assert.equal(
      await page.getAttribute('article.cert[data-index="0"] .not-before', 'datetime'),
      notBefore.toISOString(),
    )
    assert.equal(
      await page.getAttribute('article.cert[data-index="0"] .not-after', 'datetime'),
      notAfter.toISOString(),
    )
    const { certId } = fixtureCertId(new Uint8Array(leaf.raw))
    assert.equal(await text(page, 'article.cert[data-index="0"] .cert-id'), certId, 'RFC 9773 CertID')
    assert.equal(await page.getAttribute('#inspect-chain', 'data-in-order'), 'true')

    // The timeline: now inside the validity bar, renewal at two thirds of it, plain Pebble has no ARI.
    const renewAt = new Date(notBefore.getTime() + ((notAfter.getTime() - notBefore.getTime()) * 2) / 3)
    assert.equal(await page.getAttribute('[data-marker="renew"]', 'data-time'), renewAt.toISOString())
    const geometry = await page.evaluate(() => {
      const [validity, now, renew, due] = ['validity', 'now', 'renew', 'due'].map((m) =>
        document.querySelector(`[data-marker="${m}"]`),
      )
      return {
        barStart: Number(validity?.getAttribute('x')),
        barEnd: Number(validity?.getAttribute('x')) + Number(validity?.getAttribute('width')),
        now: Number(now?.getAttribute('x1')),
        renew: Number(renew?.getAttribute('x1')),
        due: Number(due?.getAttribute('x')),
      }
    })
    assert.ok(
      geometry.barStart < geometry.now && geometry.now < geometry.renew,
      'now is drawn before the renewal mark',
    )
    assert.ok(
      Math.abs(geometry.renew - (geometry.barStart + ((geometry.barEnd - geometry.barStart) * 2) / 3)) < 0.5,
    )
    assert.equal(geometry.due, geometry.renew, 'the due part starts at the renewal mark')
    assert.match(await text(page, '#inspect-ari'), /offers no renewal information/)

    // The same certificate at a CA with ARI (the fixture in front of Pebble): its window is drawn.
    const window = {
      start: new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) / 2),
      end: renewAt,
    }
    ari.setRenewalInfo(certId, { ...window, explanationURL: 'https://ca.example/why' })
    await page.fill('#inspect-ca', ari.directoryUrl)
    await page.click('#inspect-run')
    await page.locator('[data-marker="ari"]').waitFor()
    assert.equal(await page.getAttribute('#inspect-ari', 'data-start'), window.start.toISOString())
    assert.equal(await page.getAttribute('#inspect-ari', 'data-end'), window.end.toISOString())
    assert.equal(
      await page.getAttribute('[data-marker="ari"]', 'data-time'),
      `${window.start.toISOString()}/${window.end.toISOString()}`,
    )
    assert.ok(ari.renewalInfoRequests.includes(certId), 'the page asked the CA with the CertID')
    await ctx.screenshot('07-inspector-with-ari')

    // A chain out of order is called out.
    const [a, b] = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!
    await page.fill('#inspect-pem', `${b}\n${a}\n`)
    await page.fill('#inspect-ca', '')
    await page.click('#inspect-run')
    await page.locator('#inspect-chain[data-in-order="false"]').waitFor()
  },
}

async function revokeWith(ctx: Context, chainPem: string, reason: string, key?: string): Promise<void> {
  const { page } = ctx
  await page.fill('#revoke-pem', chainPem)
  await page.selectOption('#revoke-reason', reason)
  if (key) {
    await page.check('#revoke-with-key')
    await page.fill('#revoke-key', key)
  } else {
    await page.check('#revoke-with-account')
  }
  await answerDialog(page, '#revoke-run', true, /cannot be undone/)
  await page.locator('#revoke-run:not([aria-busy])').waitFor()
}

const revokeAccount: Flow = {
  name: 'revocation with the account key, confirmed at Pebble',
  needs: [dnsOrder.name],
  async run(ctx) {
    const { page, pebble } = ctx
    await openScreen(page, 'revoke')
    const serial = serialOf(parseChain(ctx.data.dnsChain!)[0]!)
    assert.equal((await pebble.certStatus(serial)).status, 'valid')
    // Only the reasons Let's Encrypt accepts are offered.
    assert.deepEqual(await page.locator('#revoke-reason option').allTextContents(), [
      'unspecified',
      'keyCompromise',
      'superseded',
      'cessationOfOperation',
    ])
    // Revocation asks first; "Cancel" sends nothing.
    await page.fill('#revoke-pem', ctx.data.dnsChain!)
    await answerDialog(page, '#revoke-run', false, /Revoke this certificate \(reason \w+\)\?/)
    assert.equal(await text(page, '#revoke-status'), '')
    assert.equal((await pebble.certStatus(serial)).status, 'valid', 'not revoked after Cancel')
    await revokeWith(ctx, ctx.data.dnsChain!, 'superseded')
    assert.equal(await text(page, '#revoke-error'), '')
    assert.equal(await page.getAttribute('#revoke-status', 'data-serial'), serial)
    const status = await pebble.certStatus(serial)
    assert.equal(status.status, 'revoked')
    assert.equal(status.reason, 4, 'superseded (RFC 5280 code 4)')
  },
}

const revokeKey: Flow = {
  name: 'revocation with the certificate’s own key, confirmed at Pebble',
  needs: [keyboardOrder.name],
  async run(ctx) {
    const { page, pebble } = ctx
    await openScreen(page, 'revoke')
    const serial = serialOf(parseChain(ctx.data.httpChain!)[0]!)
    assert.equal((await pebble.certStatus(serial)).status, 'valid')
    await revokeWith(ctx, ctx.data.httpChain!, 'keyCompromise', ctx.data.httpKey!)
    assert.equal(await text(page, '#revoke-error'), '')
    assert.match(await text(page, '#revoke-status'), /signed with its own key/)
    const status = await pebble.certStatus(serial)
    assert.equal(status.status, 'revoked')
    assert.equal(status.reason, 1, 'keyCompromise (RFC 5280 code 1)')
    await ctx.screenshot('08-revocation')
  },
}

const problemShown: Flow = {
  name: 'errors show the library’s code and the CA’s problem detail (revoking twice)',
  needs: [revokeAccount.name],
  async run(ctx) {
    const { page } = ctx
    await revokeWith(ctx, ctx.data.dnsChain!, 'superseded')
    await page.locator('#revoke-error .error').waitFor()
    assert.equal(await page.getAttribute('#revoke-error .error', 'data-code'), 'ERR_ACME_ALREADY_REVOKED')
    assert.match(await text(page, '#revoke-error .problem'), /urn:ietf:params:acme:error:alreadyRevoked/)
    const detail = await text(page, '#revoke-error .problem-detail')
    assert.notEqual(detail, '', 'the CA’s detail is shown')
    assert.ok(!(await text(page, '#revoke-error .message')).includes(detail), 'and not repeated above it')
    await ctx.screenshot('09-revocation-error')
  },
}

const cancel: Flow = {
  name: 'cancel aborts the request in flight',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    const newOrder = await directoryEntry(ctx, 'newOrder')
    // Hold the newOrder request at the network layer so that it is in flight when the user cancels.
    let held: () => void = () => {}
    const reached = new Promise<void>((resolve) => (held = resolve))
    await page.route(newOrder, async (route) => {
      if (route.request().method() !== 'POST') return route.continue()
      held()
    })
    const failed = page.waitForEvent('requestfailed', (r) => r.url() === newOrder && r.method() === 'POST')
    try {
      await openScreen(page, 'order')
      await page.fill('#order-names', 'cancel.example.test')
      await page.click('#order-place')
      await reached
      assert.ok(await page.isEnabled('#order-cancel'))
      await page.click('#order-cancel')
      const request = await failed
      assert.match(request.failure()?.errorText ?? '', /ABORTED/)
      await page.locator('#order-status', { hasText: 'Cancelled' }).waitFor()
      assert.ok(await page.isEnabled('#order-place'), 'a new order can be placed')
      await page.waitForFunction(() => document.activeElement?.id === 'order-place')
      assert.equal(await focused(page), '#order-place', 'the focus is back on the order form')
      assert.ok(await page.isDisabled('#order-cancel'))
      assert.equal(await text(page, '#order-error'), '', 'a cancel is not an error')
      await ctx.screenshot('10-order-cancelled')
    } finally {
      await page.unroute(newOrder)
    }
  },
}

const rollover: Flow = {
  name: 'key rollover with a one-time backup: new thumbprint, same account, still non-extractable',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    await openScreen(page, 'account')
    const before = await page.getAttribute('#key-status', 'data-thumbprint')
    await page.check('#key-backup')
    await page.click('#acct-rollover')
    await page.locator('#key-backup-pem').waitFor()
    const backupPem = await page.inputValue('#key-backup-pem')
    await page.locator(`#key-status:not([data-thumbprint="${before}"])`).waitFor()
    const after = await page.getAttribute('#key-status', 'data-thumbprint')
    assert.equal(after, thumbprint(backupPem), 'the key rolled to is the one backed up')
    assert.equal(await text(page, '#acct-url'), ctx.data.accountUrl, 'same account')
    await ctx.screenshot('11-account-rollover-backup')
    await page.click('#key-backup-done')
    assert.ok(await page.locator('#key-backup-out').isHidden(), 'the backup is hidden once saved')

    const key = await storedKey(page, ctx.pebble.directoryUrl)
    assert.equal(key.extractable, false)
    assert.equal(key.pkcs8, 'InvalidAccessError')
    assert.equal(jwkThumbprint(key.publicJwk), after)
    // The CA knows the account by the new key.
    await page.uncheck('#key-backup')
    await findsTheAccount(ctx)
  },
}

const deactivation: Flow = {
  name: 'deactivation, after which the CA refuses the account (code and detail shown)',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    await openScreen(page, 'account')
    assert.ok(await page.isDisabled('#acct-deactivate'), 'disabled until confirmed')
    await page.check('#acct-deactivate-confirm')
    await page.click('#acct-deactivate')
    await page.locator('#acct-status', { hasText: 'deactivated' }).waitFor()
    assert.ok(await page.isDisabled('#acct-update'))
    await page.click('#acct-find')
    await page.locator('#acct-error .error').waitFor()
    assert.equal(await page.getAttribute('#acct-error .error', 'data-code'), 'ERR_ACME_UNAUTHORIZED')
    assert.notEqual(await text(page, '#acct-error .problem-detail'), '')
    await ctx.screenshot('12-account-deactivated')
  },
}

const eabAndImport: Flow = {
  name: 'a CA requiring EAB: imported key, the CA’s refusal without EAB, the account with it; forget the key',
  async run(ctx) {
    const { page, work, eabPebble } = ctx
    await openScreen(page, 'account')
    // Another CA, by its directory URL.
    await page.fill('#ca-directory', eabPebble.directoryUrl)
    assert.equal(await page.inputValue('#ca-preset'), 'custom')
    await page.click('#ca-load')
    await page.locator('#ca-details', { hasText: eabPebble.directoryUrl }).waitFor()
    assert.match(await text(page, '#ca-details'), /External account binding\s*required/)
    assert.ok(await page.locator('#ca-eab').isVisible(), 'the EAB fields appear for a CA that requires EAB')
    assert.ok(!(await page.isChecked('#acct-agree')), 'an agreement does not carry over to another CA')
    assert.match(await text(page, '#key-status'), /No account key for this CA/)

    // An RSA key under 2048 bits is refused.
    const weak = await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], work)
    await page.click('#key-import-box summary')
    await page.fill('#key-import-text', weak)
    await page.click('#key-import')
    await page.locator('#key-error .error').waitFor()
    assert.match(await text(page, '#key-error'), /RSA key of 1024 bits: use one of 2048 bits or more/)
    assert.equal(await page.getAttribute('#key-status', 'data-thumbprint'), null, 'nothing stored')

    // The user brings a key (PEM made by openssl); it is stored non-extractable too.
    const pem = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], work)
    await page.fill('#key-import-text', pem)
    assert.equal(await page.getAttribute('#key-status', 'data-thumbprint'), null)
    await page.click('#key-import')
    await page.locator(`#key-status[data-thumbprint="${thumbprint(pem)}"]`).waitFor()
    assert.equal(await page.inputValue('#key-import-text'), '', 'the pasted key is cleared')
    const stored = await storedKey(page, eabPebble.directoryUrl)
    assert.equal(stored.extractable, false)
    assert.equal(stored.pkcs8, 'InvalidAccessError')

    await page.check('#acct-agree')
    await page.click('#acct-create')
    await page.locator('#acct-error .error').waitFor()
    assert.equal(
      await page.getAttribute('#acct-error .error', 'data-code'),
      'ERR_ACME_EXTERNAL_ACCOUNT_REQUIRED',
    )
    await page.fill('#eab-kid', eabPebble.kid)
    await page.fill('#eab-hmac', eabPebble.hmacKey)
    await page.click('#acct-create')
    await page.locator('#acct-status', { hasText: 'valid' }).waitFor()
    assert.equal(await text(page, '#acct-error'), '')
    await ctx.screenshot('13-account-eab')

    await page.click('#key-forget')
    await page.locator('#key-status', { hasText: 'No account key for this CA' }).waitFor()
    assert.equal(await page.locator('#acct-url').count(), 0)
    // A private JWK imports too.
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
    await page.click('#key-import-box summary')
    await page.fill('#key-import-text', JSON.stringify(jwk))
    await page.click('#key-import')
    await page.locator(`#key-status[data-thumbprint="${jwkThumbprint(jwk)}"]`).waitFor()
    assert.equal((await storedKey(page, eabPebble.directoryUrl)).extractable, false)
    await page.click('#key-forget')
    await page.locator('#key-status', { hasText: 'No account key for this CA' }).waitFor()
    // And back to the first CA, whose account is still there (deactivated by the flow before).
    await page.selectOption('#ca-preset', 'pebble')
    await page.click('#ca-load')
    await page.locator('#acct-url', { hasText: ctx.data.accountUrl ?? '' }).waitFor()
  },
}

const caSwitch: Flow = {
  name: 'a CA that is not one: plain words, no library wording, and the page stays on the previous CA',
  needs: [account.name],
  async run(ctx) {
    const { page } = ctx
    await openScreen(page, 'account')
    const origin = new URL(ctx.pebble.directoryUrl).origin
    const caLine = await text(page, '#ca-line')
    // Plain http: the page says ACME needs https, not the library's advice to programs (allowInsecure).
    await page.fill('#ca-directory', `http://127.0.0.1:${ctx.server.port}/dir`)
    await page.click('#ca-load')
    await page.locator('#ca-error .error').waitFor()
    assert.match(await text(page, '#ca-error'), /https:\/\/ only/)
    // A path the CA does not serve answers 404 without CORS headers: the page tells it from a TLS problem.
    for (const [url, said] of [
      [`${origin}/no-directory-here`, /answered, but without the CORS headers/],
      [`${origin}/my-order/no-such-order`, /answers HTTP 405: there is no ACME directory at this URL/],
    ] as const) {
      await page.fill('#ca-directory', url)
      await page.click('#ca-load')
      await page.locator('#ca-load:not([aria-busy])').waitFor()
      await page.locator('#ca-error .hint').waitFor()
      const shown = await text(page, '#ca-error')
      assert.match(shown, said)
      assert.doesNotMatch(shown, /allowInsecure|TLS certificate/)
      // Still on the previous CA, with its account.
      assert.equal(await text(page, '#ca-line'), caLine)
      assert.equal(await page.inputValue('#ca-directory'), ctx.pebble.directoryUrl)
      assert.equal(await text(page, '#acct-url'), ctx.data.accountUrl)
      assert.ok(await page.locator('#ca-details').isVisible())
    }
    await ctx.screenshot('01c-not-a-ca')
    await findsTheAccount(ctx)
    // Chromium logs the CORS refusal of the wrong URL (asked on purpose) as console errors: those are this flow's.
    ctx.consoleErrors = ctx.consoleErrors.filter((e) => !e.includes('/no-directory-here'))
  },
}

const resume: Flow = {
  name: 'an order survives a reload (asked first), is resumed and issued; a new order over it asks first',
  needs: [account.name],
  async run(ctx) {
    const { page, pebble } = ctx
    await openScreen(page, 'order')
    await page.fill('#order-names', 'resume.example.test')
    await page.check('#order-dns')
    await page.click('#order-place')
    await page.locator('#order-tasks-title').waitFor()
    const value = await text(page, '#order-tasks .dns-value')

    // Another order over the open one: the page asks, and "Cancel" keeps the open one.
    const newOrder = await directoryEntry(ctx, 'newOrder')
    const sent: string[] = []
    const listener = (r: { url(): string; method(): string }) => {
      if (r.url() === newOrder && r.method() === 'POST') sent.push(r.url())
    }
    page.on('request', listener)
    await page.fill('#order-names', 'other.example.test')
    await answerDialog(page, '#order-place', false, /resume\.example\.test is still open/)
    page.off('request', listener)
    assert.deepEqual(sent, [], 'no newOrder after Cancel')
    assert.equal(await text(page, '#order-tasks .dns-value'), value)

    // Leaving the page asks first (beforeunload); the order is kept in IndexedDB.
    let asked = ''
    page.once('dialog', (dialog) => {
      asked = dialog.type()
      void dialog.accept()
    })
    await page.reload()
    assert.equal(asked, 'beforeunload')
    await page.locator('#ca-line', { hasText: 'account valid' }).waitFor()
    await openScreen(page, 'order')
    await page.locator('#order-resume').waitFor({ state: 'visible' })
    assert.match(await text(page, '#order-resume-text'), /resume\.example\.test \(dns-01\)/)
    await ctx.screenshot('04b-order-resume-offered')
    await page.click('#order-resume-go')
    await page.locator('#order-tasks-title').waitFor()
    assert.match(await text(page, '#order-status'), /Order resumed/)
    assert.equal(await text(page, '#order-tasks .dns-value'), value, 'the same order, the same challenge')
    await pebble.challtest!.setTxt('_acme-challenge.resume.example.test.', value)
    await page.click('#order-validate')
    await page.locator('#order-issued').waitFor()
    assert.deepEqual(sanNames(parseChain(await page.inputValue('#order-chain-pem'))[0]!), [
      'resume.example.test',
    ])
    // Done: nothing is offered after the next reload, and leaving asks nothing.
    await page.reload()
    await page.locator('#ca-line', { hasText: 'account valid' }).waitFor()
    await openScreen(page, 'account')
    await findsTheAccount(ctx) // the order screen has looked for a kept order by now
    await openScreen(page, 'order')
    assert.ok(await page.locator('#order-resume').isHidden(), 'nothing left to resume')
  },
}

const ownCsr: Flow = {
  name: 'order with my own CSR: names from the CSR, finalized with it, no key in the page',
  needs: [account.name],
  async run(ctx) {
    const { page, work, http01 } = ctx
    // The user's key and CSR, made by openssl: the page never sees the private key.
    const key = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], work)
    await writeFile(join(work, 'own.key'), key)
    const csrPem = await openssl(
      [
        'req',
        '-new',
        '-key',
        'own.key',
        '-subj',
        '/CN=own.example.test',
        '-addext',
        'subjectAltName=DNS:own.example.test,DNS:www.own.example.test',
      ],
      work,
    )
    // From the CSR tool ("Order with this CSR") the CSR lands on the order screen.
    await openScreen(page, 'csr')
    await page.check('#csr-key-new')
    await page.fill('#csr-names', 'tool.example.test')
    await page.click('#csr-create')
    await page.click('#csr-order')
    await page.locator('#order').waitFor({ state: 'visible' })
    assert.match(await page.inputValue('#order-csr'), /BEGIN CERTIFICATE REQUEST/)
    // The user's own CSR instead, pasted.
    await page.fill('#order-csr', csrPem)
    await page.fill('#order-names', 'ignored.example.test')
    await page.check('#order-http')
    await page.click('#order-place')
    await page.locator('#order-tasks-title').waitFor()
    assert.equal(await page.inputValue('#order-names'), 'own.example.test\nwww.own.example.test')
    for (const card of await page.locator('#order-tasks article.task').all()) {
      const url = ((await card.locator('.http-url').textContent()) ?? '').trim()
      http01.set(url.split('/').pop()!, ((await card.locator('.http-content').textContent()) ?? '').trim())
    }
    await page.click('#order-validate')
    await page.locator('#order-issued').waitFor()
    assert.match(
      await text(page, '#order-key-check'),
      /your CSR’s \(not in this page\): matches the certificate/,
    )
    assert.equal(
      await page.locator('#order-issued a[download="privkey.pem"]').count(),
      0,
      'no key to download',
    )
    const chain = await downloaded(page, () => page.click('#order-issued a[download="fullchain.pem"]'))
    const { names } = checkChainAndKey(chain.text, key, await ctx.pebble.roots(0))
    assert.deepEqual(names.sort(), ['own.example.test', 'www.own.example.test'])
    await ctx.screenshot('05b-order-own-csr')
    // Back to a key made in the page: the CSR field emptied and folded away.
    await page.fill('#order-csr', '')
    await page.click('#order-csr-box summary')
    assert.equal(await page.getAttribute('#order-csr-box', 'open'), null)
    await page.check('#order-dns')
  },
}

const deployedHeaders: Flow = {
  name: 'the deployed page (the Workers service’s static assets) carries the security headers',
  async run(ctx) {
    const port = await freePort()
    const service = await startService({
      port,
      persist: join(ctx.work, 'service'),
      directory: ctx.pebble.directoryUrl,
      token: 'playground-headers',
      caFile: ctx.ca.caCertPath,
      vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true' },
    })
    try {
      const served = new Map<string, Headers>()
      for (const path of ['/', '/index.html', '/assets/app.js', '/_headers']) {
        const response = await fetch(`${service.url}${path}`, { redirect: 'manual' })
        await response.arrayBuffer()
        served.set(path, response.headers)
        if (path === '/_headers') assert.notEqual(response.status, 200, 'the rules file is not served')
      }
      const csp = await readFile(join(ctx.work, '..', '..', 'playground/dist/_headers'), 'utf8').catch(
        () => '',
      )
      assert.ok(csp.includes('Content-Security-Policy'), 'the build has _headers')
      for (const path of ['/', '/assets/app.js']) {
        const headers = served.get(path)!
        assert.equal(headers.get('content-security-policy'), PAGE_CSP, `CSP on ${path}`)
        assert.match(headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
        assert.equal(headers.get('x-frame-options'), 'DENY', path)
        assert.equal(headers.get('referrer-policy'), 'no-referrer', path)
        assert.equal(headers.get('x-content-type-options'), 'nosniff', path)
      }
      // And the page works under that policy: it loads in the browser from the service, without a CSP report.
      const { page } = ctx
      const violations: string[] = []
      const listener = (m: { text(): string }) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text())
      }
      page.on('console', listener)
      await page.goto(`${service.url}/`)
      await page.locator('body[data-ready="true"]').waitFor()
      page.off('console', listener)
      assert.deepEqual(violations, [])
    } finally {
      await service.stop()
      await ctx.page.goto(ctx.server.url)
      await ctx.page.locator('body[data-ready="true"]').waitFor()
    }
  },
}

const accessibility: Flow = {
  name: 'every control has a label, and no screen logs a console error',
  async run(ctx) {
    const { page } = ctx
    for (const screen of ['account', 'csr', 'order', 'inspect', 'revoke']) {
      await openScreen(page, screen)
      const unlabelled = await page.evaluate((id) => {
        const section = document.getElementById(id)!
        const controls = section.querySelectorAll<HTMLInputElement>('input, select, textarea')
        const bad = [...controls]
          .filter((c) => c.labels?.length === 0 && !c.getAttribute('aria-label'))
          .map((c) => c.id || c.name)
        const buttons = section.querySelectorAll('button, a')
        bad.push(
          ...[...buttons].filter((b) => !(b.textContent ?? '').trim()).map((b) => b.outerHTML.slice(0, 60)),
        )
        return bad
      }, screen)
      assert.deepEqual(unlabelled, [], `controls without a label on ${screen}`)
    }
    assert.deepEqual(ctx.consoleErrors, [], 'console errors')
  },
}

export const FLOWS: Flow[] = [
  trust,
  account,
  notExtractable,
  contact,
  caSwitch,
  csr,
  dnsOrder,
  resume,
  ownCsr,
  keyboardOrder,
  failedValidation,
  inspector,
  revokeAccount,
  revokeKey,
  problemShown,
  cancel,
  rollover,
  deactivation,
  eabAndImport,
  accessibility,
  // Last: it leaves the page for the service's copy (which starts on Let's Encrypt, unreachable here).
  deployedHeaders,
]
