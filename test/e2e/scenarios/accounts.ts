/** Accounts end to end (RFC 8555 §7.3): find, update, EAB, key rollover, deactivation. */
import { AcmeClient, generateKeyPair } from '../../../src/index.ts'
import { assert, equal, rejectsWith } from '../assert.ts'
import type { Scenario } from '../context.ts'
import { issue } from '../flow.ts'
import { newAccount } from './issuance.ts'

export const accountScenarios: Scenario[] = [
  {
    name: 'find by key (onlyReturnExisting), fetch, update contact; unknown key is a typed error',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const again = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: client.accountKey,
        fetch: ctx.fetch,
      })
      const found = await again.findAccount()
      equal(found.url, client.accountUrl, 'found the same account')
      const updated = await again.updateAccount({ contact: [`mailto:new@${ctx.domain}`] })
      equal(updated.contact, [`mailto:new@${ctx.domain}`], 'contact updated')
      equal(
        (await client.getAccount()).contact,
        [`mailto:new@${ctx.domain}`],
        'update visible to the first client',
      )
      const stranger = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: await generateKeyPair(),
        fetch: ctx.fetch,
      })
      await rejectsWith(stranger.findAccount(), 'ERR_ACME_ACCOUNT_DOES_NOT_EXIST', 'unknown key')
      // Creating twice with the same key returns the existing account.
      equal(
        (await again.createAccount({ termsOfServiceAgreed: true })).url,
        client.accountUrl,
        'createAccount is idempotent',
      )
    },
  },
  {
    name: 'external account binding: required, wrong MAC refused, HS256 accepted',
    server: 'eab',
    async run(ctx) {
      const eab = ctx.eab!
      const make = async () =>
        new AcmeClient({
          directoryUrl: ctx.directoryUrl,
          accountKey: await generateKeyPair(),
          fetch: ctx.fetch,
        })
      const directory = await (await make()).directory()
      equal(directory.meta?.externalAccountRequired, true, 'directory says EAB is required')
      await rejectsWith(
        (await make()).createAccount({ termsOfServiceAgreed: true }),
        'ERR_ACME_EXTERNAL_ACCOUNT_REQUIRED',
        'no EAB',
      )
      const wrong = await make()
      const bad = await wrong
        .createAccount({
          termsOfServiceAgreed: true,
          externalAccountBinding: { kid: eab.kid, hmacKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
        })
        .then(
          () => 'accepted',
          (err) => (err as { code: string }).code,
        )
      assert(bad !== 'accepted' && bad.startsWith('ERR_ACME_'), `wrong MAC refused with a problem (${bad})`)
      const client = await make()
      const account = await client.createAccount({ termsOfServiceAgreed: true, externalAccountBinding: eab })
      equal(account.status, 'valid', 'EAB account created')
      const { chain } = await issue(ctx, client, [`eab.${ctx.domain}`])
      assert(chain.pem.includes('BEGIN CERTIFICATE'), 'EAB account issues')
    },
  },
  {
    name: 'key rollover (§7.3.5): new key works, old key does not, a key in use is a 409',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx, 'ES256')
      const url = client.accountUrl
      const oldKey = client.accountKey
      // An issuance before the rollover: the key authorizations after it must use the new key's thumbprint, not
      // one the client computed for the old key.
      await issue(ctx, client, [`unrolled.${ctx.domain}`])
      const newKey = await generateKeyPair('RS256')
      const account = await client.changeAccountKey(newKey)
      equal(account.url, url, 'same account after rollover')
      assert(client.accountKey === newKey, 'client now signs with the new key')
      const { chain } = await issue(ctx, client, [`rolled.${ctx.domain}`])
      assert(chain.pem.includes('BEGIN CERTIFICATE'), 'issues with the new key')
      const byNew = new AcmeClient({ directoryUrl: ctx.directoryUrl, accountKey: newKey, fetch: ctx.fetch })
      equal((await byNew.findAccount()).url, url, 'new key finds the account')
      const byOld = new AcmeClient({ directoryUrl: ctx.directoryUrl, accountKey: oldKey, fetch: ctx.fetch })
      await rejectsWith(byOld.findAccount(), 'ERR_ACME_ACCOUNT_DOES_NOT_EXIST', 'old key no longer bound')
      const other = await newAccount(ctx)
      const err = await rejectsWith<{ url: string }>(
        client.changeAccountKey(other.accountKey),
        'ERR_KEY_IN_USE',
        'rolling to a key that has its own account',
      )
      equal(err.url, other.accountUrl, 'the error names the account holding the key')
      assert(client.accountKey === newKey, 'failed rollover keeps the current key')
    },
  },
  {
    name: 'deactivation (§7.3.6): then every request is a typed unauthorized error',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const account = await client.deactivateAccount()
      equal(account.status, 'deactivated', 'account deactivated')
      await rejectsWith(
        client.createOrder({ identifiers: [`gone.${ctx.domain}`] }),
        'ERR_ACME_UNAUTHORIZED',
        'order after deactivation',
      )
    },
  },
]
