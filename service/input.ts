/**
 * Untrusted input at the edge of the API: the path's segments and the request body, refused with a 4xx and a coded
 * error instead of a 500 (issue 16, item 10).
 */

/** The largest request body the API reads (64 KiB): a CSR or a list of 100 hostnames fits many times over. */
export const MAX_BODY_BYTES = 64 * 1024

/** A refusal: the status and the `{ error: { code, message } }` body to answer with. */
export interface InputProblem {
  status: number
  code: string
  message: string
}

/** The path's segments after `/api/`, percent-decoded; a malformed escape (`%zz`, `%E0%A4`) is a 400. */
export function pathSegments(pathname: string): string[] | InputProblem {
  try {
    return pathname.split('/').slice(2).map(decodeURIComponent)
  } catch {
    return { status: 400, code: 'ERR_INVALID_PATH', message: 'the path has a malformed percent-encoding' }
  }
}

/**
 * The body as JSON, read up to {@link MAX_BODY_BYTES}: a `Content-Length` above the cap is refused before anything
 * is read, and a body without one (chunked) is read only until it passes the cap, then cancelled.
 */
export async function readJsonBody(
  request: Request,
  max = MAX_BODY_BYTES,
): Promise<{ json: unknown } | InputProblem> {
  const tooLarge: InputProblem = {
    status: 413,
    code: 'ERR_BODY_TOO_LARGE',
    message: `the request body is larger than ${max} bytes`,
  }
  const declared = request.headers.get('content-length')
  if (declared !== null && (!/^\d+$/.test(declared) || Number(declared) > max)) {
    await request.body?.cancel().catch(() => {})
    return /^\d+$/.test(declared)
      ? tooLarge
      : { status: 400, code: 'ERR_INVALID_LENGTH', message: 'Content-Length is not a number' }
  }
  const chunks: Uint8Array[] = []
  let size = 0
  if (request.body) {
    const reader = request.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > max) {
        await reader.cancel().catch(() => {})
        return tooLarge
      }
      chunks.push(value)
    }
  }
  const bytes = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    bytes.set(chunk, at)
    at += chunk.byteLength
  }
  try {
    return { json: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown }
  } catch {
    return { status: 400, code: 'ERR_INVALID_JSON', message: 'the body must be JSON (UTF-8)' }
  }
}
