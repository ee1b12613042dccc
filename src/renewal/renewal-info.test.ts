import { describe, expect, it } from 'vitest'
import { RFC9773_EXAMPLE } from '../../test/fixtures/certificates.ts'
import { DIRECTORY, json, problem, scriptedFetch } from '../../test/fixtures/scripted-fetch.ts'
import { AcmeClient } from '../client.ts'
import { AcmeProblemError, AcmeResponseError, InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { Transport } from '../protocol/transport.ts'
import { fetchRenewalInfo } from './renewal-info.ts'

const ID = 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE'
const ARI_URL = `https://ca.test/renewal-info/${ID}`
const NOW = Date.parse('2030-01-01T00:00:00Z')
const WINDOW = { start: '2030-01-02T04:00:00Z', end: '2030-01-03T04:00:00Z' }

function transport(
  answer: () => Response,
  directory: object = { ...DIRECTORY, renewalInfo: 'https://ca.test/renewal-info' },
) {
  const fetch = scriptedFetch({
    'GET https://ca.test/dir': () => json(200, directory),
    [`GET ${ARI_URL}`]: answer,
  })
  return { fetch, transport: new Transport('https://ca.test/dir', { fetch, retry: false }) }
}

describe('fetchRenewalInfo (RFC 9773 §4)', () => {
  it('GETs {renewalInfo}/{certID} unauthenticated and reads the window, explanation and Retry-After', async () => {
    const { fetch, transport: t } = transport(() =>
      json(
        200,
        { suggestedWindow: WINDOW, explanationURL: 'https://ca.test/docs/ari' },
        { 'retry-after': '21600' },
      ),
    )
    const info = await fetchRenewalInfo(t, ID, { now: NOW })
    expect(info).toEqual({
      certId: ID,
      url: ARI_URL,
      suggestedWindow: { start: new Date(WINDOW.start), end: new Date(WINDOW.end) },
      explanationURL: 'https://ca.test/docs/ari',
      retryAfter: new Date(NOW + 21_600_000),
      retryAfterFromServer: true,
    })
    const call = fetch.calls.find((c) => c.url === ARI_URL)!
    expect(call.method).toBe('GET')
    expect(call.body).toBeUndefined()
    expect(call.headers.accept).toBe('application/json')
  })

  it('works from a client and from the certificate itself', async () => {
    const fetch = scriptedFetch({
      'GET https://ca.test/dir': () =>
        json(200, { ...DIRECTORY, renewalInfo: 'https://ca.test/renewal-info/' }),
      [`GET ${ARI_URL}`]: () => json(200, { suggestedWindow: WINDOW }, { 'retry-after': '60' }),
    })
    const client = new AcmeClient({
      directoryUrl: 'https://ca.test/dir',
      accountKey: await generateKeyPair(),
      fetch,
    })
    const info = await fetchRenewalInfo(client, RFC9773_EXAMPLE, { now: new Date(NOW) })
    expect(info.url).toBe(ARI_URL) // no double slash after a trailing one
    expect(info.explanationURL).toBeUndefined()
    expect(info.retryAfter.getTime()).toBe(NOW + 60_000)
  })

  it('clamps Retry-After to one minute .. one day, and uses six hours without one', async () => {
    const cases: Array<[Record<string, string>, number, boolean]> = [
      [{ 'retry-after': '5' }, 60_000, true],
      [{ 'retry-after': '259200' }, 86_400_000, true],
      [{ 'retry-after': new Date(NOW + 7_200_000).toUTCString() }, 7_200_000, true],
      [{}, 21_600_000, false],
      [{ 'retry-after': 'soon' }, 21_600_000, false],
    ]
    for (const [headers, wait, fromServer] of cases) {
      const { transport: t } = transport(() => json(200, { suggestedWindow: WINDOW }, headers))
      const info = await fetchRenewalInfo(t, ID, { now: NOW })
      expect(info.retryAfter.getTime() - NOW, JSON.stringify(headers)).toBe(wait)
      expect(info.retryAfterFromServer).toBe(fromServer)
    }
  })

  it('rejects a window whose end is not after its start', async () => {
    for (const end of [WINDOW.start, '2030-01-01T00:00:00Z']) {
      const { transport: t } = transport(() => json(200, { suggestedWindow: { start: WINDOW.start, end } }))
      const err = await fetchRenewalInfo(t, ID, { now: NOW }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AcmeResponseError)
      expect((err as AcmeResponseError).field).toBe('suggestedWindow.end')
    }
  })

  it('names the bad field of a malformed body', async () => {
    const bodies: Array<[unknown, string]> = [
      [{}, 'suggestedWindow'],
      [{ suggestedWindow: { start: 'tomorrow', end: WINDOW.end } }, 'suggestedWindow.start'],
      [{ suggestedWindow: { start: WINDOW.start, end: 1 } }, 'suggestedWindow.end'],
      [{ suggestedWindow: WINDOW, explanationURL: 'not a url' }, 'explanationURL'],
    ]
    for (const [body, field] of bodies) {
      const { transport: t } = transport(() => json(200, body))
      const err = await fetchRenewalInfo(t, ID).catch((e: unknown) => e)
      expect(err, field).toBeInstanceOf(AcmeResponseError)
      expect((err as AcmeResponseError).field).toBe(field)
    }
  })

  it('accepts RFC 3339 offsets and fractions', async () => {
    const { transport: t } = transport(() =>
      json(200, {
        suggestedWindow: { start: '2030-01-02T05:00:00.123456+01:00', end: '2030-01-03t04:00:00z' },
      }),
    )
    const info = await fetchRenewalInfo(t, ID)
    expect(info.suggestedWindow.start.toISOString()).toBe('2030-01-02T04:00:00.123Z')
    expect(info.suggestedWindow.end.toISOString()).toBe('2030-01-03T04:00:00.000Z')
  })

  it('fails before sending when the CA has no renewalInfo or the CertID is malformed', async () => {
    const { fetch, transport: t } = transport(() => json(200, {}), DIRECTORY)
    await expect(fetchRenewalInfo(t, ID)).rejects.toBeInstanceOf(UnsupportedError)
    await expect(fetchRenewalInfo(t, 'not-a-cert-id')).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(fetch.calls.map((c) => c.url)).toEqual(['https://ca.test/dir'])
  })

  it('passes server problems on', async () => {
    const { transport: t } = transport(() => problem(404, 'malformed', 'unknown certificate'))
    const err = await fetchRenewalInfo(t, ID).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AcmeProblemError)
    expect((err as AcmeProblemError).status).toBe(404)
  })
})
