/**
 * PEM text encoding of DER structures (RFC 7468).
 *
 * Encoding follows the strict grammar (RFC 7468 §3: 64-character lines, padding, LF line ends); decoding is
 * the lax one (RFC 7468 §3 "laxtextualmsg"): CRLF or LF, whitespace inside the base64 body, and explanatory
 * text around the blocks, which is how keys and chains arrive from files, CAs and copy-paste.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7468
 */

import { InvalidArgumentError } from '../errors.ts'
import { decodeBase64, encodeBase64 } from '../lib/base64url.ts'

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, ...) and the DER bytes it carries. */
export interface PemBlock {
  label: string
  der: Uint8Array
}

const BEGIN = '-----BEGIN '
const END = '-----END '
const DASHES = '-----'
const LINE_LENGTH = 64

// RFC 7468 §3: label = [ labelchar *( ["-" / SP] labelchar ) ], labelchar = %x21-2C / %x2E-7E.
const LABEL = /^(?:[\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*)?$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Encodes DER bytes as a PEM block with 64-character lines and a trailing newline.
 *
 * @param label The type label, e.g. `CERTIFICATE` or `PRIVATE KEY` (RFC 7468 §4 onwards).
 * @param der The DER encoding to wrap.
 * @throws {InvalidArgumentError} When the label is not valid RFC 7468 label text.
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-2
 */
export function encodePem(label: string, der: Uint8Array): string {
  if (!LABEL.test(label)) throw new InvalidArgumentError(`invalid PEM label ${JSON.stringify(label)}`)
  const body = encodeBase64(der)
  const lines: string[] = []
  for (let i = 0; i < body.length; i += LINE_LENGTH) lines.push(body.slice(i, i + LINE_LENGTH))
  return `${BEGIN}${label}${DASHES}\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}${END}${label}${DASHES}\n`
}

/**
 * Decodes every PEM block in `text`, in order. Text outside the blocks is ignored.
 *
 * @throws {InvalidArgumentError} When there is no block, a block is unterminated, its end label differs from
 *   its begin label, it carries RFC 1421 headers (legacy encrypted PEM), or its body is not base64.
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-3
 */
export function decodePemAll(text: string): PemBlock[] {
  if (typeof text !== 'string') throw new InvalidArgumentError('PEM input must be a string')
  const blocks: PemBlock[] = []
  let position = 0
  for (;;) {
    const begin = text.indexOf(BEGIN, position)
    if (begin === -1) break
    const labelStart = begin + BEGIN.length
    const labelEnd = text.indexOf(DASHES, labelStart)
    const newline = text.indexOf('\n', labelStart)
    if (labelEnd === -1 || (newline !== -1 && newline < labelEnd)) {
      throw new InvalidArgumentError('malformed PEM: "-----BEGIN" line does not end with "-----"')
    }
    const label = text.slice(labelStart, labelEnd)
    if (!LABEL.test(label)) {
      throw new InvalidArgumentError(`malformed PEM: invalid label ${JSON.stringify(label)}`)
    }
    const bodyStart = labelEnd + DASHES.length
    const end = text.indexOf(END, bodyStart)
    const nextBegin = text.indexOf(BEGIN, bodyStart)
    if (end === -1 || (nextBegin !== -1 && nextBegin < end)) {
      throw new InvalidArgumentError(`malformed PEM: "${label}" block has no "-----END ${label}-----" line`)
    }
    const endLabelStart = end + END.length
    const endLabelEnd = text.indexOf(DASHES, endLabelStart)
    const endLabel = endLabelEnd === -1 ? '' : text.slice(endLabelStart, endLabelEnd)
    // RFC 7468 §2: the label of the post-encapsulation boundary MUST match the pre-encapsulation one.
    if (endLabelEnd === -1 || endLabel !== label) {
      throw new InvalidArgumentError(`malformed PEM: "BEGIN ${label}" is closed by "END ${endLabel}"`)
    }
    blocks.push({ label, der: decodeBody(label, text.slice(bodyStart, end)) })
    position = endLabelEnd + DASHES.length
  }
  if (blocks.length === 0) {
    throw new InvalidArgumentError('no PEM block found (expected "-----BEGIN ...-----")')
  }
  return blocks
}

/**
 * Decodes one PEM block: the first block labelled `expectedLabel`, or the first block of all when no label
 * is given. Other blocks (such as the `EC PARAMETERS` that `openssl ecparam -genkey` prepends) are skipped.
 *
 * @throws {InvalidArgumentError} On malformed PEM or when no block has the expected label.
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-2
 */
export function decodePem(text: string, expectedLabel?: string): PemBlock {
  const blocks = decodePemAll(text)
  const block = expectedLabel === undefined ? blocks[0] : blocks.find((b) => b.label === expectedLabel)
  if (!block) {
    const found = blocks.map((b) => b.label).join(', ')
    throw new InvalidArgumentError(`expected a PEM "${expectedLabel}" block, found: ${found}`)
  }
  return block
}

function decodeBody(label: string, body: string): Uint8Array {
  // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) are not part of RFC 7468; they mark legacy encrypted keys.
  if (body.includes(':')) {
    throw new InvalidArgumentError(
      `PEM "${label}" block has headers (legacy encrypted PEM is not supported; decrypt it first, e.g. with "openssl pkey")`,
    )
  }
  const compact = body.replace(/[ \t\r\n\v\f]/g, '')
  if (compact.length === 0) throw new InvalidArgumentError(`PEM "${label}" block is empty`)
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    throw new InvalidArgumentError(`PEM "${label}" block is not valid base64`)
  }
  try {
    return decodeBase64(compact)
  } catch (cause) {
    throw new InvalidArgumentError(`PEM "${label}" block is not valid base64`, { cause })
  }
}
