/**
 * The Web platform types that appear in webacme's public declarations, resolved for the program that uses
 * them: the real global type when that program has it (the DOM lib, `@types/node`, Deno, workers-types), else
 * a minimal structural stand-in. So the published `.d.ts` files compile with `"lib": ["ES2022"]` and
 * `"types": []`, and a DOM or Node program still sees exactly its own `CryptoKey`, `Response`, ...
 *
 * Inside this package (DOM lib) every alias below is the global type itself. Names that src/ also uses as
 * values (`new URL()`, `new Response()`, `AbortSignal.timeout()`) get a `Like` suffix, so importing the type
 * never shadows the value.
 */

/** The instance type of global class `Name` when the program declares one, else `Fallback`. */
type GlobalInstance<Name extends string, Fallback> = typeof globalThis extends {
  [K in Name]: { prototype: infer T }
}
  ? T
  : Fallback

/** Structural stand-in for `CryptoKey` (WebCrypto). */
export interface CryptoKeyFallback {
  readonly algorithm: { readonly name: string }
  readonly extractable: boolean
  readonly type: string
  readonly usages: readonly string[]
}

/** WebCrypto `CryptoKey`. */
export type CryptoKey = GlobalInstance<'CryptoKey', CryptoKeyFallback>

/** WebCrypto `CryptoKeyPair` (an interface without a global value, so declared here; identical to the DOM's). */
export interface CryptoKeyPair {
  privateKey: CryptoKey
  publicKey: CryptoKey
}

/** A JSON Web Key (RFC 7517) as WebCrypto imports and exports it; the same members as the DOM's `JsonWebKey`. */
export interface JsonWebKey {
  alg?: string
  crv?: string
  d?: string
  dp?: string
  dq?: string
  e?: string
  ext?: boolean
  k?: string
  key_ops?: string[]
  kty?: string
  n?: string
  oth?: Array<{ d?: string; r?: string; t?: string }>
  p?: string
  q?: string
  qi?: string
  use?: string
  x?: string
  y?: string
}

/** Structural stand-in for `AbortSignal`. */
export interface AbortSignalFallback {
  readonly aborted: boolean
  readonly reason: unknown
}

/** `AbortSignal`. */
export type AbortSignalLike = GlobalInstance<'AbortSignal', AbortSignalFallback>

/** Structural stand-in for `Headers`. */
export interface HeadersFallback {
  get(name: string): string | null
  has(name: string): boolean
}

/** Fetch `Headers`. */
export type HeadersLike = GlobalInstance<'Headers', HeadersFallback>

/** Structural stand-in for `Response`. */
export interface ResponseFallback {
  readonly status: number
  readonly ok: boolean
  readonly url: string
  readonly headers: HeadersLike
  arrayBuffer(): Promise<ArrayBuffer>
  text(): Promise<string>
  json(): Promise<unknown>
}

/** Fetch `Response`. */
export type ResponseLike = GlobalInstance<'Response', ResponseFallback>

/** Structural stand-in for `Request`. */
export interface RequestFallback {
  readonly url: string
  readonly method: string
  readonly headers: HeadersLike
}

/** Fetch `Request`. */
export type RequestLike = GlobalInstance<'Request', RequestFallback>

/** Structural stand-in for `URL`. */
export interface UrlFallback {
  readonly href: string
  toString(): string
}

/** WHATWG `URL`. */
export type UrlLike = GlobalInstance<'URL', UrlFallback>

/** The request options webacme passes to `fetch`. */
export interface FetchInitFallback {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array | null
  redirect?: 'follow' | 'error' | 'manual'
  signal?: AbortSignalLike | null
}

/** Structural stand-in for the `fetch` function. */
export type FetchFallback = (input: string, init?: FetchInitFallback) => Promise<ResponseLike>

/** The type of the global `fetch` function. */
export type FetchLike = typeof globalThis extends { fetch: infer F } ? F : FetchFallback

/** Parameters of `crypto.subtle.sign`/`verify`/`generateKey` (`AlgorithmIdentifier`, `EcdsaParams`, ...). */
export interface AlgorithmLike {
  name: string
  hash?: string | { name: string }
  namedCurve?: string
  modulusLength?: number
  publicExponent?: Uint8Array
  length?: number
}
