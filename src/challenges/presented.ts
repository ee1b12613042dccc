/**
 * What a flow presented, as plain data: enough to clean it up later, in another process, after a crash. A
 * {@link ChallengeContext} is JSON (authorization, challenge, identifier, key authorization, account URL), so a
 * caller can store each `PresentedChallenge` (`issueCertificate`'s `hooks.present`) and hand the stored ones to
 * {@link cleanupPresented} when it resumes.
 */
import { raceSignal } from '../lib/abort.ts'
import type { ChallengeContext, ChallengeSolver } from './solver.ts'

/** One presented challenge: the solver type that presented it, and the context it was given (no signal). */
export interface PresentedChallenge {
  /** The solver's `type` (`http-01`, `dns-01`, ...). */
  type: string
  context: Omit<ChallengeContext, 'signal'>
}

/** Options of {@link cleanupPresented}. */
export interface CleanupOptions {
  /** Milliseconds the whole cleanup may take (default 30 000); a solver still busy then is reported as failed. */
  timeout?: number
  /** After one was cleaned up (e.g. to forget it in storage). */
  onCleaned?: (presented: PresentedChallenge) => unknown
  /** A cleanup that failed or ran out of time. */
  onError?: (presented: PresentedChallenge, error: unknown) => void
}

/**
 * Runs each presented challenge's cleanup with the first solver of the same type, all at once, within
 * `timeout`. Never throws: failures go to `onError`. Solvers get a signal that aborts when the time is up, and a
 * solver (or `onCleaned`) that ignores it is left behind at that moment.
 */
export async function cleanupPresented(
  solvers: readonly ChallengeSolver[],
  presented: readonly PresentedChallenge[],
  options: CleanupOptions = {},
): Promise<void> {
  if (presented.length === 0) return
  const signal = AbortSignal.timeout(options.timeout ?? 30_000)
  await Promise.all(
    presented.map(async (item) => {
      try {
        const solver = solvers.find((s) => s.type === item.type)
        if (!solver) throw new Error(`no ${item.type} solver to clean up ${item.context.identifier.value}`)
        const run = (work: () => unknown) => raceSignal(Promise.resolve().then(work), signal)
        await run(() => solver.cleanup({ ...item.context, signal }))
        await run(() => options.onCleaned?.(item))
      } catch (error) {
        options.onError?.(item, error)
      }
    }),
  )
}
