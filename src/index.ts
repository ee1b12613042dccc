/**
 * webacme: an ACME (RFC 8555) client on Web APIs only (`crypto.subtle`, `fetch`).
 *
 * @module webacme
 */

export type { Dns01SolverOptions } from './challenges/dns-01.ts'
export { dns01Solver } from './challenges/dns-01.ts'
export type { DnsAccount01SolverOptions } from './challenges/dns-account-01.ts'
export { dnsAccount01Label, dnsAccount01RecordName, dnsAccount01Solver } from './challenges/dns-account-01.ts'
export type { DnsPersist01RecordOptions, DnsPersist01SolverOptions } from './challenges/dns-persist-01.ts'
export {
  dnsPersist01IssuerDomainNames,
  dnsPersist01Record,
  dnsPersist01Solver,
} from './challenges/dns-persist-01.ts'
export type { Http01Solver, Http01Store } from './challenges/http-01.ts'
export { http01Solver } from './challenges/http-01.ts'
export {
  challengeToken,
  dns01RecordName,
  dns01TxtValue,
  http01Path,
  keyAuthorization,
} from './challenges/key-authorization.ts'
export type { CleanupOptions, PresentedChallenge } from './challenges/presented.ts'
export { cleanupPresented } from './challenges/presented.ts'
export type { ChallengeContext, ChallengeSolver } from './challenges/solver.ts'
export type {
  TlsAlpn01Certificate,
  TlsAlpn01CertificateOptions,
  TlsAlpn01Credentials,
  TlsAlpn01Solver,
  TlsAlpn01SolverOptions,
} from './challenges/tls-alpn-01.ts'
export {
  ACME_TLS_ALPN_PROTOCOL,
  createTlsAlpn01Certificate,
  ID_PE_ACME_IDENTIFIER,
  tlsAlpn01ServerName,
  tlsAlpn01Solver,
} from './challenges/tls-alpn-01.ts'
export type { TxtRecord } from './challenges/txt-solver.ts'
export type {
  AcmeClientOptions,
  CallOptions,
  CertificateChain,
  NewAccountOptions,
  NewOrderOptions,
  WaitOptions,
} from './client.ts'
export { AcmeClient } from './client.ts'
export { directories } from './directories.ts'
export type { DnsAdapter, DnsCallOptions } from './dns/adapter.ts'
export type { DohResolverOptions } from './dns/doh.ts'
export { DEFAULT_DOH_JSON_RESOLVERS, DEFAULT_DOH_RESOLVERS, dohResolver } from './dns/doh.ts'
export type { DnsErrorCode } from './dns/errors.ts'
export { DnsProviderError, isDnsProviderError, isDnsRateLimited } from './dns/errors.ts'
export type { DnsResolver } from './dns/resolver.ts'
export { canonicalName, findZone } from './dns/zone.ts'
export type {
  AcmeProblemCode,
  AcmeProblemType,
  InvalidArgumentCode,
  NetworkFailureReason,
  ProblemDocument,
  ProblemIdentifier,
  ResponseErrorCode,
  StateErrorCode,
  Subproblem,
  WebAcmeError,
  WebAcmeErrorCode,
  WebAcmeErrorWithCode,
} from './errors.ts'
export {
  AcmeError,
  AcmeNetworkError,
  AcmeProblemError,
  AcmeResponseError,
  AcmeStateError,
  InvalidArgumentError,
  isAcmeError,
  isBadNonce,
  isExternalAccountRequired,
  isProblem,
  isRateLimited,
  isUserActionRequired,
  UnsupportedError,
} from './errors.ts'
export type { IssueCertificateOptions, IssuedCertificate, IssueEvent, IssueHooks } from './issue.ts'
export { issueCertificate } from './issue.ts'
export type { IssueCertificateForCsrOptions, IssuedCertificateForCsr } from './issue-csr.ts'
export { issueCertificateForCsr } from './issue-csr.ts'
export type { GenerateKeyPairOptions, JwsAlgorithm, MacAlgorithm } from './jose/algorithms.ts'
export { generateKeyPair } from './jose/algorithms.ts'
export type { ImportJwkOptions, PublicJwk } from './jose/jwk.ts'
export { exportPrivateJwk, exportPublicJwk, importJwkPair, jwkThumbprint } from './jose/jwk.ts'
export type { DistinguishedName, ParsedCertificate } from './pkix/certificate.ts'
export { certificateMatchesKey, parseCertificate } from './pkix/certificate.ts'
export { selectPreferredChain, splitPemChain } from './pkix/chain.ts'
export type { CreateCsrOptions, CsrIdentifier } from './pkix/csr.ts'
export { createCsr, csrToPem } from './pkix/csr.ts'
export type { ParsedCsr } from './pkix/csr-parse.ts'
export { parseCsr, verifyCsrSignature } from './pkix/csr-parse.ts'
export type { PemBlock } from './pkix/pem.ts'
export { decodePem, decodePemAll, encodePem } from './pkix/pem.ts'
export type { ImportKeyOptions, PrivateKeyFormat, RsaHash } from './pkix/private-key.ts'
export {
  derivePublicKey,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  importPrivateKeyPem,
  importPublicKeyPem,
} from './pkix/private-key.ts'
export type {
  AttemptDone,
  AttemptOutcome,
  CircuitBreakerOptions,
  CircuitState,
} from './protocol/circuit-breaker.ts'
export { attemptOutcome, CaUnavailableError, CircuitBreaker } from './protocol/circuit-breaker.ts'
export type { ExternalAccountBinding } from './protocol/external-account-binding.ts'
export type { OrderIdentifier } from './protocol/identifiers.ts'
export { formatIpAddress, parseIpAddress, toIdentifier } from './protocol/identifiers.ts'
export type { FirstReadPacerState, PollOptions } from './protocol/poll.ts'
export { FirstReadPacer } from './protocol/poll.ts'
export type {
  Account,
  AccountStatus,
  Authorization,
  AuthorizationStatus,
  Challenge,
  ChallengeStatus,
  Directory,
  DirectoryMeta,
  Identifier,
  Order,
  OrderStatus,
} from './protocol/resources.ts'
export type { RevocationReason } from './protocol/revocation.ts'
export { REVOCATION_REASONS } from './protocol/revocation.ts'
export type {
  AcmeResponse,
  HttpEvent,
  HttpOptions,
  NoncePool,
  RetryOptions,
  TransportOptions,
} from './protocol/transport.ts'

export type { CertIdParts } from './renewal/cert-id.ts'
export { certId, formatCertId, parseCertId } from './renewal/cert-id.ts'
export type {
  AccountRecord,
  CertificateRecord,
  CertificateRecordOptions,
  ErrorNote,
  PendingOrderRecord,
  RenewalStateRecord,
} from './renewal/records.ts'
export {
  certificateRecord,
  loadAccount,
  parseCertificateRecord,
  readAccountRecord,
  readCertificateRecord,
  readPendingOrder,
  readRenewalState,
  saveAccount,
  saveCertificate,
} from './renewal/records.ts'
export type {
  FailedRenewal,
  PerCertificate,
  RenewalEvent,
  RenewDueOptions,
  RenewDueResult,
  RenewedCertificate,
  RenewIssueOptions,
  RescheduledRenewal,
  SkippedCertificate,
} from './renewal/renew.ts'
export { renewDue } from './renewal/renew.ts'
export type { FetchRenewalInfoOptions, RenewalInfo } from './renewal/renewal-info.ts'
export { fetchRenewalInfo } from './renewal/renewal-info.ts'
export type { Instant, RenewalChoice, TimeWindow } from './renewal/schedule.ts'
export {
  chooseRenewalTime,
  ERROR_CHECK_INTERVAL_MS,
  errorCheckTime,
  isDue,
  isValidWindow,
  lifetimeRenewalTime,
  MAX_CHECK_INTERVAL_MS,
  MIN_CHECK_INTERVAL_MS,
  nextCheckTime,
  renewalBackoff,
} from './renewal/schedule.ts'
export { MemoryStorage } from './storage/memory.ts'
export type { Storage, StorageErrorCode } from './storage/storage.ts'
export { canonicalJson, checkStorageKey, StorageError, storageKeys } from './storage/storage.ts'
