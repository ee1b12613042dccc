/**
 * A renewal cron job as a separate process, for the crash tests (../crash-resume.test.ts): `renewDue` over an
 * FsStorage, http-01 answered from a webroot directory (files, like certbot's webroot), the account read from the
 * storage. With CRASH_AT set it freezes at that point and waits to be killed:
 *
 * - `new-order`, `challenge`, `finalize`: the CA answered that request; the child freezes before sending the next
 *   one (the library has done whatever it does between the two, e.g. storing the order URL);
 * - `certificate`: the certificate was downloaded; the child never hands it to the library.
 *
 * It prints `CRASH_POINT <point>` when frozen, and `RESULT <json>` when a run completes.
 */
import * as fs from 'node:fs/promises'
import { join } from 'node:path'
import { http01Solver, loadAccount, renewDue } from '../../../src/index.ts'
import { FsStorage } from '../../../src/storage/fs.ts'

const storageDir = process.env.STORAGE_DIR!
const webroot = process.env.WEBROOT!
const crashAt = process.env.CRASH_AT
const now = Number(process.env.NOW)

const PATHS: Record<string, RegExp> = {
  'new-order': /\/order-plz$/,
  challenge: /\/chalZ\//,
  finalize: /\/finalize-order\//,
  certificate: /\/certZ\//,
}

let answered = false
const freeze = (): Promise<never> => {
  process.stdout.write(`CRASH_POINT ${crashAt}\n`)
  // A pending promise alone does not keep Node alive: a timer does, until the parent's SIGKILL.
  setInterval(() => {}, 60_000)
  return new Promise<never>(() => {})
}
const crashingFetch: typeof fetch = async (input, init) => {
  if (answered) return freeze()
  const response = await fetch(input, init)
  // One Pebble refused with badNonce (it rejects 5 % of nonces) did nothing: its retry is still to come.
  const refusedNonce = response.status === 400 && (await response.clone().text()).includes('badNonce')
  if (crashAt && init?.method === 'POST' && PATHS[crashAt]!.test(String(input)) && !refusedNonce) {
    // The first POST to that resource the CA answered is the one that acts (a re-read comes later, if ever).
    answered = true
    if (crashAt === 'certificate') return freeze()
  }
  return response
}

const storage = new FsStorage(storageDir, { fs })
const client = await loadAccount(storage, 'main', { fetch: crashingFetch })
const http01 = http01Solver({
  store: {
    get: () => undefined,
    set: (token, value) => fs.writeFile(join(webroot, token), value),
    delete: (token) => fs.rm(join(webroot, token), { force: true }),
  },
})
const names = process.env.NAMES?.split(',')
const result = await renewDue({
  storage,
  client,
  solvers: [http01],
  now: () => now,
  ari: false,
  ...(names && { names }),
})
process.stdout.write(
  `RESULT ${JSON.stringify({
    renewed: result.renewed.map((r) => ({
      name: r.name,
      resumed: r.resumed,
      serial: r.certificate.serialNumber,
    })),
    failed: result.failed.map((f) => ({ name: f.name, error: String(f.error) })),
  })}\n`,
)
