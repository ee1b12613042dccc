/**
 * Files the command writes: keys and certificates, mode 0600, never half-written. Each file is written to a
 * temporary name in its directory, flushed and renamed into place; the PEM files of one certificate are all
 * written before the first rename, and a new `--out` directory is filled under a temporary name and renamed whole.
 */
import { randomBytes } from 'node:crypto'
import { access, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { LocalError } from './exit-codes.ts'

const PRIVATE = 0o600

function tmpName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
}

/**
 * Proves that files can be created under `path` before anything is asked of the CA: a probe file is created (and
 * removed) in `path`, or, when `path` does not exist yet, in its nearest existing ancestor (where the command
 * will create it). Throws a LocalError naming the flag.
 */
export async function probeWritable(path: string, flag: string): Promise<void> {
  let dir = resolve(path)
  for (;;) {
    const info = await stat(dir).catch(() => undefined)
    if (info) {
      if (!info.isDirectory()) {
        throw new LocalError(
          `${flag} ${path}: ${dir} is not a directory${dir === resolve(path) ? '' : ' (cannot create under it)'}`,
        )
      }
      break
    }
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  const probe = join(dir, `.webacme-probe-${randomBytes(6).toString('hex')}`)
  try {
    const handle = await open(probe, 'wx', PRIVATE)
    await handle.close()
    await rm(probe, { force: true })
  } catch (err) {
    throw new LocalError(`${flag} ${path} is not writable: ${(err as Error).message}`, { cause: err })
  }
}

/** Reads a text file; a missing or unreadable file is a LocalError naming it. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new LocalError(`cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err })
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

async function writeNew(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode)
  try {
    await handle.writeFile(text, 'utf8')
    await handle.chmod(mode) // the umask may have narrowed it; it can only have taken bits away
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Writes one file atomically (temporary file + rename), mode 0600 unless told otherwise. */
export async function writeFileAtomic(path: string, text: string, mode = PRIVATE): Promise<void> {
  await writeFilesAtomic(dirname(path), { [basename(path)]: text }, mode)
}

/**
 * Writes several files into `directory` so that none is ever seen half-written: when the directory does not exist,
 * it is created under a temporary name, filled and renamed into place; otherwise every file goes to a temporary
 * name first and the renames happen only once all are written. On failure nothing new is left behind.
 */
export async function writeFilesAtomic(
  directory: string,
  files: Record<string, string>,
  mode = PRIVATE,
  /** A mode per file name, where it differs from `mode`. */
  modes: Record<string, number> = {},
): Promise<string[]> {
  const dir = resolve(directory)
  const paths = Object.keys(files).map((name) => join(dir, name))
  try {
    if (!(await exists(dir))) {
      await mkdir(dirname(dir), { recursive: true, mode: 0o700 })
      const staging = tmpName(dir)
      await mkdir(staging, { mode: 0o700 })
      try {
        for (const [name, text] of Object.entries(files)) {
          await writeNew(join(staging, name), text, modes[name] ?? mode)
        }
        await rename(staging, dir)
        return paths
      } catch (err) {
        await rm(staging, { recursive: true, force: true })
        // Someone made the directory meanwhile: fall through to writing into it.
        if (!(await exists(dir))) throw err
      }
    }
    if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`)
    const staged: Array<[string, string]> = []
    try {
      for (const [name, text] of Object.entries(files)) {
        const target = join(dir, name)
        const tmp = tmpName(target)
        staged.push([tmp, target])
        await writeNew(tmp, text, modes[name] ?? mode)
      }
      for (const [tmp, target] of staged) await rename(tmp, target)
    } catch (err) {
      await Promise.all(staged.map(([tmp]) => rm(tmp, { force: true })))
      throw err
    }
    return paths
  } catch (err) {
    throw new LocalError(`cannot write ${paths.join(', ')}: ${(err as Error).message}`, { cause: err })
  }
}
