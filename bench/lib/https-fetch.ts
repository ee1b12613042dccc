// A minimal `fetch` over node:https with a keep-alive agent, for the diagnostic "webacme (fetch over
// node:https)" row of the bench (`--https-fetch`): the same library, with only the HTTP stack swapped, shows
// how much of webacme's CPU is Node's built-in fetch (undici). Enough of fetch for what webacme sends (GET,
// HEAD, POST with a string body, AbortSignal); not a general-purpose implementation.

import { Agent, request } from 'node:https'

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

export const httpsFetch: typeof fetch = (input, init = {}) =>
  new Promise<Response>((resolve, reject) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const method = (init.method ?? 'GET').toUpperCase()
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value
    })
    const body = typeof init.body === 'string' ? init.body : undefined
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    const signal = init.signal ?? undefined
    if (signal?.aborted) return reject(signal.reason)
    const req = request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        signal?.removeEventListener('abort', onAbort)
        const responseHeaders = new Headers()
        for (const [key, value] of Object.entries(res.headers)) {
          if (value === undefined) continue
          for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v)
        }
        const status = res.statusCode ?? 0
        const nullBody = method === 'HEAD' || status === 204 || status === 304
        resolve(
          new Response(nullBody ? null : Buffer.concat(chunks), {
            status,
            statusText: res.statusMessage ?? '',
            headers: responseHeaders,
          }),
        )
      })
    })
    const onAbort = () => req.destroy(signal?.reason)
    signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', reject)
    req.end(body)
  })
