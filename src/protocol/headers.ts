/**
 * The HTTP headers ACME leans on: `Link` (RFC 8288; RFC 8555 §7.1 uses rel `index`, `up`, `alternate`,
 * `next`, `terms-of-service`, `help`), `Retry-After` (RFC 9110 §10.2.3) and `Location`.
 */

/** One `Link` header value: an absolute URL and its relation types. */
export interface Link {
  url: string
  rel: string[]
}

/** Parses every `Link` header of a response; relative targets are resolved against `base`. */
export function parseLinks(header: string | null, base: string): Link[] {
  if (!header) return []
  const links: Link[] = []
  // Fetch joins repeated Link headers with ", "; commas also appear inside quoted params, hence the regex.
  const re = /<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)/g
  for (const match of header.matchAll(re)) {
    const target = match[1] ?? ''
    const params = match[2] ?? ''
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]*))/i.exec(params)
    const rels = (rel?.[1] ?? rel?.[2] ?? '').split(/\s+/).filter(Boolean)
    try {
      links.push({ url: new URL(target, base).href, rel: rels.map((r) => r.toLowerCase()) })
    } catch {
      // A malformed target is skipped rather than failing the whole response.
    }
  }
  return links
}

/** URLs of the links with relation `rel`. */
export function linksWithRel(links: Link[], rel: string): string[] {
  return links.filter((link) => link.rel.includes(rel)).map((link) => link.url)
}

/**
 * `Retry-After` as an absolute time: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). `undefined` when
 * absent or unparsable.
 */
export function parseRetryAfter(header: string | null, now: number = Date.now()): Date | undefined {
  if (!header) return undefined
  const value = header.trim()
  if (/^\d+$/.test(value)) return new Date(now + Number(value) * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : new Date(date)
}
