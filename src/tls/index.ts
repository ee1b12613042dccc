/**
 * `webacme/tls`: on-demand TLS for Node, Bun and Deno servers. {@link createCertificateManager} issues a
 * certificate at the first handshake for an allowed name, keeps it in the storage, renews it in the background,
 * and lets processes that share the storage order each name once. This entry may use `node:tls` (Node, Bun and
 * Deno all have it); the core `webacme` entry never imports it.
 *
 * @module webacme/tls
 */
export { CertificateManagerError, type CertificateManagerErrorCode } from '../ondemand/errors.ts'
export type {
  AllowContext,
  AllowPolicy,
  CertificateKeyType,
  CertificateManagerEvent,
  CertificateManagerEventType,
  CertificateManagerOptions,
  CertificateManagerStats,
  CertificatePems,
  ChallengeOptions,
  Issuer,
  LimitOptions,
  RefusalReason,
  RenewalOptions,
} from '../ondemand/types.ts'
export {
  fencedPut,
  isLocker,
  type Lease,
  type LeaseRecord,
  type Locker,
  type LockingStorage,
  lockerFor,
  type StorageLockerOptions,
  storageLocker,
} from '../storage/lock.ts'
export { createCertificateManager } from './manager.ts'
export type { CertificateManager, EnsureResult } from './types.ts'
