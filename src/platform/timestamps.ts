// Paddle timestamps carry microseconds (sometimes nanoseconds); a JS Date keeps milliseconds.
// Inside the service every instant is a canonical string `YYYY-MM-DDTHH:MM:SS.ffffffZ`: UTC,
// exactly six fraction digits, so that string order is time order.

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Parses RFC 3339 (or PostgreSQL's text output) into the canonical form; null when it is not a timestamp. */
export function parseTimestamp (value: unknown): string | null {
  if (typeof value !== 'string') return null
  // Paddle's usual form is already canonical: check it in place, without a regex or a Date (the hot path).
  if (value.length === 27 && isValidCanonical(value)) return value
  const inUtc = fromUtcText(value)
  if (inUtc !== null) return inUtc
  const match = TIMESTAMP.exec(value)
  if (match === null) return null
  const [, year, month, day, hour, minute, second, fraction = '', , sign, offsetHours = '0', offsetMinutes = '0'] = match
  const fields = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number]
  const [y, mo, d, h, mi, s] = fields
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null
  const local = Date.UTC(y, mo - 1, d, h, mi, s)
  const check = new Date(local)
  if (check.getUTCDate() !== d) return null // 31 February and the like
  const offset = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes))
  const utc = new Date(local - offset * 60_000)
  if (Number.isNaN(utc.getTime()) || utc.getUTCFullYear() > 9999 || utc.getUTCFullYear() < 1) return null
  const micros = fraction.padEnd(6, '0').slice(0, 6)
  return `${utc.toISOString().slice(0, 19)}.${micros}Z`
}

/**
 * PostgreSQL's own forms of a UTC instant, what every timestamp read back from storage looks like
 * (its text output `2024-04-12 10:18:49.7389+00`, its JSON `2024-04-12T10:18:49.738971+00:00`), and
 * Z forms with fewer fraction digits: rewritten in place, without the regex and the Dates the general
 * case needs (it was the worker's costliest function of its own). Null for anything else.
 */
function fromUtcText (value: string): string | null {
  let end = value.length
  if (value.endsWith('+00:00')) end -= 6
  else if (value.endsWith('+00')) end -= 3
  else if (value.endsWith('Z')) end -= 1
  else return null
  const separator = value.charCodeAt(10)
  if (separator !== 32 && separator !== 84) return null
  let fraction = '000000'
  if (end !== 19) {
    if (end < 21 || end > 26 || value.charCodeAt(19) !== 46) return null
    fraction = value.slice(20, end).padEnd(6, '0')
  }
  const candidate = `${value.slice(0, 10)}T${value.slice(11, 19)}.${fraction}Z`
  return isValidCanonical(candidate) ? candidate : null
}

/** Digits at 0-3, 5-6, 8-9, 11-12, 14-15, 17-18, 20-25; separators `-`, `-`, `T`, `:`, `:`, `.`, `Z`; a real date. */
function isValidCanonical (value: string): boolean {
  if (value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45 || value.charCodeAt(10) !== 84 || value.charCodeAt(13) !== 58 ||
    value.charCodeAt(16) !== 58 || value.charCodeAt(19) !== 46 || value.charCodeAt(26) !== 90) return false
  for (let index = 20; index < 26; index += 1) if (digitAt(value, index) < 0) return false
  const year = number(value, 0, 4)
  const month = number(value, 5, 2)
  const day = number(value, 8, 2)
  const hour = number(value, 11, 2)
  const minute = number(value, 14, 2)
  const second = number(value, 17, 2)
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  return day <= (month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1] ?? 0)
}

function digitAt (value: string, index: number): number {
  const code = value.charCodeAt(index) - 48
  return code >= 0 && code <= 9 ? code : -1
}

/** The decimal number in `length` digits from `start`; negative when any of them is not a digit. */
function number (value: string, start: number, length: number): number {
  let result = 0
  for (let index = start; index < start + length; index += 1) {
    const digit = digitAt(value, index)
    if (digit < 0) return -1
    result = result * 10 + digit
  }
  return result
}

/** Like parseTimestamp, for values already known to be valid (read back from our own storage). */
export function canonicalTimestamp (value: string): string {
  const parsed = parseTimestamp(value)
  if (parsed === null) throw new TypeError(`not a timestamp: ${value}`)
  return parsed
}

/** Epoch microseconds as a bigint: exact arithmetic over canonical timestamps. */
export function toEpochMicros (canonical: string): bigint {
  const millis = BigInt(Date.parse(`${canonical.slice(0, 19)}Z`))
  return millis * 1000n + BigInt(canonical.slice(20, 26))
}

export function fromEpochMicros (micros: bigint): string {
  // Floored, so that an instant before 1970 keeps a fraction in 0-999.
  let millis = micros / 1000n
  let remainder = micros - millis * 1000n
  if (remainder < 0n) {
    millis -= 1n
    remainder += 1000n
  }
  const date = new Date(Number(millis))
  const fraction = String(date.getUTCMilliseconds() * 1000 + Number(remainder)).padStart(6, '0')
  return `${date.toISOString().slice(0, 19)}.${fraction}Z`
}

export function timestampFromDate (date: Date): string {
  return fromEpochMicros(BigInt(date.getTime()) * 1000n)
}

const MICROS_PER_DAY = 86_400_000_000n

export function addDays (canonical: string, days: number): string {
  return fromEpochMicros(toEpochMicros(canonical) + BigInt(days) * MICROS_PER_DAY)
}

export function addSeconds (canonical: string, seconds: number): string {
  return fromEpochMicros(toEpochMicros(canonical) + BigInt(Math.round(seconds * 1_000_000)))
}
