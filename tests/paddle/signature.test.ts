import { readFileSync } from 'node:fs'
import { Paddle } from '@paddle/paddle-node-sdk'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { computeSignature, signPaddlePayload, verifyPaddleSignature } from '#src/paddle/signature.js'
import { FIXTURES_DIR } from '../helpers/paddle.js'

interface Vector {
  name: string
  secret?: string
  secrets?: string[]
  paddle_signature: string
  ts: number
  body?: string
  body_file?: string
  expected_valid: boolean
}
interface VectorFile {
  vectors: Vector[]
  malformed_headers_node_sdk: { cases: Array<{ name: string, paddle_signature: string }> }
  node_sdk_time_tolerance_cases: { header: string, body: string, secret: string, cases: Array<{ now_utc: string, expected_valid: boolean }> }
}

const vectorFile = JSON.parse(readFileSync(new URL('signature/vectors.json', FIXTURES_DIR), 'utf8')) as VectorFile

function bodyOf (vector: Vector): Buffer {
  // Raw files hold the exact signed bytes; read them as bytes, never through JSON.
  if (vector.body_file !== undefined) return readFileSync(new URL(`signature/${vector.body_file}`, FIXTURES_DIR))
  return Buffer.from(vector.body ?? '', 'utf8')
}

const verify = (header: string | undefined, rawBody: Buffer | string, secrets: string[], nowSeconds: number, toleranceSeconds = 300) =>
  verifyPaddleSignature({ header, rawBody, secrets, nowSeconds, toleranceSeconds })

describe('verifyPaddleSignature', () => {
  describe.each(vectorFile.vectors)('shared vector: $name', (vector) => {
    it(`is ${vector.expected_valid ? 'accepted' : 'rejected'} when the clock allows its age`, () => {
      const secrets = vector.secrets ?? [vector.secret ?? '']
      const verdict = verify(vector.paddle_signature, bodyOf(vector), secrets, vector.ts)
      expect(verdict.valid).toBe(vector.expected_valid)
    })
  })

  it('reads the raw body files byte for byte (the \\u escapes stay escapes)', () => {
    const special = vectorFile.vectors.find((vector) => vector.body_file?.includes('special-chars') === true)
    expect(special).toBeDefined()
    const raw = bodyOf(special as Vector)
    expect(raw.toString('utf8')).toContain('\\u00dc')
    const reserialised = JSON.stringify(JSON.parse(raw.toString('utf8')))
    expect(verify(special?.paddle_signature, reserialised, [special?.secret ?? ''], special?.ts ?? 0)).toMatchObject({
      valid: false,
      reason: 'no_matching_signature',
    })
  })

  it.each(vectorFile.malformed_headers_node_sdk.cases)('reports "$paddle_signature" as malformed', ({ paddle_signature: header }) => {
    expect(verify(header, '{"data": ["1", "2"]}', ['VALID_SECRET'], 1234)).toEqual({ valid: false, reason: 'malformed_header' })
  })

  it.each(vectorFile.node_sdk_time_tolerance_cases.cases)('with a 5 s tolerance, agrees with the SDK at $now_utc', ({ now_utc: now, expected_valid: expected }) => {
    const { header, body, secret } = vectorFile.node_sdk_time_tolerance_cases
    expect(verify(header, body, [secret], Date.parse(now) / 1000, 5).valid).toBe(expected)
  })

  const secret = 'pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_current0000000000000000000000'
  const previous = 'pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_previous000000000000000000000'
  const body = '{"event_id":"evt_01","event_type":"customer.created","occurred_at":"2024-01-01T00:00:00Z","data":{}}'
  const now = 1_800_000_000

  it('accepts a signature made with a second configured secret, and says which one matched', () => {
    const header = signPaddlePayload(secret, body, now)
    expect(verify(header, body, [previous, secret], now)).toEqual({ valid: true, secretIndex: 1, timestamp: now })
  })

  it('accepts a header whose bad h1 comes before the good one (the SDK keeps only the last)', () => {
    const good = computeSignature(secret, String(now), body).toString('hex')
    const bad = computeSignature(previous, String(now), body).toString('hex')
    expect(verify(`ts=${now};h1=${bad};h1=${good}`, body, [secret], now).valid).toBe(true)
    expect(verify(`ts=${now};h1=${good};h1=${bad}`, body, [secret], now).valid).toBe(true)
  })

  it('rejects the body with any one byte flipped', () => {
    const header = signPaddlePayload(secret, body, now)
    const bytes = Buffer.from(body)
    for (let index = 0; index < bytes.length; index += 1) {
      const flipped = Buffer.from(bytes)
      flipped[index] = (flipped[index] ?? 0) ^ 0x01
      expect(verify(header, flipped, [secret], now)).toMatchObject({ valid: false, reason: 'no_matching_signature' })
    }
  })

  it('rejects the same JSON re-serialised with other whitespace', () => {
    const header = signPaddlePayload(secret, body, now)
    expect(verify(header, JSON.stringify(JSON.parse(body), null, 2), [secret], now).valid).toBe(false)
  })

  it('rejects timestamps beyond the tolerance in either direction, and accepts them at its edge', () => {
    const tolerance = 300
    const sign = (ts: number) => signPaddlePayload(secret, body, ts)
    expect(verify(sign(now - tolerance), body, [secret], now, tolerance).valid).toBe(true)
    expect(verify(sign(now + tolerance), body, [secret], now, tolerance).valid).toBe(true)
    expect(verify(sign(now - tolerance - 1), body, [secret], now, tolerance)).toMatchObject({ valid: false, reason: 'stale_timestamp' })
    expect(verify(sign(now + tolerance + 1), body, [secret], now, tolerance)).toMatchObject({ valid: false, reason: 'future_timestamp' })
  })

  it('reports a missing header, and two Paddle-Signature headers as malformed', () => {
    expect(verify(undefined, body, [secret], now)).toEqual({ valid: false, reason: 'missing_header' })
    expect(verify('', body, [secret], now)).toEqual({ valid: false, reason: 'missing_header' })
    const header = signPaddlePayload(secret, body, now)
    expect(verifyPaddleSignature({ header: [header, header], rawBody: body, secrets: [secret], nowSeconds: now, toleranceSeconds: 5 }))
      .toEqual({ valid: false, reason: 'malformed_header' })
  })

  it('reports malformed headers: spaces after separators, a second ts, a non-numeric ts', () => {
    const good = computeSignature(secret, String(now), body).toString('hex')
    for (const header of [`ts=${now}; h1=${good}`, `ts=${now};ts=${now};h1=${good}`, `ts=abc;h1=${good}`, `h1=${good}`, `ts=${now}`]) {
      expect(verify(header, body, [secret], now).valid, header).toBe(false)
      expect(verify(header, body, [secret], now)).toMatchObject({ reason: 'malformed_header' })
    }
  })

  it('never verifies a random header (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 200 }), (header, randomBody) => {
      expect(verify(header, randomBody, [secret], now).valid).toBe(false)
    }), { numRuns: 2000 })
  })

  it('never verifies random ts/h1 pairs of the right shape (property)', () => {
    const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/)
    fc.assert(fc.property(fc.integer({ min: now - 200, max: now + 200 }), fc.array(hex64, { minLength: 1, maxLength: 4 }), (ts, h1s) => {
      const header = [`ts=${ts}`, ...h1s.map((h1) => `h1=${h1}`)].join(';')
      expect(verify(header, body, [secret, previous], now).valid).toBe(false)
    }), { numRuns: 1000 })
  })
})

describe('agreement with @paddle/paddle-node-sdk on single-h1 headers', () => {
  // The SDK's crypto provider is registered by constructing a Paddle client.
  const sdk = new Paddle('pdl_sdbx_apikey_not_used_here').webhooks
  afterEach(() => { vi.useRealTimers() })

  it('gives the same verdict for genuine, tampered, foreign and expired signatures (property)', async () => {
    const secretArb = fc.string({ minLength: 1, maxLength: 60 }).filter((value) => !value.includes('\u0000'))
    const variantArb = fc.constantFrom('genuine', 'other-body', 'other-secret', 'random-hex', 'truncated')
    await fc.assert(fc.asyncProperty(
      secretArb, secretArb, fc.string({ maxLength: 400 }), variantArb,
      fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }), fc.integer({ min: 0, max: 20 }),
      async (secretValue, otherSecret, payload, variant, ts, age) => {
        const genuine = computeSignature(secretValue, String(ts), payload).toString('hex')
        const h1 = {
          genuine,
          'other-body': computeSignature(secretValue, String(ts), `${payload} `).toString('hex'),
          'other-secret': computeSignature(`${otherSecret}x`, String(ts), payload).toString('hex'),
          'random-hex': genuine.split('').reverse().join(''),
          truncated: genuine.slice(0, 63),
        }[variant]
        const header = `ts=${ts};h1=${h1}`
        vi.useFakeTimers({ toFake: ['Date'] })
        vi.setSystemTime((ts + age) * 1000)
        const sdkVerdict = await sdk.isSignatureValid(payload, secretValue, header)
        vi.useRealTimers()
        // The SDK's window is 5 s into the past; ours, configured the same, must match it.
        const ours = verify(header, payload, [secretValue], ts + age, 5)
        expect(ours.valid).toBe(sdkVerdict)
      }
    ), { numRuns: 500 })
  })
})
