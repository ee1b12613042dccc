/**
 * The consumer's gate in front of the CA (issue 16, "learning from 429"): nothing is sent to an endpoint before a
 * `Retry-After` it answered has passed, whichever run asks, and new orders go one at a time, so that a `429` is known
 * before the next new order leaves (without it, every run that was already on its way would hit the CA inside the
 * pause). The pause the account object keeps (from other invocations) is where the new-order endpoint starts.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-6.6 (rateLimited, Retry-After)
 */
type FetchLike = typeof fetch

/** A `429` the gate saw on the new-order endpoint. */
export interface NewOrderRefusal {
  /** No new order before this (ms). */
  retryAfter: number
  /** The problem document's detail. */
  detail: string
  /** The identifiers of the refused order (from the request's payload). */
  identifiers: string[]
}

/** Options of {@link caGate}. */
export interface CaGateOptions {
  /** The new-order URL (from the directory), once known. */
  newOrderUrl: () => string | undefined
  /** No new order before this (ms): the account's pause. */
  pausedUntil?: number | undefined
  /** Called with each `429` of the new-order endpoint. */
  onNewOrderRefused?: (refusal: NewOrderRefusal) => void
  /** Retry-After when the CA gave none (ms, default 60 000). */
  defaultRetryAfterMs?: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The time a `Retry-After` header names (RFC 9110 §10.2.3: seconds or an HTTP date), or `undefined`. */
export function retryAfterTime(header: string | null, now: number): number | undefined {
  if (header === null) return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return now + Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : date
}

/** A `fetch` that keeps every endpoint's Retry-After and sends new orders one at a time. */
export function caGate(inner: FetchLike, options: CaGateOptions): FetchLike {
  const notBefore = new Map<string, number>()
  let line: Promise<unknown> = Promise.resolve()
  const endpoint = (input: Parameters<FetchLike>[0]) =>
    (typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url).split(
      '?',
    )[0]!
  const wait = async (url: string) => {
    for (;;) {
      const until = notBefore.get(url) ?? 0
      const now = Date.now()
      if (until <= now) return
      await sleep(until - now)
    }
  }
  const send = async (
    url: string,
    input: Parameters<FetchLike>[0],
    init: Parameters<FetchLike>[1],
    newOrder: boolean,
  ) => {
    await wait(url)
    const response = await inner(input, init)
    if (response.status === 429) {
      const now = Date.now()
      const until =
        retryAfterTime(response.headers.get('retry-after'), now) ??
        now + (options.defaultRetryAfterMs ?? 60_000)
      notBefore.set(url, Math.max(notBefore.get(url) ?? 0, until))
      if (newOrder && options.onNewOrderRefused) {
        const detail = await response
          .clone()
          .text()
          .then((t) => (JSON.parse(t) as { detail?: unknown }).detail)
          .catch(() => undefined)
        options.onNewOrderRefused({
          retryAfter: until,
          detail: typeof detail === 'string' ? detail : '',
          identifiers: payloadIdentifiers(init?.body),
        })
      }
    }
    return response
  }
  const gated = (input: Parameters<FetchLike>[0], init?: Parameters<FetchLike>[1]) => {
    const url = endpoint(input)
    const newOrderUrl = options.newOrderUrl()
    if (newOrderUrl !== undefined && url === newOrderUrl) {
      if (options.pausedUntil !== undefined)
        notBefore.set(url, Math.max(notBefore.get(url) ?? 0, options.pausedUntil))
      if ((init?.method ?? 'GET').toUpperCase() === 'POST') {
        const turn = line.then(() => send(url, input, init, true))
        line = turn.catch(() => {})
        return turn
      }
    }
    return send(url, input, init, false)
  }
  return gated as FetchLike
}

/** The identifiers of a newOrder request's JWS payload (RFC 8555 §7.4), for naming the refused order. */
function payloadIdentifiers(body: unknown): string[] {
  try {
    const text = typeof body === 'string' ? body : new TextDecoder().decode(body as Uint8Array)
    const payload = JSON.parse(
      atob((JSON.parse(text) as { payload: string }).payload.replace(/-/g, '+').replace(/_/g, '/')),
    ) as {
      identifiers?: Array<{ value?: unknown }>
    }
    return (payload.identifiers ?? []).flatMap((i) => (typeof i.value === 'string' ? [i.value] : []))
  } catch {
    return []
  }
}
