import * as nodeFs from 'node:fs/promises'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import { FsStorage } from './fs.ts'
import { StorageError } from './storage.ts'

const dirs: string[] = []
let root = ''
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'webacme-fs-'))
  dirs.push(root)
})
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

const mode = async (path: string) => (await stat(path)).mode & 0o777

describe('FsStorage', () => {
  it('writes one JSON file per record, 0600 in 0700 directories', async () => {
    const s = new FsStorage(`${root}/store/`, { fs: nodeFs })
    await s.put('accounts/main', { privateKey: 'secret' })
    await s.put('certificates/example.com', { certificate: 'pem' })
    expect(JSON.parse(await readFile(join(root, 'store/accounts/main.json'), 'utf8'))).toEqual({
      privateKey: 'secret',
    })
    expect(await mode(join(root, 'store/accounts/main.json'))).toBe(0o600)
    expect(await mode(join(root, 'store/certificates/example.com.json'))).toBe(0o600)
    expect(await mode(join(root, 'store'))).toBe(0o700)
    expect(await mode(join(root, 'store/accounts'))).toBe(0o700)
    // Re-writing keeps the mode exact even when the file was loosened meanwhile.
    await s.put('accounts/main', { privateKey: 'rotated' })
    expect(await mode(join(root, 'store/accounts/main.json'))).toBe(0o600)
  })

  it('removes the temporary files a crash left mid-write when it opens: its own, old ones only', async () => {
    await mkdir(join(root, 'orders'), { recursive: true })
    const stray = join(root, 'orders/.a.json.0123456789abcdef.tmp')
    const fresh = join(root, 'orders/.b.json.fedcba9876543210.tmp')
    const foreign = join(root, 'orders/notes.tmp')
    for (const path of [stray, fresh, foreign]) await writeFile(path, '{"half')
    const old = new Date(Date.now() - 3_600_000)
    await utimes(stray, old, old)
    await utimes(foreign, old, old)
    const s = new FsStorage(root, { fs: nodeFs })
    expect(await s.list('')).toEqual([])
    // A fresh one may be another process writing right now; a file of another naming is not ours.
    expect((await readdir(join(root, 'orders'))).sort()).toEqual([
      '.b.json.fedcba9876543210.tmp',
      'notes.tmp',
    ])
  })

  it('wraps file-system failures as ERR_STORAGE naming the key, with the cause', async () => {
    await writeFile(join(root, 'accounts'), 'a file where a directory should be')
    const s = new FsStorage(root, { fs: nodeFs })
    const err = await s.put('accounts/main', { x: 1 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StorageError)
    expect(err).toMatchObject({ code: 'ERR_STORAGE', key: 'accounts/main' })
    expect((err as StorageError).message).toContain(join(root, 'accounts/main.json'))
    expect((err as { cause?: { code?: string } }).cause?.code).toMatch(/ENOTDIR|EEXIST/)
    await expect(s.delete('accounts/main/x')).resolves.toBeUndefined()
    const cas = await s.compareAndSwap('accounts/main', undefined, { x: 1 }).catch((e: unknown) => e)
    expect(cas).toMatchObject({ code: 'ERR_STORAGE', key: 'accounts/main' })
  })

  it('replaces records by rename and leaves no temporary file', async () => {
    const s = new FsStorage(root, { fs: nodeFs })
    await s.put('renewal/a', { v: 1 })
    const inode = (await stat(join(root, 'renewal/a.json'))).ino
    await s.put('renewal/a', { v: 2 })
    // A new file took the name: readers holding the old one never see a half-written record.
    expect((await stat(join(root, 'renewal/a.json'))).ino).not.toBe(inode)
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.put('renewal/a', { v: i, pad: 'x'.repeat(10_000) })),
    )
    const record = (await s.get('renewal/a')) as { v: number; pad: string }
    expect(record.pad).toHaveLength(10_000)
    expect(await readdir(join(root, 'renewal'))).toEqual(['a.json'])
  })

  it('ignores what a crash leaves behind: temporary files and a stale lock', async () => {
    const s = new FsStorage(root, { fs: nodeFs, staleLockAge: 1000 })
    await s.put('certificates/a', { v: 1 })
    await writeFile(join(root, 'certificates/.a.json.0123456789abcdef.tmp'), '{"v": 2, "trunc')
    await writeFile(join(root, 'certificates/.a.json.lock'), 'dead-process')
    const old = new Date(Date.now() - 60_000)
    await utimes(join(root, 'certificates/.a.json.lock'), old, old)
    expect(await s.list('certificates/')).toEqual(['certificates/a'])
    expect(await s.get('certificates/a')).toEqual({ v: 1 })
    expect(await s.compareAndSwap('certificates/a', { v: 1 }, { v: 3 })).toBe(true)
    expect(await s.get('certificates/a')).toEqual({ v: 3 })
  })

  it('waits for a live lock and gives up with ERR_STORAGE_LOCKED', async () => {
    // The lock is live for an hour: it cannot turn stale while the 200 ms lock wait runs, however slow the machine.
    const s = new FsStorage(root, { fs: nodeFs, lockTimeout: 200, staleLockAge: 3_600_000 })
    await s.put('renewal/a', { v: 1 })
    await writeFile(join(root, 'renewal/.a.json.lock'), 'other-process')
    const err = await s.compareAndSwap('renewal/a', { v: 1 }, { v: 2 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).code).toBe('ERR_STORAGE_LOCKED')
    expect(await s.get('renewal/a')).toEqual({ v: 1 })
  })

  it('serialises swaps between two instances on one directory (two processes)', async () => {
    const a = new FsStorage(root, { fs: nodeFs })
    const b = new FsStorage(root, { fs: nodeFs })
    await a.put('renewal/counter', { n: 0 })
    const increment = async (s: FsStorage) => {
      for (;;) {
        const current = (await s.get('renewal/counter')) as { n: number }
        if (await s.compareAndSwap('renewal/counter', current, { n: current.n + 1 })) return
      }
    }
    await Promise.all([
      ...Array.from({ length: 10 }, () => increment(a)),
      ...Array.from({ length: 10 }, () => increment(b)),
    ])
    expect(await a.get('renewal/counter')).toEqual({ n: 20 })
    expect((await readdir(join(root, 'renewal'))).filter((f) => f.startsWith('.'))).toEqual([])
  })

  it('reports a record that is not JSON as ERR_STORAGE_CORRUPT', async () => {
    const s = new FsStorage(root, { fs: nodeFs })
    await mkdir(join(root, 'renewal'), { recursive: true })
    await writeFile(join(root, 'renewal/broken.json'), '{not json')
    const err = await s.get('renewal/broken').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StorageError)
    expect((err as StorageError).code).toBe('ERR_STORAGE_CORRUPT')
    expect((err as StorageError).key).toBe('renewal/broken')
  })

  it('lists nothing for a missing directory or an invalid prefix', async () => {
    const s = new FsStorage(join(root, 'not-yet'), { fs: nodeFs })
    expect(await s.list('certificates/')).toEqual([])
    expect(await s.list('../')).toEqual([])
    expect(() => new FsStorage('', { fs: nodeFs })).toThrow(InvalidArgumentError)
    expect(() => new FsStorage('/tmp/x', {} as never)).toThrow(/needs \{ fs \}/)
  })
})
