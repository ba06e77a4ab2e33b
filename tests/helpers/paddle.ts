import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { TEST_WEBHOOK_SECRET } from './app.js'

export const FIXTURES_DIR = new URL('../fixtures/paddle/', import.meta.url)

export interface PaddleEvent {
  event_id: string
  event_type: string
  occurred_at: string
  notification_id?: string | null
  data: Record<string, any>
}

export function readFixture<T = PaddleEvent> (relativePath: string): T {
  return JSON.parse(readFileSync(new URL(relativePath, FIXTURES_DIR), 'utf8')) as T
}

/** The one-file-per-event-type genuine examples (top level of the fixtures folder). */
export function eventTypeFixtures (): string[] {
  return readdirSync(FIXTURES_DIR).filter((name) => name.endsWith('.json')).sort()
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** A Paddle-shaped id: prefix, underscore, 26 lowercase alphanumerics. */
export function paddleId (prefix: string): string {
  const bytes = randomBytes(26)
  return `${prefix}_${[...bytes].map((byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('')}`
}

/** The same event as a new delivery of a new event: fresh event and notification ids. */
export function withFreshEventIds<T extends PaddleEvent> (event: T): T {
  return { ...structuredClone(event), event_id: paddleId('evt'), notification_id: paddleId('ntf') }
}

export interface DeliverOptions {
  secret?: string
  timestamp?: number
  headers?: Record<string, string>
}

export async function deliver (
  app: FastifyInstance,
  event: PaddleEvent | string,
  options: DeliverOptions = {}
): Promise<LightMyRequestResponse> {
  const body = typeof event === 'string' ? event : JSON.stringify(event)
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
  return await app.inject({
    method: 'POST',
    url: '/webhooks/paddle',
    headers: {
      'content-type': 'application/json',
      'paddle-signature': signPaddlePayload(options.secret ?? TEST_WEBHOOK_SECRET, body, timestamp),
      ...options.headers,
    },
    payload: body,
  })
}
