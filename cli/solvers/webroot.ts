/**
 * `--webroot DIR`: http-01 through a web server that already serves DIR. The key authorization is written to
 * `DIR/.well-known/acme-challenge/<token>` (readable by the web server: 0644) and removed after validation.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChallengeContext, ChallengeSolver, Identifier } from 'webacme'
import { LocalError } from '../exit-codes.ts'

const TOKEN = /^[A-Za-z0-9_-]+$/

export function webrootSolver(webroot: string): ChallengeSolver {
  const dir = join(webroot, '.well-known', 'acme-challenge')
  const fileOf = (context: ChallengeContext) => {
    const token = context.challenge.token
    if (!token || !TOKEN.test(token)) throw new LocalError(`unusable http-01 token ${JSON.stringify(token)}`)
    return join(dir, token)
  }
  return {
    type: 'http-01',
    canSolve: (identifier: Identifier) => !identifier.value.startsWith('*.'),
    async present(context) {
      const file = fileOf(context)
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 })
        await writeFile(file, context.keyAuthorization ?? '', { mode: 0o644 })
      } catch (err) {
        throw new LocalError(`cannot write the http-01 token to ${file}: ${(err as Error).message}`, {
          cause: err,
        })
      }
    },
    async cleanup(context) {
      await rm(fileOf(context), { force: true })
    },
  }
}
