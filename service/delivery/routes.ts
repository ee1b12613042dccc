/**
 * The delivery routes, in front of the API's own (api.ts):
 *
 * | route                                      | who          | what                                          |
 * | ------------------------------------------ | ------------ | --------------------------------------------- |
 * | `GET /api/certificates/:name/bundle`       | admin, deploy | certificate, chain, fullchain, key (bundle.ts) |
 * | `PUT /api/certificates/:name/csr`          | admin        | replace a CSR job's request (csr.ts)          |
 * | `POST/GET /api/tokens`, `DELETE /api/tokens/:id` | admin  | deploy tokens (tokens.ts)                     |
 * | `POST/GET /api/webhooks`, `DELETE /api/webhooks/:id`, `GET /api/webhooks/:id/deliveries` | admin | webhooks.ts |
 *
 * A deploy token gets `403` on every other route, and for every name outside its patterns whether it exists or not.
 */
import { accountOf } from '../account-object.ts'
import { authorized } from '../auth.ts'
import { type Env, readConfig } from '../env.ts'
import { bundle } from './bundle.ts'
import { replaceCsr } from './csr.ts'
import { problem, readJson } from './store.ts'
import { covers, createToken, deployTokenOf, forbidden, listTokens, revokeToken } from './tokens.ts'
import { createWebhook, deleteWebhook, listDeliveries, listWebhooks } from './webhooks.ts'

function pathParts(url: URL): string[] | undefined {
  try {
    return url.pathname.split('/').slice(2).map(decodeURIComponent)
  } catch {
    return undefined // malformed percent-encoding: the API answers it
  }
}

/**
 * Answers a delivery route, or any request with a deploy token; `undefined` lets the API go on (which checks the
 * admin token again and answers 401 without it).
 */
export async function handleDelivery(request: Request, env: Env, url: URL): Promise<Response | undefined> {
  const parts = pathParts(url)
  const method = request.method
  if (!(await authorized(request, env))) {
    const token = await deployTokenOf(request, env)
    if (!token) return undefined
    if (parts?.length !== 3 || parts[0] !== 'certificates' || parts[2] !== 'bundle' || method !== 'GET') {
      return forbidden()
    }
    const job = await accountOf(env, readConfig(env)).getJob(parts[1]!)
    if (!job || !covers(token, job)) return forbidden()
    return (await bundle(env, job)) ?? forbidden()
  }
  if (!parts) return undefined
  const [resource, id, sub] = parts
  if (resource === 'certificates' && id && parts.length === 3 && (sub === 'bundle' || sub === 'csr')) {
    const job = await accountOf(env, readConfig(env)).getJob(id)
    if (sub === 'bundle') {
      if (method !== 'GET') return notAllowed(method, url)
      if (!job) return problem(404, 'ERR_NOT_FOUND', `no certificate ${id}`)
      return (
        (await bundle(env, job)) ??
        problem(
          404,
          'ERR_NOT_ISSUED',
          `${id} has no certificate for its identifiers yet (status ${job.status})`,
        )
      )
    }
    if (method !== 'PUT') return notAllowed(method, url)
    const body = await readJson(request)
    return body instanceof Response ? body : replaceCsr(env, job, id, body)
  }
  if (resource === 'tokens') {
    if (parts.length === 1 && method === 'POST') {
      const body = await readJson(request)
      return body instanceof Response ? body : createToken(env, body)
    }
    if (parts.length === 1 && method === 'GET') return listTokens(env)
    if (parts.length === 2 && id && method === 'DELETE') return revokeToken(env, id)
    return parts.length <= 2
      ? notAllowed(method, url)
      : problem(404, 'ERR_NOT_FOUND', `no route ${url.pathname}`)
  }
  if (resource === 'webhooks') {
    if (parts.length === 1 && method === 'POST') {
      const body = await readJson(request)
      return body instanceof Response ? body : createWebhook(env, body)
    }
    if (parts.length === 1 && method === 'GET') return listWebhooks(env)
    if (parts.length === 2 && id && method === 'DELETE') return deleteWebhook(env, id)
    if (parts.length === 3 && id && sub === 'deliveries' && method === 'GET') return listDeliveries(env, id)
    return problem(404, 'ERR_NOT_FOUND', `no route ${method} ${url.pathname}`)
  }
  return undefined
}

function notAllowed(method: string, url: URL): Response {
  return problem(405, 'ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`)
}
