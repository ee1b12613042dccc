/**
 * TSIG (RFC 8945): signs a DNS request with a shared secret (HMAC via `crypto.subtle`) and checks the server's signed
 * answer: the MAC over the request MAC, the response and the TSIG variables (§4.3), the key and algorithm, and the
 * time signed against the fudge (§5.4). The algorithms are the SHA-2 ones of RFC 8945 §6 (hmac-sha256 is the one
 * to use) and hmac-sha1 (NOT RECOMMENDED there, but many servers still hold such keys); hmac-md5 is not offered
 * (Web Crypto has no MD5, and §6 says it MUST NOT be used).
 */
import { InvalidArgumentError } from '../../errors.ts'
import { decodeBase64 } from '../../lib/base64url.ts'
import type { CryptoKey } from '../../lib/web-types.ts'
import { DnsMessageError, readName } from '../message.ts'
import { canonicalName } from '../zone.ts'
import { DNS_CLASS, type ResponseLayout, WireWriter } from './wire.ts'

/** TSIG algorithm names (RFC 8945 §6), written without the trailing dot (`hmac-sha256.` is accepted too). */
export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512' | 'hmac-sha1'

/** A TSIG key as servers configure it (BIND `key "name" { algorithm ...; secret "..."; }`, Knot `key:`). */
export interface TsigKey {
  /** The key's name, a domain name (`acme-update`, `update.example.com.`). */
  name: string
  /** The shared secret: base64 text as in the server's configuration, or the raw bytes. */
  secret: string | Uint8Array
  /** Default `hmac-sha256`. Case and a trailing dot are ignored (`HMAC-SHA512.` works). */
  algorithm?: TsigAlgorithm | `${TsigAlgorithm}.` | (string & {})
}

/** The RR type of TSIG (RFC 8945 §4.1). */
export const TSIG_TYPE = 250

const HASHES: Record<TsigAlgorithm, { hash: string; bytes: number }> = {
  'hmac-sha256': { hash: 'SHA-256', bytes: 32 },
  'hmac-sha384': { hash: 'SHA-384', bytes: 48 },
  'hmac-sha512': { hash: 'SHA-512', bytes: 64 },
  'hmac-sha1': { hash: 'SHA-1', bytes: 20 },
}

/** TSIG error names (RFC 8945 and the IANA "DNS RCODEs" registry; BADCOOKIE is RFC 7873's). */
const TSIG_ERRORS: Record<number, string> = {
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  19: 'BADMODE',
  20: 'BADNAME',
  21: 'BADALG',
  22: 'BADTRUNC',
  23: 'BADCOOKIE',
}

/** The name of a TSIG error code (`BADSIG`), `TSIG<n>` for unknown ones. */
export function tsigErrorName(code: number): string {
  return TSIG_ERRORS[code] ?? `TSIG${code}`
}

/** A key ready to sign: the HMAC key imported once. */
export interface PreparedTsigKey {
  /** Canonical key name, no trailing dot. */
  name: string
  algorithm: TsigAlgorithm
  macLength: number
  key: CryptoKey
}

/** A {@link TsigKey} checked: canonical name, known algorithm, decoded secret. */
export interface ParsedTsigKey {
  name: string
  algorithm: TsigAlgorithm
  secret: Uint8Array
}

/** Checks a {@link TsigKey}; an unknown algorithm, a bad name or an empty secret is an `InvalidArgumentError`. */
export function parseTsigKey(tsig: TsigKey): ParsedTsigKey {
  if (!tsig || typeof tsig !== 'object')
    throw new InvalidArgumentError('tsig must be { name, secret, algorithm? }')
  const name = canonicalName(tsig.name)
  const algorithm = String(tsig.algorithm ?? 'hmac-sha256')
    .toLowerCase()
    .replace(/\.$/, '') as TsigAlgorithm
  if (!Object.hasOwn(HASHES, algorithm)) {
    throw new InvalidArgumentError(
      `unsupported TSIG algorithm "${tsig.algorithm}" (supported: ${Object.keys(HASHES).join(', ')})`,
    )
  }
  let secret: Uint8Array
  try {
    secret = typeof tsig.secret === 'string' ? decodeBase64(tsig.secret.replace(/\s+/g, '')) : tsig.secret
  } catch (cause) {
    throw new InvalidArgumentError(`the TSIG secret of key ${name} is not base64`, { cause })
  }
  if (!(secret instanceof Uint8Array) || secret.length === 0) {
    throw new InvalidArgumentError(`the TSIG secret of key ${name} is empty`)
  }
  return { name, algorithm, secret: new Uint8Array(secret) }
}

/** Imports the HMAC key of a checked key (RFC 8945 §6: HMAC with the algorithm's hash, the whole MAC). */
export async function importTsigKey(parsed: ParsedTsigKey): Promise<PreparedTsigKey> {
  const { hash, bytes } = HASHES[parsed.algorithm]
  const key = await crypto.subtle.importKey(
    'raw',
    parsed.secret as BufferSource,
    { name: 'HMAC', hash },
    false,
    ['sign', 'verify'],
  )
  return { name: parsed.name, algorithm: parsed.algorithm, macLength: bytes, key }
}

/** The fields of a TSIG record that enter the MAC besides the message (RFC 8945 §4.3.3). */
interface TsigVariables {
  keyName: string
  algorithm: string
  timeSigned: number
  fudge: number
  error: number
  otherData: Uint8Array
}

/** The TSIG variables, in the canonical form the MAC covers (RFC 8945 §4.3.3: names lower case, uncompressed). */
function variables(v: TsigVariables): Uint8Array {
  return new WireWriter()
    .name(v.keyName)
    .u16(DNS_CLASS.ANY)
    .u32(0) // TTL
    .name(v.algorithm)
    .u48(v.timeSigned)
    .u16(v.fudge)
    .u16(v.error)
    .u16(v.otherData.length)
    .bytes(v.otherData)
    .finish()
}

/** The bytes a MAC covers: the request MAC with its length when signing an answer (§4.3.1), message, variables. */
function macInput(requestMac: Uint8Array | undefined, message: Uint8Array, vars: Uint8Array): Uint8Array {
  const w = new WireWriter()
  if (requestMac) w.u16(requestMac.length).bytes(requestMac)
  return w.bytes(message).bytes(vars).finish()
}

/** A signed request and its MAC (needed to check the answer, RFC 8945 §4.3.1). */
export interface SignedMessage {
  message: Uint8Array
  mac: Uint8Array
}

/**
 * Appends a TSIG record to `message` (which must have no TSIG yet) and counts it in ARCOUNT (RFC 8945 §5.1).
 * `timeSigned` is in seconds since the epoch; `fudge` the seconds of clock difference the server may allow.
 */
export async function signMessage(
  message: Uint8Array,
  key: PreparedTsigKey,
  timeSigned: number,
  fudge: number,
): Promise<SignedMessage> {
  const vars: TsigVariables = {
    keyName: key.name,
    algorithm: key.algorithm,
    timeSigned,
    fudge,
    error: 0,
    otherData: new Uint8Array(0),
  }
  const mac = new Uint8Array(
    await crypto.subtle.sign('HMAC', key.key, macInput(undefined, message, variables(vars)) as BufferSource),
  )
  const rdata = new WireWriter()
    .name(key.algorithm)
    .u48(timeSigned)
    .u16(fudge)
    .u16(mac.length)
    .bytes(mac)
    .u16((message[0]! << 8) | message[1]!) // Original ID
    .u16(0) // Error
    .u16(0) // Other Len
    .finish()
  const out = new WireWriter()
    .bytes(message)
    .name(key.name)
    .u16(TSIG_TYPE)
    .u16(DNS_CLASS.ANY)
    .u32(0)
    .u16(rdata.length)
    .bytes(rdata)
  const arcount = ((message[10]! << 8) | message[11]!) + 1
  out.patch16(10, arcount)
  return { message: out.finish(), mac }
}

/** What the TSIG record of an answer says, once checked. */
export type TsigCheck =
  /** Signed with our key, MAC and time good. */
  | { ok: true }
  /** No TSIG record at all (§5.4: a signed request's answer must be signed). */
  | { ok: false; reason: 'unsigned' }
  /**
   * The server reported a TSIG error (BADSIG, BADKEY, BADTIME, ...). `serverTime` is the server's clock from
   * Other Data of a BADTIME answer (§5.2.3), in seconds; `verified` says whether that answer's MAC checked out.
   */
  | { ok: false; reason: 'server-error'; error: number; serverTime: number | undefined; verified: boolean }
  /** The answer's TSIG does not check out on our side: `error` is the TSIG error it amounts to. */
  | { ok: false; reason: 'client-error'; error: number; detail: string }

/**
 * Checks the TSIG of an answer to a request signed with `key` whose MAC was `requestMac` (RFC 8945 §5.3, §5.4).
 * `now` is the local clock in seconds. Throws {@link DnsMessageError} when the TSIG record is malformed.
 */
export async function checkAnswer(
  response: Uint8Array,
  layout: ResponseLayout,
  key: PreparedTsigKey,
  requestMac: Uint8Array,
  now: number,
): Promise<TsigCheck> {
  const last = layout.lastAdditional
  if (!last || last.type !== TSIG_TYPE) return { ok: false, reason: 'unsigned' }
  const owner = readName(response, last.offset)
  const view = new DataView(response.buffer, response.byteOffset, response.byteLength)
  let at = last.rdataOffset
  const algorithm = readName(response, at)
  at = algorithm.end
  const need = (n: number) => {
    if (at + n > last.rdataEnd) throw new DnsMessageError('TSIG record data is too short')
  }
  need(10)
  const timeSigned = view.getUint16(at) * 0x100000000 + view.getUint32(at + 2)
  const fudge = view.getUint16(at + 6)
  const macSize = view.getUint16(at + 8)
  at += 10
  need(macSize + 6)
  const mac = response.subarray(at, at + macSize)
  at += macSize
  const originalId = view.getUint16(at)
  const error = view.getUint16(at + 2)
  const otherLength = view.getUint16(at + 4)
  at += 6
  need(otherLength)
  const otherData = response.subarray(at, at + otherLength)
  if (at + otherLength !== last.rdataEnd) throw new DnsMessageError('bytes left after the TSIG record data')

  if (owner.name !== key.name || algorithm.name !== key.algorithm) {
    // §5.4.1: an answer signed with another key (or algorithm) than the request's is not ours to trust.
    return {
      ok: false,
      reason: 'client-error',
      error: 17,
      detail: `the answer is signed with key ${owner.name} (${algorithm.name}), not ${key.name} (${key.algorithm})`,
    }
  }

  let verified = false
  if (macSize > 0) {
    // §4.3.2: the MAC covers the message as it was before the TSIG was added: ARCOUNT one less, the original ID.
    const unsigned = response.slice(0, last.offset)
    unsigned[0] = originalId >>> 8
    unsigned[1] = originalId & 0xff
    const arcount = layout.arcount - 1
    unsigned[10] = arcount >>> 8
    unsigned[11] = arcount & 0xff
    const vars = variables({
      keyName: owner.name,
      algorithm: algorithm.name,
      timeSigned,
      fudge,
      error,
      otherData,
    })
    // A MAC shorter than the full hash is a truncated one (§5.2.2.1); we never ask for that, so we never accept it.
    verified =
      macSize === key.macLength &&
      (await crypto.subtle.verify(
        'HMAC',
        key.key,
        mac as BufferSource,
        macInput(requestMac, unsigned, vars) as BufferSource,
      ))
  }

  if (error !== 0) {
    const serverTime =
      error === 18 && otherLength === 6
        ? view.getUint16(at) * 0x100000000 + view.getUint32(at + 2)
        : undefined
    return { ok: false, reason: 'server-error', error, serverTime, verified }
  }
  if (!verified) {
    return {
      ok: false,
      reason: 'client-error',
      error: 16,
      detail:
        macSize === key.macLength
          ? "the answer's MAC does not verify with the key"
          : `the answer's MAC is ${macSize} bytes, expected ${key.macLength}`,
    }
  }
  // §5.4.3: the answer's time must be within its fudge of our clock, else it may be a replay.
  if (Math.abs(now - timeSigned) > fudge) {
    return {
      ok: false,
      reason: 'client-error',
      error: 18,
      detail: `the answer was signed at ${timeSigned}, ${now - timeSigned} s from our clock (fudge ${fudge} s)`,
    }
  }
  return { ok: true }
}
