import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { entitlementEventsJsonSchema } from '#src/entitlements/entitlement-event.schemas.js'
import { ConfigError } from '#src/platform/config.js'
import { testConfig } from '../helpers/app.js'
import { PROJECT_ROOT } from '../helpers/process.js'

describe('docs/entitlement-events.schema.json', () => {
  it('is the JSON Schema of the definition the service uses (run npm run entitlement-events:schema after changing it)', () => {
    const committed = JSON.parse(readFileSync(`${PROJECT_ROOT}docs/entitlement-events.schema.json`, 'utf8')) as unknown
    expect(committed).toEqual(entitlementEventsJsonSchema())
  })
})

describe('ENTITLEMENT_EVENTS_URL and its signing secret', () => {
  const secret = 'whsec_' + Buffer.alloc(32, 1).toString('base64')
  const problems = (env: Record<string, string>): string => {
    try {
      testConfig(env)
      return ''
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      return error.message
    }
  }

  it('needs its own secret, validated like the email one', () => {
    expect(problems({ ENTITLEMENT_EVENTS_URL: 'https://product.internal/hooks' })).toContain('ENTITLEMENT_EVENTS_SIGNING_SECRET: is required')
    expect(problems({ ENTITLEMENT_EVENTS_URL: 'https://product.internal/hooks', ENTITLEMENT_EVENTS_SIGNING_SECRET: 'whsec_c2hvcnQ=' }))
      .toContain('ENTITLEMENT_EVENTS_SIGNING_SECRET: must be whsec_')
    expect(problems({ ENTITLEMENT_EVENTS_URL: 'https://product.internal/hooks?token=abc', ENTITLEMENT_EVENTS_SIGNING_SECRET: secret }))
      .toContain('ENTITLEMENT_EVENTS_URL')
    // The email secret does not sign entitlement events.
    expect(problems({ ENTITLEMENT_EVENTS_URL: 'https://product.internal/hooks', EMAIL_EVENTS_SIGNING_SECRET: secret })).toContain('ENTITLEMENT_EVENTS_SIGNING_SECRET: is required')
    expect(testConfig({ ENTITLEMENT_EVENTS_URL: 'https://product.internal/hooks', ENTITLEMENT_EVENTS_SIGNING_SECRET: secret }).ENTITLEMENT_EVENTS_URL)
      .toBe('https://product.internal/hooks')
  })
})
