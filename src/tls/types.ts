/// <reference types="node" />
/**
 * The certificate manager as Node, Bun and Deno servers see it.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server as NetServer } from 'node:net'
import type { SecureContext, Server as TlsServer } from 'node:tls'
import type {
  AllowContext,
  CertificateManagerEvent,
  CertificateManagerEventType,
  CertificateManagerStats,
  CertificatePems,
} from '../ondemand/types.ts'

/** What `ensure` did for one name. */
export type EnsureResult =
  | { name: string; ok: true; certificate: CertificatePems }
  | { name: string; ok: false; error: unknown }

/** An on-demand certificate manager (see `createCertificateManager`). */
export interface CertificateManager {
  /**
   * For `tls.createServer`, `https.createServer`, `http2.createSecureServer` (Node, Bun's `node:tls`): the
   * certificate for the name the client asks, issued on first use (the handshake waits for it), then from memory.
   * A refused or failed name ends the handshake with an error (the `tlsClientError` event).
   */
  SNICallback(servername: string, callback: (error: Error | null, context?: SecureContext) => void): void
  /**
   * Accepts TCP connections for `server` (any `tls.Server`: `https`, `http2` secure servers too) and answers
   * tls-alpn-01 validations (`acme-tls/1`, RFC 8737) itself before handing every other connection to `server`.
   * Listen on it instead of on `server`: `manager.listener(server).listen(443)`. Node decides the certificate
   * (SNICallback) before it sees the client's ALPN list, so this peek at the ClientHello is what makes
   * tls-alpn-01 work on the same port.
   */
  listener(server: TlsServer): NetServer
  /** Node-style HTTP handler for port 80: http-01 answers (RFC 8555 §8.3), every other request redirected to https. */
  httpHandler(req: IncomingMessage, res: ServerResponse): void
  /** Web-style handler (`Deno.serve`, `Bun.serve`): http-01 answers, every other request redirected to https. */
  fetchHandler(request: Request): Promise<Response>
  /** The certificate for `name` (issuing if needed, subject to `allow` and the limits). */
  getCertificate(name: string, context?: AllowContext): Promise<CertificatePems>
  /**
   * Issues ahead of time (no `allow` check: the operator names them). Wildcards (`*.example.com`) need
   * `challenges.dns01`. Never throws for one name: each gets a result.
   */
  ensure(names: readonly string[]): Promise<EnsureResult[]>
  /** Runs the renewal check now (it also runs every `renewal.interval`). */
  renewNow(): Promise<void>
  /** Stops renewal, refuses new names, waits for issuances in flight to settle, releases its leases. */
  close(): Promise<void>
  /** Subscribes to one event type; returns the unsubscribe function. */
  on<T extends CertificateManagerEventType>(
    type: T,
    listener: (event: Extract<CertificateManagerEvent, { type: T }>) => void,
  ): () => void
  stats(): CertificateManagerStats
}
