/**
 * Verification of the `Paddle-Signature` header: `ts=<unix seconds>;h1=<hex HMAC-SHA256>[;h1=...]`,
 * where each h1 is HMAC-SHA256(secret, `${ts}:${rawBody}`).
 *
 * Stricter than the official Node SDK, which keeps only the last h1, compares with `===` and accepts
 * any future timestamp: here any h1 may match under any configured secret (rotation), every
 * comparison is constant-time, and the timestamp must lie within the tolerance on both sides.
 * @see https://developer.paddle.com/webhooks/signature-verification
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_FAILURE_REASONS = [
  'missing_header',
  'malformed_header',
  'stale_timestamp',
  'future_timestamp',
  'no_matching_signature',
] as const
export type SignatureFailureReason = typeof SIGNATURE_FAILURE_REASONS[number]

export type SignatureVerdict =
  | { valid: true, secretIndex: number, timestamp: number }
  | { valid: false, reason: SignatureFailureReason, timestamp?: number }

export interface VerifySignatureInput {
  header: string | string[] | undefined
  rawBody: Buffer | string
  secrets: readonly string[]
  nowSeconds: number
  toleranceSeconds: number
}

interface ParsedHeader { ts: string, signatures: Buffer[] }

const HEX_SHA256 = /^[0-9a-f]{64}$/
const DIGITS = /^\d{1,12}$/

export function parseSignatureHeader (header: string): ParsedHeader | null {
  let ts: string | undefined
  let h1Count = 0
  const signatures: Buffer[] = []
  for (const part of header.split(';')) {
    const separator = part.indexOf('=')
    const key = part.slice(0, separator)
    const value = part.slice(separator + 1)
    // Parts without a value and unknown keys (h2, ...) are ignored, as Paddle's SDKs do.
    if (separator <= 0 || value === '') continue
    if (key === 'ts') {
      if (ts !== undefined || !DIGITS.test(value)) return null
      ts = value
    } else if (key === 'h1') {
      h1Count += 1
      // A digest that is not 64 hex digits can never match; keep only the ones that could.
      if (HEX_SHA256.test(value)) signatures.push(Buffer.from(value, 'hex'))
    }
  }
  if (ts === undefined || h1Count === 0) return null
  return { ts, signatures }
}

export function computeSignature (secret: string, ts: string, rawBody: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(`${ts}:`).update(rawBody).digest()
}

export function verifyPaddleSignature (input: VerifySignatureInput): SignatureVerdict {
  const { header } = input
  if (header === undefined || header === '') return { valid: false, reason: 'missing_header' }
  // Two Paddle-Signature headers are not something Paddle sends.
  if (Array.isArray(header)) return { valid: false, reason: 'malformed_header' }
  const parsed = parseSignatureHeader(header)
  if (parsed === null) return { valid: false, reason: 'malformed_header' }

  const timestamp = Number(parsed.ts)
  if (timestamp < input.nowSeconds - input.toleranceSeconds) return { valid: false, reason: 'stale_timestamp', timestamp }
  if (timestamp > input.nowSeconds + input.toleranceSeconds) return { valid: false, reason: 'future_timestamp', timestamp }

  // Every (secret, h1) pair is compared, whichever matches first, so timing says nothing about
  // which secret or which h1 was right.
  let matchedIndex = -1
  input.secrets.forEach((secret, index) => {
    const expected = computeSignature(secret, parsed.ts, input.rawBody)
    for (const signature of parsed.signatures) {
      if (timingSafeEqual(expected, signature) && matchedIndex === -1) matchedIndex = index
    }
  })
  if (matchedIndex === -1) return { valid: false, reason: 'no_matching_signature', timestamp }
  return { valid: true, secretIndex: matchedIndex, timestamp }
}

/** Builds a header as Paddle would: for tests, the benchmark and `npm run paddle:send`. */
export function signPaddlePayload (secret: string, rawBody: Buffer | string, ts: number): string {
  return `ts=${ts};h1=${computeSignature(secret, String(ts), rawBody).toString('hex')}`
}
