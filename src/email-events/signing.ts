/**
 * Standard Webhooks signatures for the pushed email events: `webhook-signature: v1,<base64 HMAC-SHA256>`
 * over `${webhook-id}.${webhook-timestamp}.${body}`, keyed by the bytes of a `whsec_<base64>` secret.
 * @see https://www.standardwebhooks.com/
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

function secretBytes (secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
}

export function signStandardWebhook (secret: string, id: string, timestampSeconds: number, body: string): string {
  const signature = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')
  return `v1,${signature}`
}

export function standardWebhookHeaders (secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signStandardWebhook(secret, id, timestampSeconds, body),
  }
}

/** What a receiver does: any of the space-separated `v1,` signatures may match; the timestamp must be recent. */
export function verifyStandardWebhook (
  secret: string,
  headers: { id?: string, timestamp?: string, signature?: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300
): boolean {
  const { id, timestamp, signature } = headers
  if (id === undefined || timestamp === undefined || signature === undefined || !/^\d+$/.test(timestamp)) return false
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false
  const expected = Buffer.from(signStandardWebhook(secret, id, Number(timestamp), body).slice(3), 'base64')
  return signature.split(' ').some((candidate) => {
    if (!candidate.startsWith('v1,')) return false
    const given = Buffer.from(candidate.slice(3), 'base64')
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
