// The only module that reads process.env. Everything else receives a Config.
import { existsSync } from 'node:fs'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import envSchema from 'env-schema'

/** Committed, clearly non-secret values used only by `npm run dev`. */
export const DEVELOPMENT_WEBHOOK_SECRET = 'pdl_ntfset_development0000000000000000000_NOT_A_SECRET_local_only'
export const DEVELOPMENT_API_TOKEN = 'dev-internal-token-NOT-A-SECRET'
/** package.json's name: the default OTEL_SERVICE_NAME (a test checks they agree). */
export const PACKAGE_NAME = 'tracksera-billing'

const commaList = (description: string) =>
  Type.Unsafe<string[]>({ type: 'string', separator: ',', description })

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const oneOf = <const T extends readonly string[]>(values: T, description: string, defaultValue: T[number]) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], description, default: defaultValue })

const integer = (description: string, options: { default?: number, minimum?: number, maximum?: number }) =>
  Type.Integer({ description, ...options })

export const ConfigSchema = Type.Object({
  PORT: integer('HTTP listen port', { default: 3000, minimum: 0, maximum: 65535 }),
  HOST: Type.String({ description: 'HTTP listen address', default: '0.0.0.0', minLength: 1 }),
  DATABASE_URL: Type.Optional(Type.String({
    description: 'PostgreSQL connection string. Required, except by npm run dev and processes given PGLITE_DIR, which use the embedded PGlite database',
  })),
  PGLITE_DIR: Type.String({ description: 'Data directory of the embedded PGlite database', default: '.data/pglite', minLength: 1 }),
  DATABASE_POOL_MAX: integer('Largest number of PostgreSQL connections this process opens', { default: 10, minimum: 2, maximum: 200 }),
  DATABASE_CONNECT_TIMEOUT_SECONDS: Type.Optional(integer('Give up start-up (exit 1) when the database has not answered for this long; unset: keep retrying, not ready meanwhile', { minimum: 1, maximum: 86400 })),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: integer('PostgreSQL ends a session of ours idle inside a transaction this long (a frozen process), freeing its locks', { default: 10000, minimum: 1000, maximum: 600000 }),
  DATABASE_LOCK_TIMEOUT_MS: integer('A statement of ours waiting this long for a lock fails (and is retried) instead of queueing', { default: 5000, minimum: 100, maximum: 600000 }),
  HTTP_REQUEST_TIMEOUT_MS: integer('A request whose headers and body have not fully arrived in this time is answered 408 and its connection closed', { default: 30000, minimum: 1000, maximum: 600000 }),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: integer('An idle keep-alive connection is closed after this long', { default: 72000, minimum: 1000, maximum: 600000 }),
  HTTP_MAX_CONNECTIONS: integer('Open HTTP connections accepted at once; more are dropped until some close', { default: 1024, minimum: 16, maximum: 65536 }),
  PADDLE_WEBHOOK_SECRETS: Type.Optional(commaList('Comma-separated Paddle endpoint secret keys (pdl_ntfset_...); several during rotation. Required by the service')),
  PADDLE_WEBHOOK_TOLERANCE_SECONDS: integer('Accepted clock skew of the signature timestamp, past and future', { default: 300, minimum: 1, maximum: 86400 }),
  INTERNAL_API_TOKENS: Type.Optional(commaList('Comma-separated bearer tokens accepted on /internal/*. Required by the service')),
  WEBHOOK_BODY_LIMIT_BYTES: integer('Largest accepted webhook body', { default: 1048576, minimum: 1024, maximum: 104857600 }),
  ACCOUNT_ID_CUSTOM_DATA_KEY: Type.String({
    description: 'The custom_data key under which checkouts carry the TrackSera account id; the only custom_data key kept',
    default: 'account_id',
    minLength: 1,
    maxLength: 100,
  }),
  WORKER_ENABLED: Type.Boolean({ description: 'Run the inbox worker inside the service (npm run worker runs it alone)', default: true }),
  WORKER_CONCURRENCY: integer('Transactions applying events at once in one process (each claims a batch of up to WORKER_BATCH_SIZE)', { default: 4, minimum: 1, maximum: 64 }),
  WORKER_BATCH_SIZE: integer('Most events one worker transaction claims and applies', { default: 32, minimum: 1, maximum: 256 }),
  WORKER_CLAIM_SPACING_MS: integer('While the inbox is caught up, how long after a claim that was not full the next one waits, so that a steady stream is applied in full batches (0: at once)', { default: 20, minimum: 0, maximum: 1000 }),
  WORKER_MAX_ATTEMPTS: integer('Attempts before a failing event becomes dead', { default: 10, minimum: 1, maximum: 100 }),
  WORKER_POLL_INTERVAL_MS: integer('How often the worker looks for work without a NOTIFY (retries, missed notifications)', { default: 1000, minimum: 50, maximum: 60000 }),
  ENTITLEMENT_CACHE_MAX_ENTRIES: integer('Accounts whose entitlement inputs each process keeps in memory (about 1 KB each), invalidated through LISTEN/NOTIFY; 0: read the database on every request', { default: 100000, minimum: 0, maximum: 10000000 }),
  PAST_DUE_GRACE_DAYS: integer('Days a past-due subscription keeps access after its paid period ended', { default: 14, minimum: 0, maximum: 365 }),
  PAUSED_ACCESS: Type.Boolean({ description: 'Whether a paused subscription keeps access', default: false }),
  TRIAL_ACCESS: Type.Boolean({ description: 'Whether a trialing subscription has access', default: true }),
  EMAIL_EVENT_MAX_AGE_HOURS: integer('Email events about changes older than this are recorded but suppressed (never delivered)', { default: 72, minimum: 1, maximum: 8760 }),
  EMAIL_EVENTS_ON_IMPORT: Type.Boolean({
    description: 'Whether importing a subscription (subscription.imported, a merchant migrating its customers) emits customer-facing email events; false: state and entitlement are set up silently',
    default: false,
  }),
  TRIAL_ENDING_NOTICE_DAYS: integer('How many days before a trial ends trial.ending_soon is emitted', { default: 3, minimum: 1, maximum: 60 }),
  RECEIPT_URL_TEMPLATE: Type.Optional(Type.String({
    description: 'Receipt link put into payment.succeeded, with {transactionId} replaced (for example https://app.tracksera.com/billing/receipts/{transactionId}); unset: no link',
    pattern: '^https?://',
  })),
  EMAIL_EVENTS_URL: Type.Optional(Type.String({ description: 'Where email events are pushed (POST, Standard Webhooks signatures); unset: pull only', pattern: '^https?://' })),
  EMAIL_EVENTS_SIGNING_SECRET: Type.Optional(Type.String({ description: 'Standard Webhooks secret (whsec_ + base64) signing the pushed email events; required with EMAIL_EVENTS_URL' })),
  EMAIL_EVENTS_MAX_ATTEMPTS: integer('Delivery attempts of one email event before it is dead (12: about a day)', { default: 12, minimum: 1, maximum: 100 }),
  EMAIL_EVENTS_TIMEOUT_MS: integer('Longest wait for the email receiver to answer one delivery', { default: 5000, minimum: 100, maximum: 60000 }),
  ENTITLEMENT_EVENTS_URL: Type.Optional(Type.String({ description: 'Where entitlement.changed events are pushed (POST, Standard Webhooks signatures); unset: pull only', pattern: '^https?://' })),
  ENTITLEMENT_EVENTS_SIGNING_SECRET: Type.Optional(Type.String({ description: 'Standard Webhooks secret (whsec_ + base64) signing the pushed entitlement events; required with ENTITLEMENT_EVENTS_URL' })),
  ENTITLEMENT_EVENTS_MAX_ATTEMPTS: integer('Delivery attempts of one entitlement event before it is dead (12: about a day)', { default: 12, minimum: 1, maximum: 100 }),
  ENTITLEMENT_EVENTS_TIMEOUT_MS: integer('Longest wait for the entitlement receiver to answer one delivery', { default: 5000, minimum: 100, maximum: 60000 }),
  DISPATCHER_ENABLED: Type.Boolean({ description: 'Push email and entitlement events from this process when their URL is set', default: true }),
  DISPATCHER_CONCURRENCY: integer('Deliveries in flight at once, per process and stream', { default: 16, minimum: 1, maximum: 256 }),
  SCHEDULER_ENABLED: Type.Boolean({ description: 'Run the scheduled jobs (trial-ending notices...) from this process', default: true }),
  INBOX_PAYLOAD_RETENTION_DAYS: integer('Days after which inbox payloads are dropped (the envelope stays)', { default: 30, minimum: 1, maximum: 3650 }),
  EMAIL_EVENT_RETENTION_DAYS: integer('Days after which delivered (and suppressed) email events are deleted', { default: 90, minimum: 1, maximum: 3650 }),
  ENTITLEMENT_EVENT_RETENTION_DAYS: integer('Days after which delivered entitlement events are deleted (each account keeps its last answer)', { default: 90, minimum: 1, maximum: 3650 }),
  BILLING_RECORD_RETENTION_YEARS: integer('Years transactions, adjustments and subscription history are kept', { default: 10, minimum: 6, maximum: 30 }),
  READY_MAX_INBOX_LAG_SECONDS: integer('Readiness fails while the oldest pending inbox event is older than this (0: never)', { default: 300, minimum: 0, maximum: 86400 }),
  METRICS_PORT: Type.Optional(integer('Serve /metrics (no token) on this separate port; unset: /metrics on PORT behind a bearer token from INTERNAL_API_TOKENS', { minimum: 1, maximum: 65535 })),
  PADDLE_API_KEY: Type.Optional(Type.String({ description: 'Paddle API key (pdl_live_apikey_... or pdl_sdbx_apikey_...) for reconciliation; unset: reconciliation is off', minLength: 20 })),
  PADDLE_ENVIRONMENT: Type.String({
    description: 'Paddle API to call: sandbox, production, or a base URL (http:// or https://, a stand-in for tests)',
    default: 'production',
    pattern: '^(sandbox|production|https?://.+)$',
  }),
  PADDLE_NOTIFICATION_SETTING_ID: Type.Optional(Type.String({ description: 'Our notification destination (ntfset_...): its failed notifications are replayed; unset: no replay', pattern: '^ntfset_[a-z0-9]+$' })),
  RECONCILE_INTERVAL_MINUTES: integer('Minutes between catch-up runs from Paddle\'s event log and notification replays (0: off)', { default: 15, minimum: 0, maximum: 1440 }),
  PADDLE_API_TIMEOUT_MS: integer('Longest wait for one Paddle API call', { default: 10000, minimum: 100, maximum: 120000 }),
  CONSOLE_ENABLED: Type.Boolean({ description: 'Serve the operator console at /console (sign-in with a token from INTERNAL_API_TOKENS); on in npm run dev', default: false }),
  CONSOLE_SESSION_SECRET: Type.Optional(Type.String({
    description: 'Key (32 characters or more) signing the console\'s session cookies and CSRF tokens; unset: derived (HKDF-SHA256) from INTERNAL_API_TOKENS, so that changing the tokens ends every session',
    minLength: 32,
  })),
  CONSOLE_SESSION_TTL_MINUTES: integer('Minutes a console sign-in lasts (from signing in, not from the last request)', { default: 480, minimum: 5, maximum: 10080 }),
  CONSOLE_PUBLIC_ORIGIN: Type.Optional(Type.String({
    description: 'The console\'s origin as browsers see it (https://billing.internal.example) when a proxy stands in front: forms must come from it, and with https the session cookie is Secure; unset: the request\'s own Host and protocol',
    pattern: '^https?://[^/?#@]+$',
  })),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'pino log level', 'info'),
  // Read again by the OpenTelemetry SDK itself, before this configuration is loaded (see tracingSettings): here so that a
  // malformed value stops the process with a message naming it, like any other variable.
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ description: 'OTLP collector base URL (http:// or https://): setting it turns tracing on (README, Tracing); unset: no tracing', pattern: '^https?://' })),
  OTEL_SERVICE_NAME: Type.Optional(Type.String({ description: `The service.name of the spans; default ${PACKAGE_NAME}`, minLength: 1 })),
  MIGRATE_ON_START: Type.Boolean({ description: 'Apply pending migrations at start-up', default: true }),
})

type ConfigFromEnv = Static<typeof ConfigSchema>
/** What the process runs with: the schema's values, lists always present (empty for a worker). */
export type Config = Omit<ConfigFromEnv, 'PADDLE_WEBHOOK_SECRETS' | 'INTERNAL_API_TOKENS'> & {
  PADDLE_WEBHOOK_SECRETS: string[]
  INTERNAL_API_TOKENS: string[]
}

/** Variables whose values must never be echoed back, even when malformed. */
const SECRET_VARIABLES = new Set(['PADDLE_WEBHOOK_SECRETS', 'INTERNAL_API_TOKENS', 'DATABASE_URL', 'EMAIL_EVENTS_SIGNING_SECRET', 'EMAIL_EVENTS_URL', 'ENTITLEMENT_EVENTS_SIGNING_SECRET', 'ENTITLEMENT_EVENTS_URL', 'PADDLE_API_KEY', 'CONSOLE_SESSION_SECRET', 'OTEL_EXPORTER_OTLP_ENDPOINT'])
const MIN_TOKEN_LENGTH = 16

export type ConfigRole = 'service' | 'worker'
export interface LoadConfigOptions {
  env?: Record<string, string | undefined>
  /** Fill in the committed development secrets where unset, and allow the embedded database (npm run dev only). */
  development?: boolean
  /** Without DATABASE_URL, use the embedded database in PGLITE_DIR (the tests' in-process configurations). */
  embeddedDatabase?: boolean
  /** A worker-only process needs no webhook secrets or API tokens. */
  role?: ConfigRole
}

/**
 * Puts the variables of `.env` (in the working directory) into the environment, for the development
 * entry points only: `npm run dev`, `paddle:send` and `paddle:listen`. A variable already set in the
 * environment wins. The production entry points (`npm start`, the worker, the migrate step) never call
 * this: in production the environment is the configuration. Returns whether there was a file.
 */
export function loadDevelopmentEnvFile (path = '.env'): boolean {
  if (!existsSync(path)) return false
  process.loadEnvFile(path)
  return true
}

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

export function loadConfig (options: LoadConfigOptions = {}): Config {
  const { env = process.env, development = false, embeddedDatabase = false, role = 'service' } = options
  const data: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    // An empty variable means "not set", as with most twelve-factor services.
    if (key in ConfigSchema.properties && value !== undefined && value.trim() !== '') data[key] = value.trim()
  }
  if (development) {
    data.PADDLE_WEBHOOK_SECRETS ??= DEVELOPMENT_WEBHOOK_SECRET
    data.INTERNAL_API_TOKENS ??= DEVELOPMENT_API_TOKEN
    data.CONSOLE_ENABLED ??= 'true'
  }

  let parsed: ConfigFromEnv
  try {
    parsed = envSchema<ConfigFromEnv>({ schema: structuredClone(ConfigSchema) as TSchema, data, env: false })
  } catch (error) {
    throw new ConfigError(describeSchemaErrors(error, data))
  }

  const problems = [
    ...checkList('PADDLE_WEBHOOK_SECRETS', parsed.PADDLE_WEBHOOK_SECRETS, role === 'service', 1),
    ...checkList('INTERNAL_API_TOKENS', parsed.INTERNAL_API_TOKENS, role === 'service', MIN_TOKEN_LENGTH),
    ...checkDatabaseUrl(parsed.DATABASE_URL),
    ...checkDatabaseChosen(parsed.DATABASE_URL, {
      embeddedAllowed: development || embeddedDatabase || data.PGLITE_DIR !== undefined,
      production: env.NODE_ENV === 'production',
    }),
    ...checkPush('EMAIL_EVENTS', parsed.EMAIL_EVENTS_URL, parsed.EMAIL_EVENTS_SIGNING_SECRET),
    ...checkNoCredentials('EMAIL_EVENTS_URL', parsed.EMAIL_EVENTS_URL),
    ...checkPush('ENTITLEMENT_EVENTS', parsed.ENTITLEMENT_EVENTS_URL, parsed.ENTITLEMENT_EVENTS_SIGNING_SECRET),
    ...checkNoCredentials('ENTITLEMENT_EVENTS_URL', parsed.ENTITLEMENT_EVENTS_URL),
    ...checkNoCredentials('PADDLE_ENVIRONMENT', /^https?:\/\//.test(parsed.PADDLE_ENVIRONMENT) ? parsed.PADDLE_ENVIRONMENT : undefined),
    ...checkNoCredentials('RECEIPT_URL_TEMPLATE', parsed.RECEIPT_URL_TEMPLATE),
    ...checkNoCredentials('OTEL_EXPORTER_OTLP_ENDPOINT', parsed.OTEL_EXPORTER_OTLP_ENDPOINT),
    ...checkPaddleApi(parsed.PADDLE_API_KEY, parsed.PADDLE_ENVIRONMENT),
  ]
  if (problems.length > 0) throw new ConfigError(problems)
  return {
    ...parsed,
    PADDLE_WEBHOOK_SECRETS: parsed.PADDLE_WEBHOOK_SECRETS ?? [],
    INTERNAL_API_TOKENS: parsed.INTERNAL_API_TOKENS ?? [],
  }
}

export interface TracingSettings {
  /** Whether to start the OpenTelemetry SDK: an OTLP endpoint is set and OTEL_SDK_DISABLED is not true. */
  enabled: boolean
  /** The service.name to set, or undefined when the environment names it (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). */
  serviceName: string | undefined
}

/**
 * Whether the entry points start the OpenTelemetry SDK, decided before anything else is loaded (the
 * pg instrumentation must be in place before the database driver is used) and so before loadConfig.
 * Only these variables are read here; the SDK reads the rest of its OTEL_* variables itself
 * (OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_SAMPLER, OTEL_PROPAGATORS...).
 */
export function tracingSettings (env: Record<string, string | undefined> = process.env): TracingSettings {
  const set = (name: string): boolean => (env[name] ?? '').trim() !== ''
  const endpoint = set('OTEL_EXPORTER_OTLP_ENDPOINT') || set('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  const disabled = (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true' || (env.OTEL_TRACES_EXPORTER ?? '').trim() === 'none'
  const named = set('OTEL_SERVICE_NAME') || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '')
  return { enabled: endpoint && !disabled, serviceName: named ? undefined : PACKAGE_NAME }
}

function checkList (name: string, values: string[] | undefined, required: boolean, minLength: number): string[] {
  const items = (values ?? []).map((value) => value.trim())
  if (items.length === 0) return required ? [`${name}: is required (${describe(name)})`] : []
  if (items.some((item) => item === '')) return [`${name}: contains an empty item; separate values with single commas`]
  if (items.some((item) => item.length < minLength)) return [`${name}: every item must be at least ${minLength} characters long`]
  values?.splice(0, values.length, ...items)
  return []
}

function checkDatabaseUrl (value: string | undefined): string[] {
  if (value === undefined) return []
  try {
    const url = new URL(value)
    if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') return []
  } catch {}
  return ['DATABASE_URL: must be a postgres:// or postgresql:// connection string']
}

/**
 * Production refuses to guess its database. Without DATABASE_URL, the embedded PGlite database is used only
 * when asked for: by `npm run dev`, by the tests, or by a PGLITE_DIR set explicitly (how the tests start a
 * child process on it). Never with NODE_ENV=production, the image's setting.
 */
function checkDatabaseChosen (url: string | undefined, options: { embeddedAllowed: boolean, production: boolean }): string[] {
  if (url !== undefined) return []
  if (options.production) {
    return ['DATABASE_URL: is required with NODE_ENV=production (postgres://user:password@host:5432/database); the embedded PGlite database is for npm run dev and the tests only']
  }
  if (options.embeddedAllowed) return []
  return ['DATABASE_URL: is required (postgres://user:password@host:5432/database); only npm run dev, or a process given PGLITE_DIR, uses the embedded PGlite database']
}

/** A push target (EMAIL_EVENTS, ENTITLEMENT_EVENTS): a URL needs its signing secret, and a secret must be one. */
function checkPush (prefix: 'EMAIL_EVENTS' | 'ENTITLEMENT_EVENTS', url: string | undefined, secret: string | undefined): string[] {
  const problems: string[] = []
  if (url !== undefined) {
    try {
      // eslint-disable-next-line no-new
      new URL(url)
    } catch {
      problems.push(`${prefix}_URL: must be an http:// or https:// URL`)
    }
    if (secret === undefined) problems.push(`${prefix}_SIGNING_SECRET: is required when ${prefix}_URL is set (whsec_ + base64)`)
  }
  if (secret !== undefined) {
    const key = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret)?.[1]
    if (key === undefined || Buffer.from(key, 'base64').length < 24) {
      problems.push(`${prefix}_SIGNING_SECRET: must be whsec_ followed by at least 24 bytes in base64`)
    }
  }
  return problems
}

const SECRET_LOOKING_PARAMETER = /token|secret|key|pass|auth|sig|credential|session/i

/**
 * URLs are logged (their origin), shown in errors and stored with failed deliveries; a credential
 * inside one would leak through all of those. Credentials have their own variables (the email
 * receiver authenticates our deliveries by their signature), so such a URL is refused outright.
 */
function checkNoCredentials (name: string, value: string | undefined): string[] {
  if (value === undefined) return []
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return []
  }
  if (url.username !== '' || url.password !== '') {
    return [`${name}: must not carry credentials (user:password@); the URL is logged and stored, credentials have variables of their own`]
  }
  const parameters = [...url.searchParams.keys()].filter((parameter) => SECRET_LOOKING_PARAMETER.test(parameter))
  if (parameters.length > 0) {
    return [`${name}: must not carry credentials in its query (${parameters.join(', ')}); the URL is logged and stored, credentials have variables of their own`]
  }
  return []
}

/** A sandbox key against the live API (or the reverse) is always refused: say so at start-up. */
function checkPaddleApi (apiKey: string | undefined, environment: string): string[] {
  if (apiKey === undefined) return []
  const keyEnvironment = apiKey.startsWith('pdl_sdbx_') ? 'sandbox' : apiKey.startsWith('pdl_live_') ? 'production' : null
  if (keyEnvironment !== null && (environment === 'sandbox' || environment === 'production') && keyEnvironment !== environment) {
    return [`PADDLE_API_KEY: is a ${keyEnvironment} key but PADDLE_ENVIRONMENT is ${environment}`]
  }
  return []
}

function describe (name: string): string {
  const schema = (ConfigSchema.properties as Record<string, { description?: string }>)[name]
  return schema?.description ?? name
}

interface AjvError { instancePath: string, message?: string, params: Record<string, unknown>, keyword: string }

function describeSchemaErrors (error: unknown, data: Record<string, string>): string[] {
  const errors = (error as { errors?: AjvError[] }).errors
  if (!Array.isArray(errors)) return [(error as Error).message]
  const problems = errors.map((ajvError) => {
    if (ajvError.keyword === 'required') {
      const name = String(ajvError.params.missingProperty)
      return `${name}: is required (${describe(name)})`
    }
    const name = ajvError.instancePath.replace(/^\//, '').split('/')[0] ?? ''
    const allowed = Array.isArray(ajvError.params.allowedValues) ? `: ${ajvError.params.allowedValues.join(', ')}` : ''
    const shown = SECRET_VARIABLES.has(name) || data[name] === undefined ? '' : ` (got "${data[name]}")`
    return `${name}: ${ajvError.message ?? 'is invalid'}${allowed}${shown}`
  })
  // Unions report once per member; keep each problem once.
  return [...new Set(problems)]
}
