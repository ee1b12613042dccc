/**
 * dns-01 adapter for acme-dns (https://github.com/joohoi/acme-dns): a tiny DNS server whose only API is
 * `POST /update` with the credentials of one registered subdomain. `_acme-challenge.<domain>` is a CNAME to
 * that subdomain's `fulldomain`, so the dns-01 solver (with a resolver) writes at the `fulldomain`.
 *
 * acme-dns keeps only the TWO latest TXT values per subdomain and has no delete: `removeTxt` only forgets the
 * value (it ages out when the next one is written). Two values at once cover an apex and its wildcard; a
 * third concurrent value for one subdomain would silently evict the first, so the adapter refuses it with
 * `ERR_DNS_CONFLICT`.
 *
 * Tested against a fixture that follows acme-dns's README and handlers (test/fixtures/dns/acme-dns.ts), not
 * against a running acme-dns.
 *
 * @module webacme/dns/acme-dns
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { canonicalName } from '../zone.ts'
import { codeForStatus, jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

/** The credentials `POST /register` returns. */
export interface AcmeDnsAccount {
  username: string
  password: string
  /** The UUID label, sent with every update. */
  subdomain: string
  /** `<subdomain>.<acme-dns domain>`: where `_acme-challenge.<your domain>` must be a CNAME to. */
  fulldomain: string
  allowfrom?: string[] | undefined
}

/** Options of {@link acmeDnsAdapter}. */
export interface AcmeDnsAdapterOptions extends ProviderHttpOptions {
  /** The acme-dns API, e.g. `https://auth.acme-dns.io`. */
  url: string
  /**
   * The account to use, or accounts keyed by the domain they validate (`example.com`, or `*.example.com`'s
   * base `example.com`). An account is also found by its `fulldomain` (the CNAME target the solver writes at).
   */
  account?: AcmeDnsAccount
  accounts?: Record<string, AcmeDnsAccount>
}

const PROVIDER = 'acme-dns'
/** acme-dns serves the two most recent values of a subdomain. */
const KEPT_VALUES = 2

const accountSchema = v.looseObject({
  username: v.string(),
  password: v.string(),
  subdomain: v.string(),
  fulldomain: v.string(),
  allowfrom: v.optional(v.array(v.string())),
})

/**
 * Creates an acme-dns adapter.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { type AcmeDnsAccount, acmeDnsAdapter } from 'webacme/dns/acme-dns'
 *
 * declare const account: AcmeDnsAccount // saved from registerAcmeDns() when the CNAME was set up
 * const solver = dns01Solver({
 *   adapter: acmeDnsAdapter({ url: 'https://auth.acme-dns.io', accounts: { 'example.com': account } }),
 *   resolver: dohResolver(), // follows _acme-challenge.example.com CNAME -> account.fulldomain
 * })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function acmeDnsAdapter(options: AcmeDnsAdapterOptions): DnsAdapter {
  if (!options?.url || (!options.account && !options.accounts)) {
    throw new InvalidArgumentError('acmeDnsAdapter needs url and account (or accounts)')
  }
  const base = options.url.replace(/\/+$/, '')
  const http = providerClient({ provider: PROVIDER, options, toError })
  const queue = keyedQueue()
  const live = new Map<string, string[]>() // subdomain -> values still needed, oldest first
  const accounts = Object.entries(options.accounts ?? {}).map(([domain, account]) => ({
    domain: canonicalName(domain.replace(/^\*\./, '')),
    account,
  }))

  const accountFor = (name: string): AcmeDnsAccount => {
    const bare = canonicalName(name)
    const domain = bare.replace(/^_acme-challenge\./, '')
    const found =
      accounts.find((a) => a.domain === domain || a.domain === bare)?.account ??
      [...accounts.map((a) => a.account), ...(options.account ? [options.account] : [])].find(
        (a) => canonicalName(a.fulldomain) === bare,
      ) ??
      options.account
    if (!found) {
      throw new DnsProviderError('ERR_DNS_NOT_FOUND', `acme-dns: no account for ${bare}`, {
        provider: PROVIDER,
      })
    }
    return found
  }

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const account = accountFor(name)
      await queue(
        account.subdomain,
        async () => {
          const values = live.get(account.subdomain) ?? []
          if (values.includes(value)) return
          if (values.length >= KEPT_VALUES) {
            throw new DnsProviderError(
              'ERR_DNS_CONFLICT',
              `acme-dns keeps only ${KEPT_VALUES} TXT values per subdomain; ${account.fulldomain} already serves ${values.length} that are still needed`,
              { provider: PROVIDER },
            )
          }
          await http.json(
            {
              method: 'POST',
              url: `${base}/update`,
              headers: { 'x-api-user': account.username, 'x-api-key': account.password },
              json: { subdomain: account.subdomain, txt: value },
            },
            v.looseObject({ txt: v.literal(value) }),
          )
          live.set(account.subdomain, [...values, value])
        },
        call.signal,
      )
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const account = accountFor(name)
      // acme-dns has no delete: the value stays served until two newer ones replace it.
      await queue(
        account.subdomain,
        async () => {
          live.set(
            account.subdomain,
            (live.get(account.subdomain) ?? []).filter((v) => v !== value),
          )
        },
        call.signal,
      )
    },
  }
}

/**
 * Registers a new acme-dns account (`POST /register`). Store the result: its `fulldomain` is the CNAME target
 * for `_acme-challenge.<your domain>`, and its credentials are needed for every update.
 */
export async function registerAcmeDns(
  url: string,
  options: ProviderHttpOptions & { allowFrom?: string[]; signal?: AbortSignalLike } = {},
): Promise<AcmeDnsAccount> {
  const http = providerClient({ provider: PROVIDER, options, toError })
  return http.json(
    {
      method: 'POST',
      url: `${url.replace(/\/+$/, '')}/register`,
      signal: options.signal,
      ...(options.allowFrom && { json: { allowfrom: options.allowFrom } }),
    },
    accountSchema,
  )
}

/** acme-dns answers `{"error": "forbidden"}` (401), `bad_txt`, `bad_subdomain`, `malformed_json_payload` (400). */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { error?: unknown } | undefined
  const error = typeof body?.error === 'string' ? body.error : undefined
  return responseError(PROVIDER, res, {
    code: res.status === 401 || error === 'forbidden' ? 'ERR_DNS_AUTH' : codeForStatus(res.status),
    ...(error !== undefined && { message: error }),
    providerCode: error,
  })
}
