/**
 * A URL that carries credentials would leak them wherever the URL is logged or stored (the
 * dispatcher logs its target, failed deliveries keep their error): such a URL is refused at start-up,
 * and the refusal itself does not repeat the secret.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError } from '#src/platform/config.js'
import { testConfig } from '../helpers/app.js'
import { spawnService } from '../helpers/process.js'
import { processEnv } from './harness.js'

const SIGNING_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`

describe('secrets inside URLs', () => {
  it.each([
    ['user and password', 'http://mailer:PASSWORD-123@mail.internal/hooks', /user:password@/],
    ['a token in the query', 'https://mail.internal/hooks?token=TOKEN-456', /query \(token\)/],
    ['an API key in the query', 'https://mail.internal/hooks?api_key=KEY-789&region=eu', /query \(api_key\)/],
  ])('refuses EMAIL_EVENTS_URL with %s, naming the problem, not the value', (_case, url, problem) => {
    let error: unknown
    try {
      testConfig({ EMAIL_EVENTS_URL: url, EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as Error).message
    expect(message).toMatch(/EMAIL_EVENTS_URL: must not carry credentials/)
    expect(message).toMatch(problem)
    for (const secret of ['PASSWORD-123', 'TOKEN-456', 'KEY-789']) expect(message).not.toContain(secret)
  })

  it('accepts a plain URL with harmless query parameters', () => {
    expect(testConfig({ EMAIL_EVENTS_URL: 'https://mail.internal/hooks?region=eu', EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET }).EMAIL_EVENTS_URL)
      .toBe('https://mail.internal/hooks?region=eu')
  })

  it('stops the process at start-up with exit 78 and a message without the password', async () => {
    const child = spawnService('src/worker.ts', processEnv('postgres://postgres@127.0.0.1:1/none', {
      EMAIL_EVENTS_URL: 'http://user:PASSWORD-123@127.0.0.1:9/h?token=TOKEN-456',
      EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET,
    }))
    const { code } = await child.exited
    expect(code).toBe(78)
    expect(child.output()).toMatch(/EMAIL_EVENTS_URL: must not carry credentials/)
    expect(child.output()).not.toContain('PASSWORD-123')
    expect(child.output()).not.toContain('TOKEN-456')
  })
})
