/**
 * The webacme certificate service on Cloudflare Workers: what runs where.
 *
 * - fetch: the CA's http-01 requests (`/.well-known/acme-challenge/*`, from KV), the API (`/api/*`, api.ts), the
 *   playground's static build (everything else, assets.ts);
 * - queue: issuance and renewal runs (jobs.ts), and the dead-letter queue;
 * - scheduled: the cron pass that re-enqueues unfinished jobs and due renewals (renewal.ts);
 * - AcmeAccount: the Durable Object per ACME account (account-object.ts).
 *
 * Bindings are typed in env.ts and declared in /wrangler.toml.
 */
import { acmeChallengeResponse, kvHttp01Store } from 'webacme/cloudflare'
import { handleApi } from './api.ts'
import { serveAssets } from './assets.ts'
import { retryEdgeDeliveries } from './delivery/cloudflare.ts'
import { consumeWebhooks, resumeDeliveries, WEBHOOK_QUEUE } from './delivery/webhooks.ts'
import { DEAD_LETTER_QUEUE, type Env, type JobMessage, type WebhookMessage } from './env.ts'
import { consumeDeadLetters, consumeJobs } from './jobs.ts'
import { runScheduled } from './renewal.ts'
import { challengeKv } from './solvers.ts'

export { AcmeAccount } from './account-object.ts'

export default {
  async fetch(request, env) {
    return (
      (await acmeChallengeResponse(request, kvHttp01Store(challengeKv(env.CHALLENGES)))) ??
      (await handleApi(request, env)) ??
      (await serveAssets(request, env))
    )
  },

  async queue(batch, env) {
    if (batch.queue === DEAD_LETTER_QUEUE) await consumeDeadLetters(batch, env)
    else if (batch.queue === WEBHOOK_QUEUE)
      await consumeWebhooks(batch as unknown as MessageBatch<WebhookMessage>, env)
    else await consumeJobs(batch, env)
  },

  scheduled(controller, env, ctx) {
    ctx.waitUntil(
      Promise.all([runScheduled(controller, env), resumeDeliveries(env), retryEdgeDeliveries(env)]).catch(
        (error: unknown) => {
          console.error('cron pass failed:', error)
          throw error
        },
      ),
    )
  },
} satisfies ExportedHandler<Env, JobMessage>
