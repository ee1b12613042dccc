// raceSignal: the race every await on caller code and every shared wait goes through.
import { describe, expect, it } from 'vitest'
import { raceSignal } from './abort.ts'

describe('raceSignal', () => {
  it('passes results through and rejects with the reason on abort', async () => {
    expect(await raceSignal(Promise.resolve(1), new AbortController().signal)).toBe(1)
    const controller = new AbortController()
    const pending = raceSignal(new Promise(() => {}), controller.signal)
    controller.abort('why')
    await expect(pending).rejects.toBe('why')
  })
})
