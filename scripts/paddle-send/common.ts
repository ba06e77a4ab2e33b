/** What paddle:send and paddle:listen share: JSON helpers, fresh ids, genuine fixtures, signed delivery. */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { signPaddlePayload } from '../../src/paddle/signature.js'
import { parseTimestamp } from '../../src/platform/timestamps.js'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }
export interface PaddleEvent { event_id: string, event_type: string, occurred_at: string, notification_id?: string | null, data: JsonObject }

export const FIXTURES = fileURLToPath(new URL('../../tests/fixtures/paddle/', import.meta.url))
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz'

/** A mistake in the command line or its input: exit code 2 and a pointer to --help. */
export class UsageError extends Error {}

export const out = (text: string): void => { process.stdout.write(`${text}\n`) }
export const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/** A Paddle-shaped id: the prefix, `_01`, then 24 random Crockford base-32 characters (26 in all, as Paddle's). */
export function freshId (prefix: string): string {
  return `${prefix}_01${[...randomBytes(24)].map((byte) => CROCKFORD[byte % 32]).join('')}`
}

/** A copy of `value` with every string passed through `change` (with the key it sits under). */
export function mapStrings (value: Json, change: (text: string, key: string) => string, key = ''): Json {
  if (typeof value === 'string') return change(value, key)
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, change, key))
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, mapStrings(item, change, name)]))
  return value
}

export function readEvent (path: string): PaddleEvent {
  let body: unknown
  try {
    body = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`)
  }
  if (!isObject(body) || typeof body.event_type !== 'string' || parseTimestamp(body.occurred_at) === null || !isObject(body.data)) {
    throw new UsageError(`${path} is not a Paddle webhook body (event_type, occurred_at and data are required)`)
  }
  return body as unknown as PaddleEvent
}

/** The `data` of the genuine fixture of an event type (tests/fixtures/paddle/<type>.json), a fresh copy each time. */
export function fixtureData (eventType: string): JsonObject {
  return structuredClone(readEvent(`${FIXTURES}${eventType}.json`).data)
}

export interface Answer { status: number, text: string }

/** POSTs one event as Paddle would: raw JSON body, `Paddle-Signature` over `ts:body` with `secret`. */
export async function postSigned (url: string, secret: string, event: PaddleEvent): Promise<Answer> {
  const body = JSON.stringify(event)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(secret, body, Math.floor(Date.now() / 1000)) },
      body,
    })
  } catch (error) {
    throw new Error(`cannot reach ${url} (${reason(error)}): is the service running? (npm run dev)`)
  }
  return { status: response.status, text: (await response.text()).trim() }
}

/** One line per event: type, event id, HTTP status, the answer's body. */
export function eventLine (event: Pick<PaddleEvent, 'event_type' | 'event_id'>, answer: Answer): string {
  return `${event.event_type.padEnd(26)} ${event.event_id}  ${answer.status}  ${answer.text}`
}

export function reason (error: unknown): string {
  const { cause } = error as { cause?: { code?: string, message?: string } }
  return cause?.code ?? cause?.message ?? (error as Error).message
}
