import { describe, expect, it } from 'vitest'
import { randomBase36Id, randomHexId } from '#src/platform/random-ids.js'

describe('random ids', () => {
  // 26 base36 characters or 16 bytes in hex per id: 2,000 ids draw past several refills of the 8 kB pool.
  const many = <T>(count: number, make: () => T): T[] => Array.from({ length: count }, make)

  it('are the prefix and the asked number of base36 characters, never the same twice, across refills of the pool', () => {
    const ids = many(2_000, () => randomBase36Id('eml_', 26))
    for (const id of ids) expect(id).toMatch(/^eml_[a-z0-9]{26}$/)
    expect(new Set(ids).size).toBe(ids.length)
    // Every character of the alphabet turns up: the bytes are spread over all of it.
    expect(new Set(ids.join('').slice(0, 10_000).replace(/eml_/g, '')).size).toBe(36)
  })

  it('are the prefix and the asked number of random bytes in hex, never the same twice', () => {
    const ids = many(2_000, () => randomHexId('ent_', 16))
    for (const id of ids) expect(id).toMatch(/^ent_[0-9a-f]{32}$/)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('serve a length larger than the pool whole', () => {
    const id = randomHexId('big_', 10_000)
    expect(id).toMatch(/^big_[0-9a-f]{20000}$/)
    expect(new Set(id.slice(4).match(/.{32}/g)).size).toBe(625)
  })
})
