/**
 * A file-system {@link Storage} for scripts run by Node, Deno or Bun (a cron job, a systemd timer). The caller hands
 * it a `node:fs/promises`-shaped module, so this file imports no Node API; it still lives behind its own entry point,
 * `webacme/storage/fs`, because only scripts with a file system want it.
 *
 * Each record is one file, `<directory>/<key>.json`. Writes go to a temporary file in the same directory, are
 * flushed, then renamed over the record: a reader sees the old record or the new one, never half of one, and a
 * crash leaves at worst a stray `.*.tmp` file, or the `.*.lock` of a `compareAndSwap`, that reads and listings
 * ignore, and that the next FsStorage on the directory removes once they are older than `staleLockAge`. A
 * file-system failure is a `StorageError` (`ERR_STORAGE`) naming the key, with the file-system error as its cause. Files are written with mode 0600 and
 * directories created with 0700, since accounts, certificates and pending orders hold private keys.
 *
 * @module webacme/storage/fs
 */

import { InvalidArgumentError } from '../errors.ts'
import { type Lease, type Locker, storageLocker } from './lock.ts'
import { canonicalJson, checkStorageKey, type Storage, StorageError, toJsonText } from './storage.ts'

/** An open file, as `node:fs/promises` `FileHandle` has it. */
export interface FileHandleLike {
  writeFile(data: string, encoding: 'utf8'): Promise<void>
  chmod(mode: number): Promise<void>
  sync(): Promise<void>
  close(): Promise<void>
}

/**
 * The file-system calls FsStorage makes: the shape of `node:fs/promises`, which Node, Deno and Bun all provide.
 * Injected, so that this module itself needs no Node API and can be given any implementation.
 */
export interface FileSystemLike {
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<unknown>
  open(path: string, flags: string, mode?: number): Promise<FileHandleLike>
  readdir(
    path: string,
    options: { withFileTypes: true },
  ): Promise<Array<{ name: string; isDirectory(): boolean; isFile(): boolean }>>
  readFile(path: string, encoding: 'utf8'): Promise<string>
  rename(from: string, to: string): Promise<void>
  rm(path: string, options: { force: true }): Promise<void>
  stat(path: string): Promise<{ mtimeMs: number }>
}

/** Options of {@link FsStorage}. */
export interface FsStorageOptions {
  /** The file system: `await import('node:fs/promises')` in Node, Deno and Bun. */
  fs: FileSystemLike
  /** Mode of record files (default `0o600`). */
  fileMode?: number
  /** Mode of the directories it creates (default `0o700`). Existing directories are left alone. */
  directoryMode?: number
  /** Milliseconds `compareAndSwap` waits for another writer's lock (default 10 000). */
  lockTimeout?: number
  /**
   * A lock or temporary file older than this many milliseconds was left by a crashed process: the lock is broken,
   * the file removed (default 30 000).
   */
  staleLockAge?: number
}

/**
 * A {@link Storage} in a directory. `compareAndSwap` holds a lock file (`.<name>.json.lock`, created exclusively)
 * around its read and write, so it is safe between processes on one machine; plain `put`s do not take the lock.
 *
 * @example
 * ```ts
 * import { FsStorage } from 'webacme/storage/fs'
 *
 * const storage = new FsStorage('/var/lib/webacme', { fs: await import('node:fs/promises') })
 * console.log(await storage.list('certificates/'))
 * ```
 */
export class FsStorage implements Storage, Locker {
  /** The directory records live in. */
  readonly directory: string
  readonly #fileMode: number
  readonly #directoryMode: number
  readonly #lockTimeout: number
  readonly #staleLockAge: number
  readonly #fs: FileSystemLike
  #opened: Promise<void> | undefined
  readonly #locker: Locker = storageLocker(this)

  constructor(directory: string, options: FsStorageOptions) {
    if (typeof directory !== 'string' || directory === '') {
      throw new InvalidArgumentError('FsStorage needs a directory path')
    }
    if (typeof options?.fs?.open !== 'function') {
      throw new InvalidArgumentError("FsStorage needs { fs }: pass `await import('node:fs/promises')`")
    }
    this.#fs = options.fs
    this.directory = directory.length > 1 ? directory.replace(/[/\\]+$/, '') : directory
    this.#fileMode = options.fileMode ?? 0o600
    this.#directoryMode = options.directoryMode ?? 0o700
    this.#lockTimeout = options.lockTimeout ?? 10_000
    this.#staleLockAge = options.staleLockAge ?? 30_000
  }

  async get(key: string): Promise<unknown> {
    const path = this.#path(key)
    await this.#open()
    let text: string
    try {
      text = await this.#fs.readFile(path, 'utf8')
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return undefined
      throw failure(key, `cannot read ${path}`, err)
    }
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `${path} is not JSON`, { cause })
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    const path = this.#path(key)
    const text = toJsonText(key, value)
    await this.#open()
    await this.#io(key, `cannot write ${path}`, () => this.#write(path, text))
  }

  async list(prefix: string): Promise<string[]> {
    const slash = prefix.lastIndexOf('/')
    const base = slash >= 0 ? prefix.slice(0, slash) : ''
    if (base !== '') {
      try {
        checkStorageKey(base)
      } catch {
        return [] // no valid key lives under an invalid path
      }
    }
    const keys: string[] = []
    await this.#open()
    const dir = base === '' ? this.directory : `${this.directory}/${base}`
    await this.#io(prefix, `cannot list ${dir}`, () => this.#walk(dir, base, keys))
    return keys.filter((key) => key.startsWith(prefix)).sort()
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key)
    await this.#open()
    await this.#io(key, `cannot delete ${path}`, () =>
      // ENOTDIR: a file where a directory of the key would be, so the key cannot exist.
      this.#fs.rm(path, { force: true }).catch((err: unknown) => {
        if (!isCode(err, 'ENOTDIR')) throw err
      }),
    )
  }

  /**
   * Takes a lease on `key` (a record under `locks/<key>`, taken with compareAndSwap): see {@link Locker}.
   */
  tryLock(key: string, ttlMs: number): Promise<Lease | undefined> {
    return this.#locker.tryLock(key, ttlMs)
  }

  /** Extends a lease; `false` when it was lost. */
  renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.#locker.renew(lease, ttlMs)
  }

  /** Releases a lease (keeping the fencing counter). */
  unlock(lease: Lease): Promise<void> {
    return this.#locker.unlock(lease)
  }

  async compareAndSwap(key: string, expected: unknown, value: unknown): Promise<boolean> {
    const path = this.#path(key)
    const text = value === undefined ? undefined : toJsonText(key, value)
    await this.#open()
    return this.#io(key, `cannot update ${path}`, () => this.#swap(key, path, expected, text))
  }

  async #swap(key: string, path: string, expected: unknown, text: string | undefined): Promise<boolean> {
    const release = await this.#lock(key, path)
    try {
      const current = await this.get(key)
      const same =
        current === undefined
          ? expected === undefined
          : expected !== undefined && canonicalJson(current) === canonicalJson(expected)
      if (!same) return false
      if (text === undefined) await this.#fs.rm(path, { force: true })
      else await this.#write(path, text)
      return true
    } finally {
      await release()
    }
  }

  #path(key: string): string {
    return `${this.directory}/${checkStorageKey(key)}.json`
  }

  /** Runs a file-system operation; a raw file-system error becomes an `ERR_STORAGE` naming the key. */
  async #io<T>(key: string, what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw failure(key, what, err)
    }
  }

  /**
   * Once per instance, before the first operation: removes the temporary files and record locks a crash left
   * (a process killed mid-write, or between its write and the lock's release). Only files of FsStorage's own
   * naming (`.<record>.json.<16 hex>.tmp`, `.<record>.json.lock`), and only those older than `staleLockAge`: a
   * fresh one may belong to another process writing right now. Without this, the lock of a record that no later
   * run swaps (the certificate was written before the kill, so it is not due) would stay forever.
   */
  #open(): Promise<void> {
    this.#opened ??= this.#removeStrayFiles(this.directory).catch(() => {})
    return this.#opened
  }

  async #removeStrayFiles(dir: string): Promise<void> {
    let entries: Array<{ name: string; isDirectory(): boolean; isFile(): boolean }>
    try {
      entries = await this.#fs.readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('.')) await this.#removeStrayFiles(path)
      } else if (entry.isFile() && (TEMP_FILE.test(entry.name) || LOCK_FILE.test(entry.name))) {
        const info = await this.#fs.stat(path).catch(() => undefined)
        if (info && Date.now() - info.mtimeMs > this.#staleLockAge) await this.#fs.rm(path, { force: true })
      }
    }
  }

  async #write(path: string, text: string): Promise<void> {
    const { dir, base } = split(path)
    await this.#fs.mkdir(dir, { recursive: true, mode: this.#directoryMode })
    const temp = `${dir}/.${base}.${randomHex()}.tmp`
    let handle: FileHandleLike | undefined
    try {
      handle = await this.#fs.open(temp, 'wx', this.#fileMode)
      await handle.writeFile(text, 'utf8')
      // The umask may have narrowed the mode; set it exactly. A runtime that cannot (some node:fs ports) keeps
      // the mode `open` gave, which is never wider than asked.
      await handle.chmod(this.#fileMode).catch(() => {})
      await handle.sync()
      await handle.close()
      handle = undefined
      await this.#fs.rename(temp, path)
    } catch (err) {
      await handle?.close().catch(() => {})
      await this.#fs.rm(temp, { force: true })
      throw err
    }
    await syncDirectory(this.#fs, dir)
  }

  async #walk(dir: string, keyPrefix: string, into: string[]): Promise<void> {
    let entries: Array<{ name: string; isDirectory(): boolean; isFile(): boolean }>
    try {
      entries = await this.#fs.readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return
      throw err
    }
    for (const entry of entries) {
      // Temporary files, locks and anything hidden are not records.
      if (entry.name.startsWith('.')) continue
      const key = keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}`
      if (entry.isDirectory()) await this.#walk(`${dir}/${entry.name}`, key, into)
      else if (entry.isFile() && entry.name.endsWith('.json')) into.push(key.slice(0, -'.json'.length))
    }
  }

  /** Takes the lock of one record; resolves to its release. */
  async #lock(key: string, path: string): Promise<() => Promise<void>> {
    const { dir, base } = split(path)
    await this.#fs.mkdir(dir, { recursive: true, mode: this.#directoryMode })
    const lock = `${dir}/.${base}.lock`
    const token = randomHex()
    const deadline = Date.now() + this.#lockTimeout
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        const handle = await this.#fs.open(lock, 'wx', this.#fileMode)
        await handle.writeFile(token, 'utf8')
        await handle.close()
        return async () => {
          // Remove only our own lock: a stale-lock breaker may have taken it over.
          const owner = await this.#fs.readFile(lock, 'utf8').catch(() => undefined)
          if (owner === token) await this.#fs.rm(lock, { force: true })
        }
      } catch (err) {
        if (!isCode(err, 'EEXIST')) throw err
      }
      const info = await this.#fs.stat(lock).catch(() => undefined)
      if (info && Date.now() - info.mtimeMs > this.#staleLockAge) {
        await this.#fs.rm(lock, { force: true })
        continue
      }
      if (Date.now() > deadline) {
        throw new StorageError('ERR_STORAGE_LOCKED', key, `${lock} is held by another writer`)
      }
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}

/** The temporary files #write makes: `.<record>.json.<16 hex>.tmp`. */
const TEMP_FILE = /^\..+\.json\.[0-9a-f]{16}\.tmp$/
/** The record locks #lock takes: `.<record>.json.lock`. */
const LOCK_FILE = /^\..+\.json\.lock$/

function failure(key: string, what: string, cause: unknown): StorageError {
  const detail = (cause as { message?: unknown } | null)?.message
  return new StorageError('ERR_STORAGE', key, `${what}${typeof detail === 'string' ? `: ${detail}` : ''}`, {
    cause,
  })
}

function split(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf('/')
  return { dir: path.slice(0, slash), base: path.slice(slash + 1) }
}

function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/** Makes a rename durable (POSIX); some platforms cannot open a directory, which is fine to skip. */
async function syncDirectory(fs: FileSystemLike, dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {}
}
