import { describe, expect, it, vi } from 'vitest'
import { FirstReadPacer, poll } from './poll.ts'

describe('FirstReadPacer', () => {
  it('starts at the interval, quarters after on-time first reads, and backs off to what a late wait took', () => {
    const pacer = new FirstReadPacer()
    expect(pacer.delay('authorization', 500)).toBe(500)
    pacer.record('authorization', 500, true, 505)
    expect(pacer.delay('authorization', 500)).toBe(125)
    pacer.record('authorization', 125, false, 140)
    expect(pacer.delay('authorization', 500)).toBe(140)
    // The floor from the late wait keeps the next delays near it.
    pacer.record('authorization', 140, true, 141)
    expect(pacer.delay('authorization', 500)).toBeGreaterThanOrEqual(137)
    expect(pacer.delay('order', 500)).toBe(500)
    expect(pacer.delay('authorization', 100)).toBe(100)
  })

  it('round-trips what it learned through JSON, ignoring entries that are not numbers', () => {
    const pacer = new FirstReadPacer()
    pacer.record('authorization', 500, true, 505)
    pacer.record('order', 500, false, 900)
    const state = JSON.parse(JSON.stringify(pacer))
    expect(state).toEqual({ authorization: { delay: 125, floor: 0 }, order: { delay: 900, floor: 900 } })
    const copy = new FirstReadPacer(state)
    expect(copy.delay('authorization', 500)).toBe(125)
    expect(copy.delay('order', 1000)).toBe(900)
    const junk = new FirstReadPacer({
      a: { delay: -1, floor: 0 },
      b: { delay: Number.NaN, floor: 0 },
      c: { delay: '5', floor: 0 } as unknown as { delay: number; floor: number },
      d: { delay: 7, floor: 2 },
    })
    expect(junk.toJSON()).toEqual({ d: { delay: 7, floor: 2 } })
  })

  it('paces the first read of a poll and learns from it', async () => {
    const pacer = new FirstReadPacer()
    let reads = 0
    const read = async () => ({ value: ++reads >= 1, retryAfter: undefined })
    // Time moves only when the test moves it: the first read comes at 40 ms, not a moment before.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const polling = poll(
        { kind: 'order', url: 'x' },
        read,
        (v) => v,
        { interval: 40, delayFirstRead: true },
        pacer,
      )
      vi.advanceTimersByTime(39)
      expect(reads).toBe(0)
      vi.advanceTimersByTime(1)
      await polling
      expect(reads).toBe(1)
    } finally {
      vi.useRealTimers()
    }
    expect(pacer.delay('order', 40)).toBe(10)
  })
})
