// What bench/load.ts and its worker (bench/load-worker.ts) exchange.

/** What bench/load.ts passes (JSON in LOAD_CONFIG). */
export interface LoadConfig {
  directoryUrl: string
  /** Port Pebble's VA dials for http-01: this process listens there. */
  httpPort: number
  /** Names issued at once. */
  n: number
  runId: string
  /** How long to wait for every issuance to settle before reporting the rest as still pending (default 10 min). */
  deadlineMs?: number
  /** Listen backlog of the http-01 server (default 511, Node's). */
  http01Backlog?: number
  /**
   * End the run early when no issuance settled for this long while some are pending (default 60 s; one issuance
   * takes seconds, and each request times out after 30 s, so a minute without progress means the CA stopped).
   */
  stallMs?: number
  /** Give the client webacme/fetch/node (`nodeFetch`) instead of the global fetch. */
  nodeFetch?: boolean
}

/** The result line (prefixed with {@link LOAD_RESULT_PREFIX}). */
export interface LoadResult {
  n: number
  issued: number
  failures: number
  /** Issuances that had not settled at the deadline (a hang: neither a certificate nor an error). */
  stillPending: number
  /** The run ended early: nothing settled for {@link LoadConfig.stallMs} while issuances were pending. */
  stalled?: boolean
  /**
   * Set by bench/load.ts when the run stalled because Pebble deadlocked (its goroutine dump shows the lock-order
   * inversion described in bench/README.md): the CA, not the client, stopped. The goroutine dump's path.
   */
  pebbleDeadlock?: string
  failuresBy: Record<string, number>
  errors: string[]
  /** Wall time from the first call to the last settled issuance, ms. */
  wallMs: number
  certsPerSec: number
  /** `process.resourceUsage().maxRSS` at the end (the process's peak), MB. */
  peakRssMb: number
  /** Highest heapUsed seen (sampled every 250 ms), MB. */
  peakHeapMb: number
  /** Event-loop delay during the issuance phase, ms: how late a 10 ms timer fired (histogram value - 10 ms). */
  loopDelay: { p50: number; p99: number; max: number; mean: number }
  /** ACME requests of the issuance phase, and those answered with status >= 400. */
  requests: number
  errorResponses: number
  /** http-01 requests the in-process server answered (Pebble's VA). */
  http01Requests: number
  /** Most http-01 validation requests open at once in the server. */
  http01MaxOpen: number
  /** Slowest http-01 answer from request to response end, ms (loop delay shows up here). */
  http01MaxMs: number
  /** Certificates issued at 25/50/75/100 % of the wall time (progress curve). */
  issuedAt: number[]
  cpuMs: number
  /**
   * Connections the kernel refused because a listen queue was full while issuing (TcpExt ListenOverflows, Linux
   * only, the whole machine: other processes count too).
   */
  listenOverflows?: number
  http01Backlog: number
  /** Longest wait in this process between accepting a validation connection and reading its request, ms. */
  acceptToRequestMaxMs: number
  /** Challenge POSTs Pebble accepted, and of those the ones whose token the CA never requested here. */
  challengesPosted: number
  challengesNeverFetched: number
  /** From Pebble's answer to our challenge POST to its first http-01 request for that token, ms. */
  validationLatencyMs: { p50: number; p99: number; max: number }
}

export const LOAD_RESULT_PREFIX = 'LOAD_RESULT '
