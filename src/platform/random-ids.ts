/**
 * Random ids of the rows the service makes (email events, entitlement events, backfill runs), from
 * random bytes drawn a few kilobytes at a time: a call into the CSPRNG for 16 bytes took about 20 us
 * on the machine the figures come from, more than the rest of building an id, and the worker makes
 * one for most events it applies (in a CPU profile of a mixed backlog, the entitlement events' ids
 * took 393 ms of the worker's time; with the pool, every id together about 130 ms). They are ids, not
 * secrets: nothing else reads the pool.
 */
import { randomBytes } from 'node:crypto'

const POOL_BYTES = 8_192
let pool = Buffer.alloc(0)
let used = 0

function nextRandomBytes (length: number): Buffer {
  if (used + length > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, length))
    used = 0
  }
  const bytes = pool.subarray(used, used + length)
  used += length
  return bytes
}

const BASE36 = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** `prefix` and `length` characters of [a-z0-9]. */
export function randomBase36Id (prefix: string, length: number): string {
  const bytes = nextRandomBytes(length)
  let id = prefix
  for (const byte of bytes) id += BASE36[byte % BASE36.length]
  return id
}

/** `prefix` and `bytes` random bytes in hex. */
export function randomHexId (prefix: string, bytes: number): string {
  return prefix + nextRandomBytes(bytes).toString('hex')
}
