import { describe, expect, it } from 'vitest'
import { ConfigError, DEVELOPMENT_API_TOKEN, DEVELOPMENT_WEBHOOK_SECRET, loadConfig } from '#src/platform/config.js'
import { spawnService } from '../helpers/process.js'

const valid = {
  PADDLE_WEBHOOK_SECRETS: 'pdl_ntfset_01abc_current,pdl_ntfset_01abc_previous',
  INTERNAL_API_TOKENS: 'a-token-of-sufficient-length',
}

function problemsOf (env: Record<string, string>, options: { role?: 'service' | 'worker' } = {}): string[] {
  try {
    loadConfig({ env, ...options })
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).problems
  }
  return []
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ env: valid })
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '0.0.0.0',
      PGLITE_DIR: '.data/pglite',
      PADDLE_WEBHOOK_TOLERANCE_SECONDS: 300,
      WEBHOOK_BODY_LIMIT_BYTES: 1048576,
      LOG_LEVEL: 'info',
      MIGRATE_ON_START: true,
      ACCOUNT_ID_CUSTOM_DATA_KEY: 'account_id',
    })
    expect(config.DATABASE_URL).toBeUndefined()
    expect(config.PADDLE_WEBHOOK_SECRETS).toEqual(['pdl_ntfset_01abc_current', 'pdl_ntfset_01abc_previous'])
  })

  it.each(['PADDLE_WEBHOOK_SECRETS', 'INTERNAL_API_TOKENS'])('names %s when it is missing or empty', (name) => {
    const env: Record<string, string> = { ...valid }
    delete env[name]
    expect(problemsOf(env)).toEqual([expect.stringMatching(new RegExp(`^${name}: is required`))])
    expect(problemsOf({ ...valid, [name]: '  ' })).toEqual([expect.stringMatching(new RegExp(`^${name}: is required`))])
  })

  it.each([
    ['PORT', 'abc', /^PORT: must be integer \(got "abc"\)/],
    ['PORT', '70000', /^PORT: must be <= 65535/],
    ['PADDLE_WEBHOOK_TOLERANCE_SECONDS', '-5', /^PADDLE_WEBHOOK_TOLERANCE_SECONDS: must be >= 1/],
    ['WEBHOOK_BODY_LIMIT_BYTES', 'lots', /^WEBHOOK_BODY_LIMIT_BYTES: must be integer/],
    ['LOG_LEVEL', 'loud', /^LOG_LEVEL: must be equal to one of the allowed values: fatal, error, warn, info, debug, trace, silent/],
    ['MIGRATE_ON_START', 'yes', /^MIGRATE_ON_START: must be boolean/],
    ['DATABASE_URL', 'mysql://root@db/billing', /^DATABASE_URL: must be a postgres:\/\//],
    ['PADDLE_WEBHOOK_SECRETS', 'pdl_a,,pdl_b', /^PADDLE_WEBHOOK_SECRETS: contains an empty item/],
    ['INTERNAL_API_TOKENS', 'short', /^INTERNAL_API_TOKENS: every item must be at least 16 characters/],
  ])('names %s when it is malformed (%s)', (name, value, expected) => {
    expect(problemsOf({ ...valid, [name]: value })).toEqual([expect.stringMatching(expected)])
  })

  it('requires a valid Standard Webhooks signing secret when email events are pushed', () => {
    expect(problemsOf({ ...valid, EMAIL_EVENTS_URL: 'https://email.internal/hooks' }))
      .toEqual([expect.stringMatching(/^EMAIL_EVENTS_SIGNING_SECRET: is required when EMAIL_EVENTS_URL is set/)])
    expect(problemsOf({ ...valid, EMAIL_EVENTS_URL: 'https://email.internal/hooks', EMAIL_EVENTS_SIGNING_SECRET: 'whsec_c2hvcnQ=' }))
      .toEqual([expect.stringMatching(/^EMAIL_EVENTS_SIGNING_SECRET: must be whsec_ followed by at least 24 bytes/)])
    expect(problemsOf({ ...valid, EMAIL_EVENTS_URL: 'ftp://email.internal' })).toEqual(expect.arrayContaining([expect.stringMatching(/^EMAIL_EVENTS_URL: must match pattern/)]))
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`
    expect(loadConfig({ env: { ...valid, EMAIL_EVENTS_URL: 'https://email.internal/hooks', EMAIL_EVENTS_SIGNING_SECRET: secret } }).EMAIL_EVENTS_SIGNING_SECRET).toBe(secret)
  })

  it('never echoes a secret value back, even a malformed one', () => {
    const problems = problemsOf({ ...valid, INTERNAL_API_TOKENS: 'tiny-secret', DATABASE_URL: 'mysql://user:hunter2@db/x' })
    expect(problems.join('\n')).not.toContain('tiny-secret')
    expect(problems.join('\n')).not.toContain('hunter2')
    expect(problems).toHaveLength(2)
  })

  it('lets a worker-only process start without webhook secrets or API tokens', () => {
    expect(loadConfig({ env: {}, role: 'worker' }).PADDLE_WEBHOOK_SECRETS).toEqual([])
  })

  it('fills in the committed development credentials only when asked to', () => {
    const config = loadConfig({ env: {}, development: true })
    expect(config.PADDLE_WEBHOOK_SECRETS).toEqual([DEVELOPMENT_WEBHOOK_SECRET])
    expect(config.INTERNAL_API_TOKENS).toEqual([DEVELOPMENT_API_TOKEN])
    expect(problemsOf({})).toHaveLength(2)
  })
})

describe('npm start without its configuration', () => {
  it('stops at start-up with a non-zero exit code and names each missing variable', async () => {
    const service = spawnService('src/server.ts', {})
    const { code } = await service.exited
    expect(code).not.toBe(0)
    expect(service.output()).toContain('PADDLE_WEBHOOK_SECRETS: is required')
    expect(service.output()).toContain('INTERNAL_API_TOKENS: is required')
  })

  it('stops with a non-zero exit code and names a malformed variable', async () => {
    const service = spawnService('src/server.ts', { ...valid, PORT: 'eighty' })
    const { code } = await service.exited
    expect(code).not.toBe(0)
    expect(service.output()).toContain('PORT: must be integer (got "eighty")')
  })
})
