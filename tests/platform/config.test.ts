import { describe, expect, it } from 'vitest'
import { ConfigError, DEVELOPMENT_API_TOKEN, DEVELOPMENT_WEBHOOK_SECRET, loadConfig } from '#src/platform/config.js'
import { spawnService } from '../helpers/process.js'

const valid = {
  DATABASE_URL: 'postgres://billing:change-me@db.internal:5432/billing',
  PADDLE_WEBHOOK_SECRETS: 'pdl_ntfset_01abc_current,pdl_ntfset_01abc_previous',
  INTERNAL_API_TOKENS: 'a-token-of-sufficient-length',
}

function problemsOf (env: Record<string, string>, options: { role?: 'service' | 'worker', development?: boolean } = {}): string[] {
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
    expect(loadConfig({ env: { DATABASE_URL: valid.DATABASE_URL }, role: 'worker' }).PADDLE_WEBHOOK_SECRETS).toEqual([])
  })

  it('fills in the committed development credentials only when asked to', () => {
    const config = loadConfig({ env: {}, development: true })
    expect(config.PADDLE_WEBHOOK_SECRETS).toEqual([DEVELOPMENT_WEBHOOK_SECRET])
    expect(config.INTERNAL_API_TOKENS).toEqual([DEVELOPMENT_API_TOKEN])
    expect(problemsOf({ DATABASE_URL: valid.DATABASE_URL })).toHaveLength(2)
  })
})

describe('loadConfig: which database', () => {
  const { DATABASE_URL: _url, ...withoutDatabase } = valid

  it('requires DATABASE_URL of the service and of a worker, naming it in one line', () => {
    for (const role of ['service', 'worker'] as const) {
      const problems = problemsOf(role === 'service' ? withoutDatabase : {}, { role })
      expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL: is required \(postgres:\/\/.*\); only npm run dev, or a process given PGLITE_DIR, uses the embedded PGlite database$/)])
    }
  })

  it('uses the embedded database only when asked: npm run dev, the tests, or an explicit PGLITE_DIR', () => {
    const development = loadConfig({ env: {}, development: true })
    expect(development.DATABASE_URL).toBeUndefined()
    expect(development.PGLITE_DIR).toBe('.data/pglite')
    expect(loadConfig({ env: withoutDatabase, embeddedDatabase: true }).DATABASE_URL).toBeUndefined()
    expect(loadConfig({ env: { ...withoutDatabase, PGLITE_DIR: '/tmp/billing-pglite' } }).PGLITE_DIR).toBe('/tmp/billing-pglite')
    // An empty PGLITE_DIR is unset, as every empty variable.
    expect(problemsOf({ ...withoutDatabase, PGLITE_DIR: ' ' })).toEqual([expect.stringMatching(/^DATABASE_URL: is required/)])
  })

  it('never uses the embedded database with NODE_ENV=production, whatever else asks for it', () => {
    const production = { ...withoutDatabase, NODE_ENV: 'production' }
    const expected = [expect.stringMatching(/^DATABASE_URL: is required with NODE_ENV=production \(postgres:\/\/.*\); the embedded PGlite database is for npm run dev and the tests only$/)]
    expect(problemsOf(production)).toEqual(expected)
    expect(problemsOf({ ...production, PGLITE_DIR: '/tmp/billing-pglite' })).toEqual(expected)
    expect(problemsOf(production, { development: true })).toEqual(expected)
    expect(loadConfig({ env: { ...production, DATABASE_URL: valid.DATABASE_URL } }).DATABASE_URL).toBe(valid.DATABASE_URL)
  })
})

describe('npm start without its configuration', () => {
  it('stops at start-up with a non-zero exit code and names each missing variable', async () => {
    const service = spawnService('src/server.ts', {})
    const { code } = await service.exited
    expect(code).not.toBe(0)
    expect(service.output()).toContain('PADDLE_WEBHOOK_SECRETS: is required')
    expect(service.output()).toContain('INTERNAL_API_TOKENS: is required')
    expect(service.output()).toContain('DATABASE_URL: is required')
  })

  it('refuses to start on the embedded database: without DATABASE_URL it exits before opening any', async () => {
    const { DATABASE_URL: _url, ...withoutDatabase } = valid
    for (const env of [withoutDatabase, { ...withoutDatabase, NODE_ENV: 'production' }]) {
      const service = spawnService('src/server.ts', { ...env, PORT: '0', HOST: '127.0.0.1' })
      const { code } = await service.exited
      expect(code, service.output()).toBe(78)
      // The configuration report alone: the heading and the one line naming DATABASE_URL.
      expect(service.output().trim().split('\n')).toEqual(['Invalid configuration:', expect.stringMatching(/^ {2}- DATABASE_URL: is required\b/)])
    }
  })

  it('stops with a non-zero exit code and names a malformed variable', async () => {
    const service = spawnService('src/server.ts', { ...valid, PORT: 'eighty' })
    const { code } = await service.exited
    expect(code).not.toBe(0)
    expect(service.output()).toContain('PORT: must be integer (got "eighty")')
  })
})

describe('loadConfig: reconciliation with Paddle\'s API', () => {
  const SANDBOX_KEY = 'pdl_sdbx_apikey_01hzsandboxkey000000000000_SandboxSecretPart0000000'
  const LIVE_KEY = 'pdl_live_apikey_01hzlivekey0000000000000000_LiveSecretPart000000000'

  it('applies the documented defaults: no key (reconciliation off), production, every 15 minutes, 10 s per call', () => {
    const config = loadConfig({ env: valid })
    expect(config).toMatchObject({ PADDLE_ENVIRONMENT: 'production', RECONCILE_INTERVAL_MINUTES: 15, PADDLE_API_TIMEOUT_MS: 10000 })
    expect(config.PADDLE_API_KEY).toBeUndefined()
    expect(config.PADDLE_NOTIFICATION_SETTING_ID).toBeUndefined()
    // An empty variable is unset.
    const blank = loadConfig({ env: { ...valid, PADDLE_API_KEY: ' ', PADDLE_ENVIRONMENT: '' } })
    expect(blank.PADDLE_API_KEY).toBeUndefined()
    expect(blank.PADDLE_ENVIRONMENT).toBe('production')
  })

  it.each([
    ['sandbox', SANDBOX_KEY],
    ['production', LIVE_KEY],
    ['http://127.0.0.1:8080', SANDBOX_KEY],
    ['https://sandbox-api.paddle.com', SANDBOX_KEY],
    ['https://api.paddle.com/', LIVE_KEY],
  ])('accepts PADDLE_ENVIRONMENT=%s', (environment, key) => {
    expect(loadConfig({ env: { ...valid, PADDLE_ENVIRONMENT: environment } }).PADDLE_ENVIRONMENT).toBe(environment)
    expect(loadConfig({ env: { ...valid, PADDLE_ENVIRONMENT: environment, PADDLE_API_KEY: key } })).toMatchObject({ PADDLE_ENVIRONMENT: environment, PADDLE_API_KEY: key })
  })

  it.each(['staging', 'live', 'Sandbox', 'ftp://paddle.example', 'https://', 'api.paddle.com', 'sandbox-api.paddle.com'])('refuses PADDLE_ENVIRONMENT=%s, naming the variable', (environment) => {
    expect(problemsOf({ ...valid, PADDLE_ENVIRONMENT: environment })).toEqual([expect.stringMatching(/^PADDLE_ENVIRONMENT: must match pattern/)])
  })

  it('refuses a sandbox key for the live API and a live key for the sandbox, naming both variables', () => {
    const sandboxKeyLive = problemsOf({ ...valid, PADDLE_API_KEY: SANDBOX_KEY, PADDLE_ENVIRONMENT: 'production' })
    expect(sandboxKeyLive).toEqual(['PADDLE_API_KEY: is a sandbox key but PADDLE_ENVIRONMENT is production'])
    const liveKeySandbox = problemsOf({ ...valid, PADDLE_API_KEY: LIVE_KEY, PADDLE_ENVIRONMENT: 'sandbox' })
    expect(liveKeySandbox).toEqual(['PADDLE_API_KEY: is a production key but PADDLE_ENVIRONMENT is sandbox'])
    // PADDLE_ENVIRONMENT defaults to production: a sandbox key alone is refused too.
    expect(problemsOf({ ...valid, PADDLE_API_KEY: SANDBOX_KEY })).toEqual(['PADDLE_API_KEY: is a sandbox key but PADDLE_ENVIRONMENT is production'])
    for (const problem of [...sandboxKeyLive, ...liveKeySandbox]) {
      expect(problem).not.toContain(SANDBOX_KEY)
      expect(problem).not.toContain(LIVE_KEY)
      expect(problem).not.toContain('SecretPart')
    }
  })

  it('never echoes PADDLE_API_KEY back, even when it is too short', () => {
    const short = 'pdl_sdbx_tinysecret'
    const problems = problemsOf({ ...valid, PADDLE_API_KEY: short })
    expect(problems).toEqual([expect.stringMatching(/^PADDLE_API_KEY: must NOT have fewer than 20 characters/)])
    expect(problems.join('\n')).not.toContain('tinysecret')
    // Next to another problem, still only named.
    const both = problemsOf({ ...valid, PADDLE_API_KEY: short, PADDLE_ENVIRONMENT: 'staging' })
    expect(both).toHaveLength(2)
    expect(both.join('\n')).not.toContain('tinysecret')
    expect(both.join('\n')).toContain('(got "staging")')
  })

  it('takes PADDLE_NOTIFICATION_SETTING_ID only in Paddle\'s ntfset_ form', () => {
    expect(loadConfig({ env: { ...valid, PADDLE_NOTIFICATION_SETTING_ID: 'ntfset_01hv6scjn6ex5bej5bdy4w9ax3' } }).PADDLE_NOTIFICATION_SETTING_ID)
      .toBe('ntfset_01hv6scjn6ex5bej5bdy4w9ax3')
    for (const value of ['ntf_01hv6scjn6ex5bej5bdy4w9ax3', 'ntfset_', 'ntfset_01HV6SCJN', 'pdl_ntfset_01hv6scjn6ex5bej5bdy4w9ax3', 'ntfset_01hv6scjn6ex5bej5bdy4w9ax3 x']) {
      expect(problemsOf({ ...valid, PADDLE_NOTIFICATION_SETTING_ID: value }), value)
        .toEqual([expect.stringMatching(/^PADDLE_NOTIFICATION_SETTING_ID: must match pattern/)])
    }
  })

  it('takes RECONCILE_INTERVAL_MINUTES from 0 (off) to 1440, and PADDLE_API_TIMEOUT_MS from 100 to 120000', () => {
    expect(loadConfig({ env: { ...valid, RECONCILE_INTERVAL_MINUTES: '0' } }).RECONCILE_INTERVAL_MINUTES).toBe(0)
    expect(loadConfig({ env: { ...valid, RECONCILE_INTERVAL_MINUTES: '1440' } }).RECONCILE_INTERVAL_MINUTES).toBe(1440)
    expect(problemsOf({ ...valid, RECONCILE_INTERVAL_MINUTES: '-1' })).toEqual([expect.stringMatching(/^RECONCILE_INTERVAL_MINUTES: must be >= 0/)])
    expect(problemsOf({ ...valid, RECONCILE_INTERVAL_MINUTES: '1441' })).toEqual([expect.stringMatching(/^RECONCILE_INTERVAL_MINUTES: must be <= 1440/)])
    expect(problemsOf({ ...valid, RECONCILE_INTERVAL_MINUTES: 'hourly' })).toEqual([expect.stringMatching(/^RECONCILE_INTERVAL_MINUTES: must be integer \(got "hourly"\)/)])
    expect(loadConfig({ env: { ...valid, PADDLE_API_TIMEOUT_MS: '100' } }).PADDLE_API_TIMEOUT_MS).toBe(100)
    expect(problemsOf({ ...valid, PADDLE_API_TIMEOUT_MS: '99' })).toEqual([expect.stringMatching(/^PADDLE_API_TIMEOUT_MS: must be >= 100/)])
    expect(problemsOf({ ...valid, PADDLE_API_TIMEOUT_MS: '120001' })).toEqual([expect.stringMatching(/^PADDLE_API_TIMEOUT_MS: must be <= 120000/)])
  })
})
