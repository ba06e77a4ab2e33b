import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { addDays, fromEpochMicros, parseTimestamp, toEpochMicros } from '#src/platform/timestamps.js'

describe('parseTimestamp', () => {
  it.each([
    ['2024-04-12T10:18:49.738971Z', '2024-04-12T10:18:49.738971Z'],
    ['2024-04-12T10:18:49.738971238Z', '2024-04-12T10:18:49.738971Z'],
    ['2024-04-12T10:49:38.76Z', '2024-04-12T10:49:38.760000Z'],
    ['2024-04-12T10:49:38Z', '2024-04-12T10:49:38.000000Z'],
    ['2024-04-12T12:49:38.5+02:00', '2024-04-12T10:49:38.500000Z'],
    ['2024-04-12 10:18:49.738971+00', '2024-04-12T10:18:49.738971Z'],
    ['2024-02-29T00:00:00.000000Z', '2024-02-29T00:00:00.000000Z'],
    ['2024-01-01T00:30:00-01:30', '2024-01-01T02:00:00.000000Z'],
  ])('reads %s as %s', (input, expected) => {
    expect(parseTimestamp(input)).toBe(expected)
  })

  it.each(['2023-02-29T00:00:00.000000Z', '2024-13-01T00:00:00.000000Z', '2024-04-31T00:00:00Z', '2024-04-12', 'yesterday', '', 12])(
    'rejects %s', (input) => {
      expect(parseTimestamp(input)).toBeNull()
    })

  it('agrees with Date on every millisecond-precision instant, and string order is time order (property)', () => {
    const instant = fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2200, 0, 1) })
    fc.assert(fc.property(instant, instant, (a, b) => {
      const [ta, tb] = [parseTimestamp(new Date(a).toISOString()), parseTimestamp(new Date(b).toISOString())]
      expect(Date.parse(ta ?? '')).toBe(a)
      expect(Math.sign((ta ?? '').localeCompare(tb ?? ''))).toBe(Math.sign(a - b))
    }))
  })

  it('reads PostgreSQL\'s text and JSON forms of every microsecond instant as the canonical one (property)', () => {
    const micros = fc.bigInt({ min: BigInt(Date.parse('0001-01-01T00:00:00Z')) * 1000n, max: BigInt(Date.parse('9999-12-31T23:59:59.999Z')) * 1000n + 999n })
    fc.assert(fc.property(micros, (instant) => {
      const canonical = fromEpochMicros(instant)
      // As PostgreSQL writes it with TimeZone UTC: trailing zeros of the fraction dropped, and the fraction with them.
      const fraction = canonical.slice(20, 26).replace(/0+$/, '')
      const seconds = `${canonical.slice(0, 10)} ${canonical.slice(11, 19)}${fraction === '' ? '' : `.${fraction}`}`
      expect(parseTimestamp(`${seconds}+00`)).toBe(canonical)
      expect(parseTimestamp(`${seconds.replace(' ', 'T')}+00:00`)).toBe(canonical)
      expect(parseTimestamp(`${seconds.replace(' ', 'T')}Z`)).toBe(canonical)
    }), { numRuns: 2_000 })
  })

  it.each(['2024-04-12 10:18:49.+00', '2024-04-12X10:18:49+00', '2024-04-12 25:18:49+00', '2024-4-12 10:18:49+00', '2024-04-12 10:18:49,5+00'])(
    'rejects %s, which looks like PostgreSQL\'s form', (input) => {
      expect(parseTimestamp(input)).toBeNull()
    })

  it('does exact microsecond arithmetic', () => {
    const start = '2024-04-12T10:18:49.738971Z'
    expect(fromEpochMicros(toEpochMicros(start))).toBe(start)
    expect(addDays(start, 14)).toBe('2024-04-26T10:18:49.738971Z')
    expect(addDays('2024-02-28T23:59:59.999999Z', 1)).toBe('2024-02-29T23:59:59.999999Z')
  })
})
