// Ordering of provider writes per name, and what an abort does to a queued or running task.
import { describe, expect, it } from 'vitest'
import { abortable, keyedQueue } from './queue.ts'

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms))

describe('keyedQueue', () => {
  it('runs tasks of one key one after another, other keys in parallel', async () => {
    const queue = keyedQueue()
    const log: string[] = []
    const task = (name: string) => async () => {
      log.push(`start ${name}`)
      await tick()
      log.push(`end ${name}`)
      return name
    }
    const results = await Promise.all([
      queue('a', task('a1')),
      queue('a', task('a2')),
      queue('b', task('b1')),
    ])
    expect(results).toEqual(['a1', 'a2', 'b1'])
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'))
    expect(log.indexOf('start b1')).toBeLessThan(log.indexOf('end a1'))
  })

  it('keeps going after a failed task', async () => {
    const queue = keyedQueue()
    await expect(queue('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await queue('k', async () => 'next')).toBe('next')
  })

  it('skips a task aborted while queued; a running task holds the key until it ends', async () => {
    const queue = keyedQueue()
    const log: string[] = []
    const controller = new AbortController()
    const first = queue(
      'k',
      async () => {
        await tick(20)
        log.push('write done')
      },
      controller.signal,
    )
    const skipped = queue('k', async () => log.push('never'), AbortSignal.abort(new Error('gone'))).catch(
      (e: unknown) => e,
    )
    await tick()
    controller.abort(new Error('stop'))
    await expect(first).rejects.toThrow('stop') // the caller is released at once...
    expect(log).toEqual([])
    expect(await skipped).toMatchObject({ message: 'gone' })
    await queue('k', async () => log.push('after')) // ...but the next task waits for the write
    expect(log).toEqual(['write done', 'after'])
  })
})

describe('abortable', () => {
  it('passes results through and rejects with the reason on abort', async () => {
    expect(await abortable(Promise.resolve(1), new AbortController().signal)).toBe(1)
    const controller = new AbortController()
    const pending = abortable(new Promise(() => {}), controller.signal)
    controller.abort('why')
    await expect(pending).rejects.toBe('why')
  })
})
