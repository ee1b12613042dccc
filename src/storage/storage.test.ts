import * as nodeFs from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { storageContract } from '../../test/storage-contract.ts'
import { InvalidArgumentError } from '../errors.ts'
import { FsStorage } from './fs.ts'
import { MemoryStorage } from './memory.ts'
import { canonicalJson, checkStorageKey, type Storage, storageKeys } from './storage.ts'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

const backends: Array<[string, () => Promise<Storage>]> = [
  ['MemoryStorage', async () => new MemoryStorage()],
  [
    'FsStorage',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'webacme-storage-'))
      dirs.push(dir)
      return new FsStorage(join(dir, 'store'), { fs: nodeFs })
    },
  ],
]

describe.each(backends)('%s (Storage contract)', (_name, make) => storageContract(make))

describe('key helpers', () => {
  it('build the documented layout and check names', () => {
    expect(storageKeys.account('main')).toBe('accounts/main')
    expect(storageKeys.certificate('example.com')).toBe('certificates/example.com')
    expect(storageKeys.order('example.com')).toBe('orders/example.com')
    expect(storageKeys.renewal('example.com')).toBe('renewal/example.com')
    expect(() => storageKeys.certificate('a/b')).toThrow(InvalidArgumentError)
    expect(() => storageKeys.certificate('*.example.com')).toThrow(InvalidArgumentError)
    expect(() => storageKeys.certificate('.env')).toThrow(InvalidArgumentError)
    expect(checkStorageKey('certificates/wildcard_example.com')).toBe('certificates/wildcard_example.com')
  })

  it('canonical JSON ignores key order only', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}')
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]))
  })
})
