/**
 * Google service-account authorization with WebCrypto: a JWT signed RS256 with the account's PKCS#8
 * `private_key`, exchanged at its `token_uri` for an OAuth 2.0 access token (RFC 7523 JWT bearer grant). The
 * token is cached until a minute before it expires.
 *
 * @see {@link https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests Google: using OAuth 2.0 for server to server applications}
 * @see {@link https://www.rfc-editor.org/rfc/rfc7523 RFC 7523}
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import { encodeBase64Url } from '../../lib/base64url.ts'
import { utf8 } from '../../lib/bytes.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import { decodePem } from '../../pkix/pem.ts'
import type { DnsProviderError } from '../errors.ts'
import { jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

/** The fields of a service-account key file (the JSON downloaded from the console) that are used. */
export interface GoogleServiceAccount {
  client_email: string
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  private_key: string
  private_key_id?: string
  /** Default `https://oauth2.googleapis.com/token`. */
  token_uri?: string
  project_id?: string
}

/** Gets an access token; `getToken` reuses it until shortly before it expires. */
export interface GoogleTokenSource {
  getToken(signal?: AbortSignalLike): Promise<string>
}

const PROVIDER = 'google'
const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token'
const LIFETIME = 3600
const tokenSchema = v.looseObject({ access_token: v.string(), expires_in: v.optional(v.number()) })

/** Parses a key file (JSON text or object) and checks the fields that are needed. */
export function parseServiceAccount(input: GoogleServiceAccount | string): GoogleServiceAccount {
  let account: unknown = input
  if (typeof input === 'string') {
    try {
      account = JSON.parse(input)
    } catch (cause) {
      throw new InvalidArgumentError('the Google service account key is not JSON', { cause })
    }
  }
  const result = v.safeParse(
    v.looseObject({
      client_email: v.string(),
      private_key: v.string(),
      private_key_id: v.optional(v.string()),
      token_uri: v.optional(v.string()),
      project_id: v.optional(v.string()),
    }),
    account,
  )
  if (!result.success) {
    const field = v.getDotPath(result.issues[0])
    throw new InvalidArgumentError(`the Google service account key lacks a valid ${field ?? 'field'}`)
  }
  return result.output as GoogleServiceAccount
}

/** A signed RS256 JWT asserting the account for `scope`, audience the token endpoint (valid one hour). */
export async function signServiceAccountJwt(
  account: GoogleServiceAccount,
  options: { scope: string; now?: Date },
): Promise<string> {
  const key = await crypto.subtle.importKey(
    'pkcs8',
    decodePem(account.private_key, 'PRIVATE KEY').der as BufferSource,
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000)
  const header = { alg: 'RS256', typ: 'JWT', ...(account.private_key_id && { kid: account.private_key_id }) }
  const claims = {
    iss: account.client_email,
    scope: options.scope,
    aud: account.token_uri ?? DEFAULT_TOKEN_URI,
    iat,
    exp: iat + LIFETIME,
  }
  const input = `${encodeBase64Url(JSON.stringify(header))}.${encodeBase64Url(JSON.stringify(claims))}`
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, utf8.encode(input) as BufferSource)
  return `${input}.${encodeBase64Url(new Uint8Array(signature))}`
}

/**
 * A token source for a service account: signs a JWT and posts it to `token_uri`
 * (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`). Concurrent callers share one exchange.
 */
/* @__NO_SIDE_EFFECTS__ */
export function serviceAccountTokenSource(
  input: GoogleServiceAccount | string,
  options: ProviderHttpOptions & { scope: string },
): GoogleTokenSource {
  const account = parseServiceAccount(input)
  const http = providerClient({ provider: PROVIDER, options, toError: tokenError })
  let cached: { token: string; expires: number } | undefined
  let pending: Promise<string> | undefined

  const exchange = async (signal: AbortSignalLike | undefined): Promise<string> => {
    const assertion = await signServiceAccountJwt(account, { scope: options.scope })
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion })
    const started = Date.now()
    const token = await http.json(
      {
        method: 'POST',
        url: account.token_uri ?? DEFAULT_TOKEN_URI,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        signal,
      },
      tokenSchema,
    )
    cached = { token: token.access_token, expires: started + (token.expires_in ?? LIFETIME) * 1000 - 60_000 }
    return token.access_token
  }

  return {
    async getToken(signal) {
      if (cached && Date.now() < cached.expires) return cached.token
      pending ??= exchange(signal).finally(() => {
        pending = undefined
      })
      return pending
    },
  }
}

/** The token endpoint answers `{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}`. */
function tokenError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { error?: unknown; error_description?: unknown } | undefined
  const error = typeof body?.error === 'string' ? body.error : undefined
  const description = typeof body?.error_description === 'string' ? body.error_description : undefined
  const auth = error === 'invalid_grant' || error === 'invalid_client' || error === 'unauthorized_client'
  return responseError(PROVIDER, res, {
    ...(auth && { code: 'ERR_DNS_AUTH' as const }),
    ...(error !== undefined && { message: `${error}${description ? `: ${description}` : ''}` }),
    providerCode: error,
  })
}
