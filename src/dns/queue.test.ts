// Ordering of provider writes per name, and what an abort does to a queued or running task.
import { describe, expect, it } from 'vitest'
import { occurrence, turns } from '../../test/fixtures/events.ts'
import { keyedQueue } from './queue.ts'

/** A task that logs its start, then runs until the test lets it end. */
function gatedTask(log: string[], name: string) {
  const started = occurrence()
  const end = occurrence()
  const run = async () => {
    log.push(`start ${name}`)
    started.fire()
    await end.happened
    log.push(`end ${name}`)
    return name
  }
  return { run, started: started.happened, end: () => end.fire() }
}

describe('keyedQueue', () => {
  it('runs tasks of one key one after another, other keys in parallel', async () => {
    const queue = keyedQueue()
    const log: string[] = []
    const [a1, a2, b1] = [gatedTask(log, 'a1'), gatedTask(log, 'a2'), gatedTask(log, 'b1')]
    const results = Promise.all([queue('a', a1.run), queue('a', a2.run), queue('b', b1.run)])
    await Promise.all([a1.started, b1.started]) // b does not wait for a
    await turns()
    expect(log).toEqual(['start a1', 'start b1']) // a2 waits for a1
    a1.end()
    await a2.started
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'))
    a2.end()
    b1.end()
    expect(await results).toEqual(['a1', 'a2', 'b1'])
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
    const write = gatedTask(log, 'write')
    const first = queue('k', write.run, controller.signal)
    const skipped = queue('k', async () => log.push('never'), AbortSignal.abort(new Error('gone'))).catch(
      (e: unknown) => e,
    )
    await write.started // the write is running (not "probably, after 5 ms")
    controller.abort(new Error('stop'))
    await expect(first).rejects.toThrow('stop') // the caller is released at once...
    expect(await skipped).toMatchObject({ message: 'gone' })
    const next = queue('k', async () => log.push('after')) // ...but the next task waits for the write
    await turns()
    expect(log).toEqual(['start write'])
    write.end()
    await next
    expect(log).toEqual(['start write', 'end write', 'after'])
  })
})
