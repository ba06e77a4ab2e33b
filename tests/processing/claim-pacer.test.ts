import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createClaimPacer } from '#src/processing/claim-pacer.js'

describe('the claim pacer', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 0 }) })
  afterEach(() => { vi.useRealTimers() })

  /** Resolves to the fake time at which the turn was given. */
  const turnAt = async (pacer: ReturnType<typeof createClaimPacer>): Promise<number> => {
    await pacer.turn()
    return Date.now()
  }

  it('lets the first claim go at once, and the one after a claim that was not full wait the spacing', async () => {
    const pacer = createClaimPacer(20)
    expect(await turnAt(pacer)).toBe(0)
    pacer.claimed(5, 32)
    let given: number | undefined
    const next = turnAt(pacer).then((at) => { given = at })
    await vi.advanceTimersByTimeAsync(19)
    expect(given).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    await next
    expect(given).toBe(20)
  })

  it('lets claims go one after another at once while they come back full', async () => {
    const pacer = createClaimPacer(20)
    for (let claim = 0; claim < 3; claim += 1) {
      expect(await turnAt(pacer)).toBe(0)
      pacer.claimed(32, 32)
    }
  })

  it('gives waiting slots their turn one spacing apart, and at once when a claim comes back full', async () => {
    const pacer = createClaimPacer(20)
    await pacer.turn() // its claim is in flight: the others wait for it
    const second = turnAt(pacer)
    const third = turnAt(pacer)
    await vi.advanceTimersByTimeAsync(20)
    expect(await second).toBe(20)
    // The second claim is in flight and comes back full after 5 ms: the third goes at once.
    await vi.advanceTimersByTimeAsync(5)
    pacer.claimed(32, 32)
    await vi.advanceTimersByTimeAsync(0)
    expect(await third).toBe(25)
  })

  it('does not delay a claim after a quiet spell, nor any claim when the spacing is 0', async () => {
    const pacer = createClaimPacer(20)
    await pacer.turn()
    pacer.claimed(0, 32)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(await turnAt(pacer)).toBe(1_000)

    const unpaced = createClaimPacer(0)
    for (let claim = 0; claim < 3; claim += 1) {
      expect(await turnAt(unpaced)).toBe(1_000)
      unpaced.claimed(1, 32)
    }
  })

  it('sends the slots waiting their turn back to sleep when a claim comes back empty, and lets the next claim go at once', async () => {
    const pacer = createClaimPacer(20)
    await pacer.turn()
    pacer.claimed(3, 32)
    const second = pacer.turn()
    await vi.advanceTimersByTimeAsync(20)
    expect(await second).toBe(true)
    const waiting = [pacer.turn(), pacer.turn()]
    await vi.advanceTimersByTimeAsync(5)
    pacer.claimed(0, 32)
    expect(await Promise.all(waiting)).toEqual([false, false])
    expect(Date.now()).toBe(25)
    expect(await turnAt(pacer)).toBe(25)
  })

  it('calls every wait off at once when released', async () => {
    const pacer = createClaimPacer(1_000)
    await pacer.turn()
    const waiting = [pacer.turn(), pacer.turn(), pacer.turn()]
    await vi.advanceTimersByTimeAsync(10)
    pacer.release()
    expect(await Promise.all(waiting)).toEqual([false, false, false])
    expect(Date.now()).toBe(10)
  })
})
