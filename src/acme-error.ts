/**
 * The base class of every error webacme throws, and the caller-mistake error every part of the library raises.
 * Imports only the codes, so any module (the DNS providers, the storage backends, the certificate manager) can
 * define its own errors on top of it without importing `src/errors.ts`, which re-exports these two.
 *
 * @module
 */
import type { InvalidArgumentCode, WebAcmeErrorCode } from './error-codes.ts'

/** Base class of every error webacme throws. */
export class AcmeError extends Error {
  readonly code: WebAcmeErrorCode
  constructor(code: WebAcmeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AcmeError'
    this.code = code
  }
}

/**
 * A caller mistake, caught before the request it concerns: a malformed identifier, a key that cannot sign, a bad
 * PEM, an identifier no solver can answer for, an account without agreement to the terms of service, ...
 */
export class InvalidArgumentError extends AcmeError {
  declare readonly code: InvalidArgumentCode
  constructor(message: string, options?: { cause?: unknown; code?: InvalidArgumentCode }) {
    super(options?.code ?? 'ERR_INVALID_ARGUMENT', message, options)
    this.name = 'InvalidArgumentError'
  }
}
