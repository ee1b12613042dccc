/**
 * Reading the directory (RFC 8555 §7.1.1): the one resource a client fetches before anything else, so the one
 * place where a wrong URL shows. An answer that is not a directory says so instead of "HTTP 404".
 */
import { AcmeResponseError } from '../errors.ts'
import type { Directory } from './resources.ts'
import type { AcmeResponse } from './response.ts'
import { directorySchema, parseResource } from './schemas.ts'

const NOT_A_DIRECTORY = "does not look like an ACME directory (is it the CA's directory URL?)"

/**
 * The directory, or an error that says the URL does not look like an ACME directory.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-7.1.1 RFC 8555 §7.1.1}
 */
export function parseDirectory(res: AcmeResponse): Directory {
  if (typeof res.body !== 'object' || res.body === null) {
    throw new AcmeResponseError(
      `${res.url} ${NOT_A_DIRECTORY}: HTTP ${res.status} with a ${typeof res.body === 'string' && res.body !== '' ? 'non-JSON' : 'empty'} body`,
      { url: res.url, status: res.status },
    )
  }
  try {
    return parseResource(directorySchema, res.body, { what: 'directory', url: res.url, status: res.status })
  } catch (cause) {
    if (!(cause instanceof AcmeResponseError)) throw cause
    throw new AcmeResponseError(`${res.url} ${NOT_A_DIRECTORY}: ${cause.message}`, {
      url: res.url,
      status: res.status,
      field: cause.field,
      cause,
    })
  }
}

/** An HTTP error status on the directory URL: says so, instead of a bare "HTTP 404". */
export function notADirectory(err: unknown, url: string): unknown {
  if (!(err instanceof AcmeResponseError) || err.code !== 'ERR_INVALID_RESPONSE' || err.status < 400)
    return err
  return new AcmeResponseError(`${url} ${NOT_A_DIRECTORY}: ${err.message}`, {
    url,
    status: err.status,
    retryAfter: err.retryAfter,
    cause: err,
  })
}
