/**
 * Everything that is neither the API nor an ACME challenge: the playground's static build and the API reference
 * under /docs/ (`[assets]` in /wrangler.toml, from `playground/dist`; `npm run build:service`), or a short note
 * when they have not been built.
 */
import type { Env } from './env.ts'

export async function serveAssets(request: Request, env: Env): Promise<Response> {
  if (env.ASSETS) {
    const response = await env.ASSETS.fetch(request)
    if (response.status !== 404) return response
  }
  const { pathname } = new URL(request.url)
  if (pathname === '/' && (request.method === 'GET' || request.method === 'HEAD')) {
    return new Response(
      'webacme certificate service. The API is under /api (see service/README.md); the playground and the API reference (/docs/) are not built (npm run build:service).\n',
      { headers: { 'content-type': 'text/plain; charset=utf-8' } },
    )
  }
  return Response.json(
    { error: { code: 'ERR_NOT_FOUND', message: `nothing at ${pathname}` } },
    { status: 404 },
  )
}
