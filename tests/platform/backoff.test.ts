import { describe, expect, it } from 'vitest'
import { backoffWithJitter } from '#src/platform/backoff.js'

describe('backoffWithJitter', () => {
  it('doubles from the first delay, keeps the upper half as jitter, and stops at the cap', () => {
    expect(backoffWithJitter(1, { first: 2 }, () => 0)).toBe(1)
    expect(backoffWithJitter(1, { first: 2 }, () => 1)).toBe(2)
    expect(backoffWithJitter(4, { first: 45 }, () => 0.5)).toBe(270)
    expect(backoffWithJitter(30, { first: 2, max: 900 }, () => 1)).toBe(900)
    expect(backoffWithJitter(30, { first: 250 }, () => 0)).toBe(250 * 2 ** 29 / 2)
  })
})
