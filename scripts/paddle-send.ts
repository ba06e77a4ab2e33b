/**
 * `npm run paddle:send -- <event-type | file.json>... | --scenario checkout`: sends genuine Paddle
 * webhook bodies (tests/fixtures/paddle) to a running instance as Paddle would: fresh ids (kept
 * consistent across the run, so the events still relate), current times, signed with the first
 * PADDLE_WEBHOOK_SECRETS (the committed development secret when none is set, as `npm run dev`).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { signPaddlePayload } from '../src/paddle/signature.js'
import { fromEpochMicros, parseTimestamp, toEpochMicros } from '../src/platform/timestamps.js'
import { ConfigError, DEVELOPMENT_API_TOKEN, DEVELOPMENT_WEBHOOK_SECRET, loadConfig } from '../src/platform/config.js'
import { AccountId } from '../src/platform/schemas.js'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }
interface PaddleEvent { event_id: string, event_type: string, occurred_at: string, notification_id?: string | null, data: JsonObject }

const FIXTURES = fileURLToPath(new URL('../tests/fixtures/paddle/', import.meta.url))
const SCENARIOS: Record<string, string> = { checkout: 'checkout-sequence' }
/** Entity ids that are refreshed besides each event's `data.id`; catalogue ids (prices, products) are kept. */
const REFERENCES = new Set(['customer_id', 'subscription_id', 'transaction_id', 'address_id'])
const ID_IN_TEXT = /[a-z]+_[a-z0-9]+/g
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz'

const USAGE = `Usage: npm run paddle:send -- <event-type | file.json>... [--account <id>] [--url <url>]
       npm run paddle:send -- --scenario checkout [--account <id>] [--url <url>]

Sends genuine Paddle webhook bodies to a running instance with fresh ids and current times,
signed with the first PADDLE_WEBHOOK_SECRETS (the development secret when unset).

  <event-type>          e.g. subscription.created: tests/fixtures/paddle/<event-type>.json
  <file.json>           any webhook body (a path containing "/" or ending in .json)
  --scenario <name>     a whole genuine stream, in order: ${Object.keys(SCENARIOS).join(', ')}
  --account <id>        puts custom_data.<ACCOUNT_ID_CUSTOM_DATA_KEY> on subscriptions and
                        transactions (a scenario makes up one when omitted)
  --url <url>           default http://localhost:<PORT>/webhooks/paddle
  -h, --help            this text

Prints one line per event: type, event id, HTTP status, response body. Exits 1 on the first
answer that is not 200, 2 on a usage error.
`

class UsageError extends Error {}

const out = (text: string): void => { process.stdout.write(`${text}\n`) }
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

function freshId (prefix: string): string {
  return `${prefix}_01${[...randomBytes(24)].map((byte) => CROCKFORD[byte % 32]).join('')}`
}

/** A copy of `value` with every string passed through `change` (with the key it sits under). */
function mapStrings (value: Json, change: (text: string, key: string) => string, key = ''): Json {
  if (typeof value === 'string') return change(value, key)
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, change, key))
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, mapStrings(item, change, name)]))
  return value
}

function eventTypes (): string[] {
  return readdirSync(FIXTURES).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length)).sort()
}

function readEvent (path: string): PaddleEvent {
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

function fixturePaths (positionals: string[], scenario: string | undefined): string[] {
  if (scenario !== undefined) {
    if (positionals.length > 0) throw new UsageError('give either --scenario or event types and files, not both')
    const folder = SCENARIOS[scenario]
    if (folder === undefined) throw new UsageError(`unknown scenario "${scenario}"; known: ${Object.keys(SCENARIOS).join(', ')}`)
    return readdirSync(resolve(FIXTURES, folder)).filter((name) => name.endsWith('.json')).sort().map((name) => resolve(FIXTURES, folder, name))
  }
  if (positionals.length === 0) throw new UsageError('nothing to send: give an event type, a file or --scenario')
  return positionals.map((argument) => {
    if (argument.includes('/') || argument.endsWith('.json')) {
      if (!existsSync(argument)) throw new UsageError(`no such file: ${argument}`)
      return resolve(argument)
    }
    const path = resolve(FIXTURES, `${argument}.json`)
    if (!existsSync(path)) throw new UsageError(`unknown event type "${argument}" (no tests/fixtures/paddle/${argument}.json); known: ${eventTypes().join(', ')}`)
    return path
  })
}

/** Fresh event, notification and entity ids, one new id per old one; every instant moved so the latest event occurs now. */
function refresh (events: PaddleEvent[], account: string | undefined, accountKey: string): PaddleEvent[] {
  const ids = new Map<string, string>()
  const remember = (id: Json | undefined): void => {
    if (typeof id === 'string' && /^[a-z]+_[a-z0-9]+$/.test(id) && !ids.has(id)) ids.set(id, freshId(id.slice(0, id.indexOf('_'))))
  }
  for (const event of events) {
    remember(event.data.id)
    mapStrings(event.data, (text, key) => { if (REFERENCES.has(key)) remember(text); return text })
  }
  const micros = (text: string): bigint => toEpochMicros(parseTimestamp(text) ?? '')
  const latest = events.reduce((max, event) => micros(event.occurred_at) > max ? micros(event.occurred_at) : max, 0n)
  const shift = BigInt(Date.now()) * 1000n - latest
  const rewrite = (text: string): string => parseTimestamp(text) === null
    ? text.replace(ID_IN_TEXT, (id) => ids.get(id) ?? id)
    : fromEpochMicros(micros(text) + shift)

  return events.map((event) => {
    const data = mapStrings(event.data, rewrite) as JsonObject
    if (account !== undefined && /^(subscription|transaction)\./.test(event.event_type)) {
      data.custom_data = { ...(isObject(data.custom_data) ? data.custom_data : {}), [accountKey]: account }
    }
    return { event_id: freshId('evt'), event_type: event.event_type, occurred_at: rewrite(event.occurred_at), notification_id: freshId('ntf'), data }
  })
}

async function post (url: string, secret: string, event: PaddleEvent): Promise<{ status: number, text: string }> {
  const body = JSON.stringify(event)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(secret, body, Math.floor(Date.now() / 1000)) },
      body,
    })
  } catch (error) {
    const { cause } = error as { cause?: { code?: string, message?: string } }
    const reason = cause?.code ?? cause?.message ?? (error as Error).message
    throw new Error(`cannot reach ${url} (${reason}): is the service running? (npm run dev)`)
  }
  return { status: response.status, text: (await response.text()).trim() }
}

async function main (): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { scenario: { type: 'string' }, account: { type: 'string' }, url: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const config = loadConfig({ development: true, role: 'worker' })
  const paths = fixturePaths(positionals, values.scenario)
  const account = values.account ?? (values.scenario === undefined ? undefined : `acc_dev_${freshId('x').slice(4, 16)}`)
  if (account !== undefined && !new RegExp(AccountId.pattern ?? '').test(account)) {
    throw new UsageError(`--account "${account}" is not a valid account id (letters, digits, _ . : -)`)
  }
  const url = values.url ?? `http://localhost:${config.PORT}/webhooks/paddle`
  const secret = config.PADDLE_WEBHOOK_SECRETS[0] ?? DEVELOPMENT_WEBHOOK_SECRET
  const events = refresh(paths.map(readEvent), account, config.ACCOUNT_ID_CUSTOM_DATA_KEY)

  for (const [index, event] of events.entries()) {
    const { status, text } = await post(url, secret, event)
    out(`${event.event_type.padEnd(26)} ${event.event_id}  ${status}  ${text}`)
    if (status !== 200) {
      process.stderr.write(`paddle-send: ${event.event_type} ${event.event_id} was answered ${status}; stopped after ${index + 1} of ${events.length} events\n`)
      return 1
    }
  }

  if (account !== undefined) {
    const subscription = events.find((event) => event.event_type.startsWith('subscription.'))?.data
    const customer = subscription?.customer_id ?? events.find((event) => event.event_type.startsWith('customer.'))?.data.id
    const token = config.INTERNAL_API_TOKENS.includes(DEVELOPMENT_API_TOKEN) ? DEVELOPMENT_API_TOKEN : '$INTERNAL_API_TOKEN'
    out('')
    if (subscription !== undefined) out(`subscription  ${String(subscription.id)}`)
    if (typeof customer === 'string') out(`customer      ${customer}`)
    out(`account       ${account}`)
    out('')
    out(`curl -s -H "authorization: Bearer ${token}" '${new URL(`/internal/accounts/${account}/entitlement`, url).href}'`)
  }
  return 0
}

main().then((code) => { process.exitCode = code }, (error: unknown) => {
  const usage = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
  process.stderr.write(`paddle-send: ${(error as Error).message}\n${usage ? 'see npm run paddle:send -- --help\n' : ''}`)
  process.exitCode = usage ? 2 : 1
})
