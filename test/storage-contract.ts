/**
 * The Storage contract every backend keeps, as tests: the memory and file storages run it in Node
 * (src/storage/storage.test.ts), the Workers storages in workerd (src/cloudflare/storage.workerd.test.ts).
 */
import { expect, it } from 'vitest'
import { InvalidArgumentError } from '../src/errors.ts'
import type { Storage } from '../src/storage/storage.ts'

/** Declares the contract's tests for the storage `make` returns (a fresh, empty one each call). */
export function storageContract(make: () => Promise<Storage>, { concurrentSwaps = 8 } = {}): void {
  it('gets what was put, as a copy, and undefined for what was not', async () => {
    const s = await make()
    expect(await s.get('certificates/example.com')).toBeUndefined()
    const record = { a: 1, nested: { list: [1, 'two', null], flag: true } }
    await s.put('certificates/example.com', record)
    const back = (await s.get('certificates/example.com')) as typeof record
    expect(back).toEqual(record)
    back.a = 2
    expect(await s.get('certificates/example.com')).toEqual(record)
    await s.put('certificates/example.com', { replaced: true })
    expect(await s.get('certificates/example.com')).toEqual({ replaced: true })
  })

  it('lists by prefix, sorted, and deletes (missing keys included)', async () => {
    const s = await make()
    for (const key of [
      'renewal/b.test',
      'certificates/b.test',
      'certificates/a.test',
      'orders/a.test',
      'certs',
    ]) {
      await s.put(key, { key })
    }
    expect(await s.list('certificates/')).toEqual(['certificates/a.test', 'certificates/b.test'])
    expect(await s.list('cert')).toEqual(['certificates/a.test', 'certificates/b.test', 'certs'])
    expect(await s.list('')).toEqual([
      'certificates/a.test',
      'certificates/b.test',
      'certs',
      'orders/a.test',
      'renewal/b.test',
    ])
    expect(await s.list('nothing/')).toEqual([])
    await s.delete('certificates/a.test')
    await s.delete('certificates/never-there')
    expect(await s.list('certificates/')).toEqual(['certificates/b.test'])
    expect(await s.get('certificates/a.test')).toBeUndefined()
  })

  it('compares and swaps as JSON, key order ignored', async () => {
    const s = await make()
    expect(s.compareAndSwap).toBeTypeOf('function')
    const cas = s.compareAndSwap!.bind(s)
    expect(await cas('renewal/x', { a: 1 }, { a: 2 })).toBe(false) // absent, expected present
    expect(await cas('renewal/x', undefined, { a: 1, b: { c: 2, d: 3 } })).toBe(true) // create
    expect(await cas('renewal/x', undefined, { a: 9 })).toBe(false) // present, expected absent
    expect(await cas('renewal/x', { a: 1, b: { c: 2 } }, { a: 9 })).toBe(false)
    expect(await cas('renewal/x', { b: { d: 3, c: 2 }, a: 1 }, { a: 2 })).toBe(true)
    expect(await s.get('renewal/x')).toEqual({ a: 2 })
    expect(await cas('renewal/x', { a: 2 }, undefined)).toBe(true) // delete
    expect(await s.get('renewal/x')).toBeUndefined()
  })

  it('lets exactly one of many concurrent swaps from the same state win', async () => {
    const s = await make()
    await s.put('renewal/race', { n: 0 })
    const results = await Promise.all(
      Array.from({ length: concurrentSwaps }, (_, i) =>
        s.compareAndSwap!('renewal/race', { n: 0 }, { n: i + 1 }),
      ),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    const winner = results.indexOf(true) + 1
    expect(await s.get('renewal/race')).toEqual({ n: winner })
  })

  it('refuses bad keys and values that are not JSON', async () => {
    const s = await make()
    for (const key of [
      '',
      '/a',
      'a/',
      'a//b',
      '../etc/passwd',
      'a/../b',
      '.hidden',
      'a/.b',
      'sp ace',
      'a\\b',
      'x'.repeat(513),
    ]) {
      await expect(s.put(key, {}), key).rejects.toBeInstanceOf(InvalidArgumentError)
      await expect(s.get(key), key).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(s.put('renewal/u', undefined)).rejects.toBeInstanceOf(InvalidArgumentError)
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    await expect(s.put('renewal/c', cycle)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(s.put('renewal/f', () => 1)).rejects.toBeInstanceOf(InvalidArgumentError)
  })
}
