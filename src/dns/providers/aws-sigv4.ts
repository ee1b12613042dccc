/**
 * AWS Signature Version 4 with WebCrypto HMAC-SHA256: canonical request, string to sign, signing key and the
 * `Authorization` header. Checked against AWS's published SigV4 test suite (see aws-sigv4.test.ts).
 *
 * The canonical URI encodes each path segment once (after decoding what the URL already encoded), as the test
 * suite and S3 expect; Route53's paths (`/2013-04-01/hostedzone/Z.../rrset`) are plain, so the other services'
 * double encoding would give the same result there.
 *
 * @see {@link https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html Create a signed AWS API request}
 */
import { toHex, utf8 } from '../../lib/bytes.ts'
import type { UrlLike } from '../../lib/web-types.ts'

/** AWS credentials (an access key pair, plus the session token of temporary credentials). */
export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** A request to sign. */
export interface SigV4Request {
  method: string
  url: string | UrlLike
  /** Headers to send and sign (`host` and `x-amz-date` are added). */
  headers?: Record<string, string>
  body?: string | Uint8Array
}

/** Who signs, for what, when. */
export interface SigV4Options {
  credentials: AwsCredentials
  region: string
  service: string
  /** Signing time (default now). */
  date?: Date
}

/** The headers to send, and the intermediate values (for tests and debugging). */
export interface SignedRequest {
  /** The request's headers plus `x-amz-date`, `x-amz-security-token` (when a session) and `authorization`. */
  headers: Record<string, string>
  canonicalRequest: string
  stringToSign: string
  signature: string
}

const ALGORITHM = 'AWS4-HMAC-SHA256'

/** Signs `request` with SigV4 (header-based). `host` is signed from the URL but not returned: `fetch` sets it. */
export async function signAwsRequest(request: SigV4Request, options: SigV4Options): Promise<SignedRequest> {
  const url = new URL(request.url)
  const amzDate = (options.date ?? new Date())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
  const day = amzDate.slice(0, 8)
  const scope = `${day}/${options.region}/${options.service}/aws4_request`

  const headers: Record<string, string> = { ...request.headers, 'x-amz-date': amzDate }
  if (options.credentials.sessionToken) headers['x-amz-security-token'] = options.credentials.sessionToken
  const signed = new Map<string, string>([['host', url.host]])
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase()
    // Trim and collapse inner runs of spaces (the suite's get-header-value-trim).
    const clean = value.trim().replace(/\s+/g, ' ')
    signed.set(key, signed.has(key) ? `${signed.get(key)},${clean}` : clean)
  }
  const names = [...signed.keys()].sort()
  const signedHeaders = names.join(';')
  const body =
    request.body === undefined
      ? new Uint8Array()
      : typeof request.body === 'string'
        ? utf8.encode(request.body)
        : request.body
  const payloadHash = signed.get('x-amz-content-sha256') ?? toHex(await sha256(body))

  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(url.pathname),
    canonicalQuery(url.search),
    ...names.map((name) => `${name}:${signed.get(name)}`),
    '',
    signedHeaders,
    payloadHash,
  ].join('\n')
  const stringToSign = [ALGORITHM, amzDate, scope, toHex(await sha256(utf8.encode(canonicalRequest)))].join(
    '\n',
  )

  let key = await hmac(utf8.encode(`AWS4${options.credentials.secretAccessKey}`), day)
  for (const part of [options.region, options.service, 'aws4_request']) key = await hmac(key, part)
  const signature = toHex(await hmac(key, stringToSign))

  return {
    headers: {
      ...headers,
      authorization: `${ALGORITHM} Credential=${options.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    canonicalRequest,
    stringToSign,
    signature,
  }
}

/** RFC 3986 unreserved characters stay; everything else is %XX with upper-case hex, as SigV4 requires. */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function canonicalUri(pathname: string): string {
  return pathname === ''
    ? '/'
    : pathname
        .split('/')
        .map((segment) => encode(decode(segment)))
        .join('/')
}

/** Pairs sorted by encoded name, then encoded value; `+` is a literal plus, not a space. */
function canonicalQuery(search: string): string {
  if (search.length <= 1) return ''
  const pairs = search
    .slice(1)
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=')
      const name = eq === -1 ? part : part.slice(0, eq)
      const value = eq === -1 ? '' : part.slice(eq + 1)
      return [encode(decode(name)), encode(decode(value))] as const
    })
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
  return pairs.map(([name, value]) => `${name}=${value}`).join('&')
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource))
}

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey(
    'raw',
    key as BufferSource,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, utf8.encode(data) as BufferSource))
}
