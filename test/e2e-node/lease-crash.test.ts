/**
 * A process that holds a storage lease and is killed (SIGKILL: no cleanup runs) does not block the name: once its
 * lease expires, the next process takes it over with a higher fencing token, and the dead holder left no lock
 * file behind (certmagic#232's stale lock files are what this avoids).
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'
import { FsStorage } from '../../src/storage/fs.ts'
import type { Lease } from '../../src/storage/lock.ts'
import { childRegistry } from '../harness/children.ts'

const CHILD = fileURLToPath(new URL('./ondemand/lease-child.ts', import.meta.url))
let dir = ''
afterAll(() => (dir ? fs.rm(dir, { recursive: true, force: true }) : undefined))

it('takes over the lease of a killed holder once it expires, with a higher token, and no lock file is left', async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'webacme-lease-'))
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, STORAGE_DIR: dir, KEY: 'crash.example', TTL: '1500' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  childRegistry('lease-crash').children.add(child)
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => l.startsWith('LEASE ') && resolve(l.slice(6)))
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)))
  })
  const dead = JSON.parse(line) as Lease
  expect(dead.token).toBe(1)
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('exit', resolve))

  const storage = new FsStorage(dir, { fs })
  let lease: Lease | undefined
  for (let i = 0; !lease; i++) {
    lease = await storage.tryLock('crash.example', 60_000)
    // Never before the dead holder's lease ran out: the break is by expiry, not by guessing.
    if (lease) expect(Date.now()).toBeGreaterThanOrEqual(dead.expiresAt)
    else await new Promise((resolve) => setTimeout(resolve, 100))
    if (i > 600) throw new Error('the dead holder’s lease was never taken over')
  }
  expect(lease.token).toBe(2)
  // The dead holder's lease can neither be renewed nor overwrite what the new holder writes.
  expect(await storage.renew(dead, 1000)).toBe(false)
  const files = await fs.readdir(join(dir, 'locks'))
  expect(files.filter((f) => f.endsWith('.lock') || f.endsWith('.tmp'))).toEqual([])
  await storage.unlock(lease)
  expect(await storage.tryLock('crash.example', 1000)).toMatchObject({ token: 3 })
})
