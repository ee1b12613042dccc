/**
 * Reading a response body with a size cap: a CA (or whatever answers in its place) must not make the client
 * buffer an unbounded body.
 */
import { AcmeResponseError } from '../errors.ts'
import { joinBytes } from '../lib/bytes.ts'
import type { ResponseLike } from '../lib/web-types.ts'

/**
 * The body as text, at most `limit` bytes: a declared `Content-Length` over the limit is refused before reading,
 * and a stream is cut off as soon as it passes the limit.
 */
export async function readText(response: ResponseLike, limit: number, url: string): Promise<string> {
  const tooLarge = (size: string) =>
    new AcmeResponseError(`the response from ${url} is larger than ${limit} bytes (${size})`, {
      url,
      status: response.status,
      code: 'ERR_RESPONSE_TOO_LARGE',
    })
  const declared = Number(response.headers.get('content-length') ?? Number.NaN)
  const stream = (response as { body?: ReadableStream<Uint8Array> | null }).body
  if (Number.isFinite(declared) && declared > limit) {
    await stream?.cancel().catch(() => {})
    throw tooLarge(`Content-Length ${declared}`)
  }
  // A declared length within the limit bounds the body (fetch reads no more than it): the cheap path.
  if (Number.isFinite(declared) || !stream || typeof stream.getReader !== 'function') {
    const text = await response.text()
    if (text.length > limit) throw tooLarge(`${text.length} characters`)
    return text
  }
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw tooLarge('more was sent')
    }
    chunks.push(value)
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : joinBytes(chunks))
}
