import { timestampFromDate } from './timestamps.js'

/** Milliseconds since the epoch. Injected wherever time matters, so tests can hold it still. */
export type Clock = () => number

export const systemClock: Clock = () => Date.now()

/** The clock's current instant as a canonical timestamp. */
export function nowTimestamp (clock: Clock): string {
  return timestampFromDate(new Date(clock()))
}
