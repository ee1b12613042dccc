/**
 * The HTTP API (every route behind the bearer token):
 *
 * | route                                  | what                                                        |
 * | -------------------------------------- | ----------------------------------------------------------- |
 * | `POST /api/certificates`               | manage a certificate: `{ identifiers, challenge, name? }` → 202 |
 * | `GET /api/certificates`                | every job and its status, `?limit=&cursor=`                  |
 * | `GET /api/certificates/:name`          | one job: status, notAfter, renewAt, error                    |
 * | `GET /api/certificates/:name/chain`    | the PEM chain (`application/pem-certificate-chain`)          |
 * | `DELETE /api/certificates/:name`       | stop managing it; `?revoke=true` revokes it first            |
 * | `GET /api/status`                      | jobs per status, the budget, challenge records left in KV    |
 *
 * Bundles, CSR replacement, deploy tokens and webhooks are routed first, by delivery/routes.ts.
 *
 * Errors are `{ error: { code, message } }`.
 */
import { AcmeClient, isAcmeError, readCertificateRecord, storageKeys, toIdentifier } from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import { ACCOUNT_KEY_LABEL, openPrivateKey } from 'webacme/cloudflare'
import { accountOf } from './account-object.ts'
import { authorized, unauthorized } from './auth.ts'
import { delegationView, forgetDelegation } from './delegation.ts'
import { currentCertificate, deliveryView, forgetDeliveries } from './delivery/bundle.ts'
import { edgeView, forgetEdge } from './delivery/cloudflare.ts'
import { claimCsrJob, forgetCsr, readCsrInput } from './delivery/csr.ts'
import { handleDelivery } from './delivery/routes.ts'
import { notify } from './delivery/webhooks.ts'
import { type Config, type Env, readConfig } from './env.ts'
import { hostnameRefusal, readHostnamePolicy } from './hostname-policy.ts'
import { type InputProblem, pathSegments, readJsonBody } from './input.ts'
import { nameProblem, storageName } from './names.ts'
import { CHALLENGES, type ChallengeType, dnsUnavailable } from './solvers.ts'
import { certificateStorage, keyRingOf } from './storage.ts'

/** What `GET /api/certificates/:name` shows of a job. */
export interface CertificateView {
  name: string
  identifiers: string[]
  challenge: string
  status: JobRecord['status']
  notAfter?: string
  renewAt?: string
  error?: { code: string; message: string }
  renewals: number
  updatedAt: string
  /** The directory URL of the CA that issued the certificate served now. */
  ca?: string
  /**
   * Why the job waits, when a limit of the CA holds it back (`new-orders`, `pending-authorizations`,
   * `certificates-per-domain`, `duplicate-certificates`, `failed-authorizations`, `paused`, `probing`, `queued`),
   * and until when at least, when the limit frees by itself.
   */
  waitingFor?: { limit: string; until?: string }
}

function view(job: JobRecord): CertificateView {
  return {
    name: job.name,
    identifiers: job.identifiers,
    challenge: job.challenge,
    status: job.status,
    ...(job.certificate && { notAfter: job.certificate.notAfter, renewAt: job.certificate.renewAt }),
    ...(job.error && { error: { code: job.error.code ?? 'ERR_UNKNOWN', message: job.error.message } }),
    renewals: job.renewals,
    updatedAt: job.updatedAt,
    ...(job.certificate?.directoryUrl !== undefined && { ca: job.certificate.directoryUrl }),
    ...(job.waitingFor &&
      (job.status === 'pending' || job.status === 'processing') && { waitingFor: job.waitingFor }),
  }
}

function problem(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status })
}

function refuse(input: InputProblem): Response {
  return problem(input.status, input.code, input.message)
}

const MAX_IDENTIFIERS = 100

/** Routes `/api/*`; `undefined` for other paths. */
export async function handleApi(request: Request, env: Env): Promise<Response | undefined> {
  const url = new URL(request.url)
  if (url.pathname !== '/api' && !url.pathname.startsWith('/api/')) return undefined
  // Bundles, CSRs, deploy tokens and webhooks (delivery/routes.ts); a deploy token goes no further.
  const delivered = await handleDelivery(request, env, url)
  if (delivered) return delivered
  if (!(await authorized(request, env))) return unauthorized()
  const config = readConfig(env)
  const parts = pathSegments(url.pathname)
  if (!Array.isArray(parts)) return refuse(parts)
  const method = request.method
  if (parts[0] === 'status' && parts.length === 1 && method === 'GET') return status(env, config)
  if (parts[0] !== 'certificates') return problem(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`)
  const [, name, sub] = parts
  if (name === undefined || name === '') {
    if (method === 'POST') return create(request, env, config)
    if (method === 'GET') return list(url, env, config)
  } else if (sub === undefined) {
    if (method === 'GET') return show(name, env, config)
    if (method === 'DELETE') return remove(name, url, env, config)
  } else if (sub === 'chain' && parts.length === 3) {
    if (method === 'GET') return chain(name, env, config)
  } else {
    return problem(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`)
  }
  return problem(405, 'ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`)
}

async function create(request: Request, env: Env, config: Config): Promise<Response> {
  const read = await readJsonBody(request)
  if (!('json' in read)) return refuse(read)
  const body = read.json
  const input = body as { identifiers?: unknown; challenge?: unknown; name?: unknown; csr?: unknown }
  // Bring your own CSR: the identifiers come from the request.
  const fromCsr = input?.csr !== undefined ? await readCsrInput(input.csr) : undefined
  if (fromCsr instanceof Response) return fromCsr
  if (fromCsr) {
    if (input.identifiers !== undefined) {
      return problem(400, 'ERR_INVALID_IDENTIFIERS', 'give identifiers or a csr, not both')
    }
    input.identifiers = fromCsr.identifiers
  }
  if (
    !Array.isArray(input?.identifiers) ||
    input.identifiers.length === 0 ||
    input.identifiers.length > MAX_IDENTIFIERS ||
    !input.identifiers.every((i) => typeof i === 'string')
  ) {
    return problem(400, 'ERR_INVALID_IDENTIFIERS', `identifiers must be 1 to ${MAX_IDENTIFIERS} names`)
  }
  const challenge = input.challenge ?? 'http-01'
  if (!CHALLENGES.includes(challenge as ChallengeType)) {
    return problem(400, 'ERR_INVALID_CHALLENGE', `challenge must be one of ${CHALLENGES.join(', ')}`)
  }
  let identifiers: string[]
  try {
    identifiers = [...new Set(input.identifiers.map((i: string) => toIdentifier(i).value))]
  } catch (error) {
    return problem(
      400,
      isAcmeError(error) ? error.code : 'ERR_INVALID_IDENTIFIERS',
      String((error as Error).message),
    )
  }
  if (challenge === 'http-01' && identifiers.some((i) => i.startsWith('*.'))) {
    return problem(400, 'ERR_NO_SOLVER', 'a wildcard needs dns-01 (RFC 8555 §7.1.3)')
  }
  if (challenge === 'dns-01') {
    const why = dnsUnavailable(env, config)
    if (why) return problem(400, 'ERR_NO_SOLVER', why)
  }
  let policy: ReturnType<typeof readHostnamePolicy>
  try {
    policy = readHostnamePolicy(env)
  } catch (error) {
    return problem(500, 'ERR_CONFIGURATION', (error as Error).message)
  }
  for (const identifier of identifiers) {
    const why = hostnameRefusal(identifier, policy)
    if (why) return problem(400, 'ERR_HOSTNAME_POLICY', why)
  }
  const name = input.name ?? identifiers[0]!.replace(/^\*\./, '_wildcard.')
  const badName = nameProblem(name)
  if (badName !== undefined || typeof name !== 'string') {
    return problem(400, 'ERR_INVALID_NAME', badName ?? 'name must be a string')
  }
  if (!config.termsOfServiceAgreed) {
    return problem(
      503,
      'ERR_TERMS_NOT_AGREED',
      'the operator has not agreed to the CA terms of service (ACME_TERMS_OF_SERVICE_AGREED)',
    )
  }
  const account = accountOf(env, config)
  if (fromCsr) {
    const refused = await claimCsrJob(env, name, fromCsr, await account.getJob(name))
    if (refused) return refused
  }
  const result = await account.createJob({ name, identifiers, challenge: challenge as string })
  if ('hostnameTaken' in result) {
    const { hostname, name: other } = result.hostnameTaken
    return Response.json(
      {
        error: {
          code: 'ERR_HOSTNAME_TAKEN',
          message: `${hostname} is already managed by the certificate ${other}`,
          name: other,
        },
      },
      { status: 409 },
    )
  }
  if ('conflict' in result) {
    return problem(
      409,
      'ERR_NAME_TAKEN',
      `${name} is already managed for ${result.conflict.identifiers.join(', ')}`,
    )
  }
  if (result.job.status === 'pending') await env.JOBS.send({ kind: 'issue', name })
  return Response.json({ name, status: result.job.status }, { status: 202 })
}

async function list(url: URL, env: Env, config: Config): Promise<Response> {
  const limit = Number(url.searchParams.get('limit') ?? 100)
  const cursor = url.searchParams.get('cursor') ?? undefined
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return problem(400, 'ERR_INVALID_LIMIT', 'limit must be an integer from 1 to 1000')
  }
  const page = await accountOf(env, config).listJobs({ limit, ...(cursor !== undefined && { cursor }) })
  return Response.json({
    certificates: page.jobs.map(view),
    ...(page.cursor !== undefined && { cursor: page.cursor }),
  })
}

async function show(name: string, env: Env, config: Config): Promise<Response> {
  const job = await accountOf(env, config).getJob(name)
  return job
    ? Response.json({
        ...view(job),
        ...(await deliveryView(env, name)),
        ...(await edgeView(env, name)),
        ...(await delegationView(env, job)),
      })
    : problem(404, 'ERR_NOT_FOUND', `no certificate ${name}`)
}

async function chain(name: string, env: Env, config: Config): Promise<Response> {
  const job = await accountOf(env, config).getJob(name)
  if (!job) return problem(404, 'ERR_NOT_FOUND', `no certificate ${name}`)
  // Only a certificate that covers the job's identifiers (delivery/bundle.ts).
  const record = await currentCertificate(env, job)
  if (!record) return problem(404, 'ERR_NOT_ISSUED', `${name} has no certificate yet (status ${job.status})`)
  return new Response(record.certificate, {
    headers: { 'content-type': 'application/pem-certificate-chain' },
  })
}

async function remove(name: string, url: URL, env: Env, config: Config): Promise<Response> {
  const account = accountOf(env, config)
  const storage = await certificateStorage(env)
  const stored = nameProblem(name) === undefined ? await storageName(name) : undefined
  let revoked = false
  if (url.searchParams.get('revoke') === 'true' && stored !== undefined) {
    const record = await readCertificateRecord(storage, stored)
    if (record) {
      const stored = await account.account()
      const client = new AcmeClient({
        directoryUrl: stored.directoryUrl,
        accountUrl: stored.accountUrl,
        accountKey: await openPrivateKey(await keyRingOf(env), stored.privateKey, ACCOUNT_KEY_LABEL),
      })
      await client.revokeCertificate(record.certificate)
      revoked = true
    }
  }
  // Told before the job is gone (at least once: a crash after this only repeats it).
  if (revoked) {
    const before = await account.getJob(name)
    if (before) await notify(env, 'certificate.revoked', before)
  }
  const job = await account.deleteJob(name)
  if (stored !== undefined) {
    await Promise.all(
      [storageKeys.certificate(stored), storageKeys.order(stored), storageKeys.renewal(stored)].map((k) =>
        storage.delete(k),
      ),
    )
  }
  await Promise.all([
    forgetCsr(env, name),
    forgetDeliveries(env, name),
    forgetEdge(env, name),
    forgetDelegation(env, name),
  ])
  if (!job && !revoked) return problem(404, 'ERR_NOT_FOUND', `no certificate ${name}`)
  return Response.json({ name, deleted: true, revoked })
}

async function status(env: Env, config: Config): Promise<Response> {
  const [summary, challengeRecords] = await Promise.all([
    accountOf(env, config).status(),
    countChallengeRecords(env),
  ])
  return Response.json({ ...summary, challengeRecords })
}

/** http-01 tokens in KV (each is removed by its cleanup; one left behind would expire by itself). */
async function countChallengeRecords(env: Env): Promise<number> {
  let count = 0
  let cursor: string | undefined
  do {
    const page = await env.CHALLENGES.list({
      prefix: 'acme-challenge/',
      ...(cursor !== undefined && { cursor }),
    })
    count += page.keys.length
    cursor = page.list_complete ? undefined : page.cursor
  } while (cursor !== undefined)
  return count
}
