/**
 * The cron pass: queue messages do not survive a restart and the account object does, so every pass re-enqueues
 * each job that is not done and that nothing is working on, and enqueues a renewal run (`renewDue`, with ARI where
 * the CA has it) for every certificate due by the next pass.
 */
import { accountOf, type PassReport } from './account-object.ts'
import { type Env, type JobMessage, readConfig } from './env.ts'

/** One cron pass, as of the controller's scheduled time. */
export async function runScheduled(controller: { scheduledTime: number }, env: Env): Promise<PassReport> {
  const config = readConfig(env)
  const account = accountOf(env, config)
  const asOf = controller.scheduledTime
  const [unfinished, dueOrElsewhere, elsewhere] = await Promise.all([
    account.unfinished(),
    account.dueForRenewal(asOf + config.lookaheadMs),
    account.issuedElsewhere(),
  ])
  // A certificate of another CA is re-issued from the configured one, not renewed at the CA that issued it.
  const reissue = new Set(elsewhere)
  const due = dueOrElsewhere.filter((name) => !reissue.has(name))
  const messages: JobMessage[] = [
    ...unfinished.map((name): JobMessage => ({ kind: 'issue', name })),
    ...due.map((name): JobMessage => ({ kind: 'renew', name, asOf })),
    ...elsewhere.map((name): JobMessage => ({ kind: 'issue', name, reissue: true })),
  ]
  // sendBatch takes at most 100 messages.
  for (let i = 0; i < messages.length; i += 100) {
    await env.JOBS.sendBatch(messages.slice(i, i + 100).map((body) => ({ body })))
  }
  const report = {
    at: Date.now(),
    asOf,
    resumed: unfinished.length,
    renewals: due.length,
    reissues: elsewhere.length,
  }
  await account.recordPass(report)
  if (messages.length > 0) {
    console.log(
      `cron pass: ${unfinished.length} unfinished jobs re-enqueued, ${due.length} renewal runs, ${elsewhere.length} re-issues from the new CA`,
    )
  }
  return report
}
