/**
 * A process that dies holding an FsStorage record lock, for ../lock-crash.test.ts. It runs one `compareAndSwap` of
 * KEY and freezes inside it, the lock file held, at CRASH_AT:
 *
 * - `before-write`: the lock is taken and the record read; the new record is not written yet;
 * - `after-write`: the new record has replaced the old one (renamed into place); the lock is not released yet.
 *
 * It prints `LOCKED <point>` when frozen, and waits to be killed.
 */
import * as fs from 'node:fs/promises'
import { type FileSystemLike, FsStorage } from '../../../src/storage/fs.ts'

const dir = process.env.STORAGE_DIR!
const key = process.env.KEY!
const crashAt = process.env.CRASH_AT as 'before-write' | 'after-write'

const freeze = (): Promise<never> => {
  process.stdout.write(`LOCKED ${crashAt}\n`)
  // A pending promise alone does not keep Node alive (it would exit 13, unsettled top-level await, and race the
  // parent's SIGKILL): a timer does, until the kill.
  setInterval(() => {}, 60_000)
  return new Promise<never>(() => {})
}

// node:fs/promises, except that the write of KEY's record (a rename of its temporary file) is where it dies.
const record = `${dir}/${key}.json`
const dying: FileSystemLike = {
  mkdir: (path, options) => fs.mkdir(path, options),
  open: (path, flags, mode) => fs.open(path, flags, mode),
  readdir: (path, options) => fs.readdir(path, options),
  readFile: (path, encoding) => fs.readFile(path, encoding),
  rm: (path, options) => fs.rm(path, options),
  stat: (path) => fs.stat(path),
  async rename(from, to) {
    if (to !== record) return fs.rename(from, to)
    if (crashAt === 'before-write') return freeze()
    await fs.rename(from, to)
    return freeze()
  },
}

const storage = new FsStorage(dir, { fs: dying })
const current = await storage.get(key)
await storage.compareAndSwap(key, current, { ...(current as object), version: 2 })
process.stdout.write('the swap completed: it should have frozen\n')
process.exit(1)
