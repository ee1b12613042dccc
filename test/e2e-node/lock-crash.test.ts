/**
 * An FsStorage record lock left by a process killed with SIGKILL (issue #19 item 4). A child (crash/lock-child.ts)
 * runs `compareAndSwap` and freezes inside it with the lock file held, before or after writing the record; it is
 * killed as soon as it reports that, never by timing. Then the next run on the directory:
 *
 * - swapping the same record: breaks the lock, completes, and leaves no `.lock` file;
 * - not touching that record at all (the certificate was written before the kill, so the next run finds it not
 *   due): still removes the dead process's lock when it opens the directory.
 *
 * A lock counts as stale once older than `staleLockAge` (30 s by default): the test ages the lock file's mtime
 * instead of waiting. A younger lock may be a live writer's, and is waited for.
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { FsStorage } from '../../src/storage/fs.ts'
import { childRegistry } from '../harness/children.ts'

const CHILD = join(import.meta.dirname, 'crash/lock-child.ts')
const KEY = 'certificates/example.com'
const dirs: string[] = []
afterAll(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))))

/** Runs the child until it reports that it holds the lock, then SIGKILLs it. */
async function killHoldingLock(dir: string, crashAt: 'before-write' | 'after-write'): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, STORAGE_DIR: dir, KEY, CRASH_AT: crashAt },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  childRegistry('lock-crash').children.add(child)
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => line === `LOCKED ${crashAt}` && resolve())
    child.once('exit', (code) => reject(new Error(`child exited ${code} before holding the lock`)))
  })
  const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
  child.kill('SIGKILL')
  expect(await exited).toBe('SIGKILL')
}

async function lockAndTempFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile() && (e.name.endsWith('.lock') || e.name.endsWith('.tmp')))
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
}

/**
 * Makes what the dead process left (its lock, its temporary file) look as old as it is after `staleLockAge`,
 * without waiting for it.
 */
async function age(dir: string): Promise<void> {
  const past = new Date(Date.now() - 5 * 60_000)
  for (const file of await lockAndTempFiles(dir)) await fs.utimes(join(dir, file), past, past)
}

describe('an FsStorage lock left by a SIGKILLed process', () => {
  for (const crashAt of ['before-write', 'after-write'] as const) {
    it(`killed ${crashAt}: the next swap of the record breaks the lock, completes, and leaves no .lock`, async () => {
      const dir = await fs.mkdtemp(join(tmpdir(), 'webacme-lock-crash-'))
      dirs.push(dir)
      await new FsStorage(dir, { fs }).put(KEY, { version: 1 })
      await killHoldingLock(dir, crashAt)
      expect(await lockAndTempFiles(dir)).toContain('certificates/.example.com.json.lock')
      await age(dir)

      const next = new FsStorage(dir, { fs })
      const current = await next.get(KEY)
      expect(current).toEqual({ version: crashAt === 'after-write' ? 2 : 1 })
      expect(await next.compareAndSwap(KEY, current, { version: 3 })).toBe(true)
      expect(await next.get(KEY)).toEqual({ version: 3 })
      expect(await lockAndTempFiles(dir)).toEqual([])
    })
  }

  it('killed after-write: a next run that never swaps that record still removes the dead lock', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'webacme-lock-crash-'))
    dirs.push(dir)
    await new FsStorage(dir, { fs }).put(KEY, { version: 1 })
    await killHoldingLock(dir, 'after-write')
    await age(dir)

    // The next run reads and lists (the certificate is in place and not due); it swaps nothing.
    const next = new FsStorage(dir, { fs })
    expect(await next.list('certificates/')).toEqual([KEY])
    expect(await next.get(KEY)).toEqual({ version: 2 })
    expect(await lockAndTempFiles(dir)).toEqual([])
  })

  it('leaves a young lock alone: it may be a live writer’s', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'webacme-lock-crash-'))
    dirs.push(dir)
    await new FsStorage(dir, { fs }).put(KEY, { version: 1 })
    await killHoldingLock(dir, 'before-write')
    const next = new FsStorage(dir, { fs, lockTimeout: 50 })
    expect(await next.list('certificates/')).toEqual([KEY])
    expect(await lockAndTempFiles(dir)).toContain('certificates/.example.com.json.lock')
    await expect(next.compareAndSwap(KEY, { version: 1 }, { version: 3 })).rejects.toMatchObject({
      code: 'ERR_STORAGE_LOCKED',
    })
  })
})
