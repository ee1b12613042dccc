import * as nodeFs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FsStorage } from './fs.ts'
import { fencedPut, isLocker, lockerFor, storageLocker } from './lock.ts'
import { MemoryStorage } from './memory.ts'
import type { Storage } from './storage.ts'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => nodeFs.rm(d, { recursive: true, force: true })))
})

const backends: Array<[string, () => Promise<Storage>]> = [
  ['MemoryStorage', async () => new MemoryStorage()],
  [
    'FsStorage',
    async () => {
      const dir = await nodeFs.mkdtemp(join(tmpdir(), 'webacme-lock-'))
      dirs.push(dir)
      return new FsStorage(dir, { fs: nodeFs })
    },
  ],
]

describe.each(backends)('leases over %s', (_name, make) => {
  it('grants one holder at a time, with a token that grows with every lease', async () => {
    let now = 1_000
    const storage = await make()
    const locker = storageLocker(storage, { now: () => now })
    const a = await locker.tryLock('example.com', 100)
    expect(a).toMatchObject({ key: 'example.com', token: 1, expiresAt: 1_100 })
    expect(await locker.tryLock('example.com', 100)).toBeUndefined()
    // Another key is independent.
    expect(await locker.tryLock('other.example', 100)).toMatchObject({ token: 1 })
    await locker.unlock(a!)
    const b = await locker.tryLock('example.com', 100)
    expect(b?.token).toBe(2) // a release keeps the counter: fencing survives it
    now += 50
    expect(await locker.renew(b!, 100)).toBe(true)
    expect(b!.expiresAt).toBe(1_150)
    // The holder stops renewing (it crashed): once expired, the lease is taken over with a higher token.
    now += 100
    const c = await locker.tryLock('example.com', 100)
    expect(c?.token).toBe(3)
    // The old holder wakes up: its renew fails, its unlock does not release the new lease, its fenced write is refused.
    expect(await locker.renew(b!, 100)).toBe(false)
    await locker.unlock(b!)
    expect(await locker.tryLock('example.com', 100)).toBeUndefined()
    expect(await fencedPut(storage, 'certificates/example.com', { serial: 'c' }, c!)).toBe(true)
    expect(await fencedPut(storage, 'certificates/example.com', { serial: 'b' }, b!)).toBe(false)
    expect(await storage.get('certificates/example.com')).toEqual({ serial: 'c', fence: 3 })
  })

  it('lets exactly one of many concurrent callers take a free lease', async () => {
    const storage = await make()
    const lockers = Array.from({ length: 10 }, () => storageLocker(storage))
    const leases = await Promise.all(lockers.map((l) => l.tryLock('race.example', 60_000)))
    expect(leases.filter(Boolean)).toHaveLength(1)
  })

  it('is the storage itself for MemoryStorage and FsStorage', async () => {
    const storage = await make()
    expect(isLocker(storage)).toBe(true)
    expect(lockerFor(storage)).toBe(storage)
    const lease = await (storage as unknown as ReturnType<typeof storageLocker>).tryLock('k', 1000)
    expect(lease?.token).toBe(1)
  })
})

describe('storageLocker', () => {
  it('refuses a storage without compareAndSwap, and refuses a record that is not a lease', async () => {
    const plain: Storage = {
      get: async () => undefined,
      put: async () => {},
      list: async () => [],
      delete: async () => {},
    }
    expect(() => storageLocker(plain)).toThrow(/compareAndSwap/)
    const storage = new MemoryStorage()
    await storage.put('locks/x', { token: 'nope' })
    await expect(storageLocker(storage).tryLock('x', 1000)).rejects.toMatchObject({
      code: 'ERR_STORAGE_CORRUPT',
    })
    await expect(storageLocker(storage).tryLock('x', 0)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
  })
})
