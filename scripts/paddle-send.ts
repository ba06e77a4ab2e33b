/**
 * `npm run paddle:send`: sends Paddle webhooks to a running instance as Paddle would, signed with the
 * first PADDLE_WEBHOOK_SECRETS (the committed development secret when none is set, as `npm run dev`):
 * - genuine fixture bodies (an event type, a file, or a whole checkout) with fresh ids and times;
 * - a lifecycle played on a subscription the service already has (scripts/paddle-send/lifecycles.ts);
 * - an event the service already stored, again, under a new notification id (`--again`).
 */
import { parseArgs } from 'node:util'
import { ConfigError, DEVELOPMENT_API_TOKEN, DEVELOPMENT_WEBHOOK_SECRET, loadConfig, loadDevelopmentEnvFile } from '../src/platform/config.js'
import { AccountId } from '../src/platform/schemas.js'
import { eventLine, freshId, out, postSigned, UsageError, type PaddleEvent } from './paddle-send/common.js'
import { CHECKOUT_STREAMS, namedEvents, refresh } from './paddle-send/fixture-streams.js'
import { LIFECYCLES, loadPlay } from './paddle-send/lifecycles.js'
import { rebuildData } from './paddle-send/rebuild.js'
import { serviceApi } from './paddle-send/service-api.js'

const SCENARIO_NAMES = [...Object.keys(CHECKOUT_STREAMS), ...LIFECYCLES.map((lifecycle) => lifecycle.name)]

const USAGE = `Usage: npm run paddle:send -- <event-type | file.json>... [--account <id>] [--url <url>]
       npm run paddle:send -- --scenario checkout | checkout-trial [--account <id>] [--url <url>]
       npm run paddle:send -- --scenario <lifecycle> --subscription <sub_id> [--url <url>]
       npm run paddle:send -- --again <evt_id> [--url <url>]
       npm run paddle:send -- --list

Sends Paddle webhooks to a running instance, signed with the first PADDLE_WEBHOOK_SECRETS (the
development secret when unset), reading its state through the internal API with the first
INTERNAL_API_TOKENS (the development token when unset).

  <event-type>            e.g. subscription.created: tests/fixtures/paddle/<event-type>.json, fresh ids, now
  <file.json>             any webhook body (a path containing "/" or ending in .json)
  --scenario <name>       a whole stream, in Paddle's order (--list names them)
  --subscription <id>     the subscription a lifecycle plays on (its customer, items, period, account)
  --again <event_id>      re-send a stored event under a new notification id (rebuilt from what the
                          service kept of it): the answer should say duplicate
  --account <id>          puts custom_data.<ACCOUNT_ID_CUSTOM_DATA_KEY> on subscriptions and
                          transactions (a checkout makes one up when omitted)
  --url <url>             default http://localhost:<PORT>/webhooks/paddle (the internal API is read
                          on the same host)
  --list                  the scenarios, one line each
  -h, --help              this text

Prints one line per event: type, event id, HTTP status, response body. Exits 1 on the first
answer that is not 200, 2 on a usage error.
`

async function main (): Promise<number> {
  loadDevelopmentEnvFile()
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      scenario: { type: 'string' },
      subscription: { type: 'string' },
      again: { type: 'string' },
      account: { type: 'string' },
      url: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  if (values.list === true) {
    const width = Math.max(...SCENARIO_NAMES.map((name) => name.length)) + 2
    for (const [name, { summary }] of Object.entries(CHECKOUT_STREAMS)) out(`${name.padEnd(width)}${summary} (new subscription)`)
    for (const lifecycle of LIFECYCLES) out(`${lifecycle.name.padEnd(width)}${lifecycle.summary} (--subscription, ${lifecycle.from.join('/')})`)
    return 0
  }

  const config = loadConfig({ development: true, role: 'worker' })
  const url = values.url ?? `http://localhost:${config.PORT}/webhooks/paddle`
  const secret = config.PADDLE_WEBHOOK_SECRETS[0] ?? DEVELOPMENT_WEBHOOK_SECRET
  const api = serviceApi(url, config.INTERNAL_API_TOKENS[0] ?? DEVELOPMENT_API_TOKEN)
  const modes = [values.scenario !== undefined, values.again !== undefined, positionals.length > 0].filter(Boolean).length
  if (modes > 1) throw new UsageError('give one of: event types and files, --scenario, --again')
  if (modes === 0) throw new UsageError('nothing to send: give an event type, a file, --scenario or --again')

  if (values.again !== undefined) {
    const stored = await api.event(values.again)
    if (stored === null) throw new UsageError(`the service has no event ${values.again}`)
    const event: PaddleEvent = {
      event_id: stored.eventId,
      event_type: stored.eventType,
      occurred_at: stored.occurredAt,
      notification_id: freshId('ntf'),
      data: rebuildData(stored.entityType, stored.payload, { entityId: stored.entityId, customerId: stored.customerId }),
    }
    return await send(url, secret, [event])
  }

  const scenario = values.scenario
  const lifecycle = LIFECYCLES.find((candidate) => candidate.name === scenario)
  if (scenario !== undefined && lifecycle === undefined && CHECKOUT_STREAMS[scenario] === undefined) {
    throw new UsageError(`unknown scenario "${scenario}"; known: ${SCENARIO_NAMES.join(', ')}`)
  }
  if (lifecycle !== undefined) {
    if (values.subscription === undefined) throw new UsageError(`${lifecycle.name} plays on a subscription the service has: give --subscription sub_...`)
    if (values.account !== undefined) throw new UsageError('a lifecycle takes the account from the subscription: leave out --account')
    const play = await loadPlay(api, values.subscription, config.ACCOUNT_ID_CUSTOM_DATA_KEY, lifecycle)
    await lifecycle.play(play)
    const code = await send(url, secret, play.events)
    if (code === 0) summary(url, play.stored.id, play.stored.customerId, play.stored.accountId, config.INTERNAL_API_TOKENS)
    return code
  }
  if (values.subscription !== undefined) throw new UsageError('--subscription goes with a lifecycle scenario (--list names them)')

  const account = values.account ?? (scenario === undefined ? undefined : `acc_dev_${freshId('x').slice(4, 16)}`)
  if (account !== undefined && !new RegExp(AccountId.pattern ?? '').test(account)) {
    throw new UsageError(`--account "${account}" is not a valid account id (letters, digits, _ . : -)`)
  }
  const events = refresh(scenario === undefined ? namedEvents(positionals) : CHECKOUT_STREAMS[scenario]?.stream() ?? [],
    account, config.ACCOUNT_ID_CUSTOM_DATA_KEY)
  const code = await send(url, secret, events)
  if (code === 0 && account !== undefined) {
    const subscription = events.find((event) => event.event_type.startsWith('subscription.'))?.data
    const customer = subscription?.customer_id ?? events.find((event) => event.event_type.startsWith('customer.'))?.data.id
    summary(url, typeof subscription?.id === 'string' ? subscription.id : null, typeof customer === 'string' ? customer : null, account, config.INTERNAL_API_TOKENS)
  }
  return code
}

async function send (url: string, secret: string, events: PaddleEvent[]): Promise<number> {
  for (const [index, event] of events.entries()) {
    const answer = await postSigned(url, secret, event)
    out(eventLine(event, answer))
    if (answer.status !== 200) {
      process.stderr.write(`paddle-send: ${event.event_type} ${event.event_id} was answered ${answer.status}; stopped after ${index + 1} of ${events.length} events\n`)
      return 1
    }
  }
  return 0
}

/** The first of INTERNAL_API_TOKENS (a comma-separated list), as a POSIX shell expands it. */
const FIRST_TOKEN_IN_SHELL = '$' + '{INTERNAL_API_TOKENS%%,*}'

/** The ids, and ready-to-copy requests for the account's entitlement and the subscription's timeline. */
function summary (url: string, subscription: string | null, customer: string | null, account: string | null, tokens: readonly string[]): void {
  const token = tokens.includes(DEVELOPMENT_API_TOKEN) ? DEVELOPMENT_API_TOKEN : FIRST_TOKEN_IN_SHELL
  const curl = (path: string): string => `curl -s -H "authorization: Bearer ${token}" '${new URL(path, url).href}'`
  out('')
  if (subscription !== null) out(`subscription  ${subscription}`)
  if (customer !== null) out(`customer      ${customer}`)
  if (account !== null) out(`account       ${account}`)
  out('')
  if (account !== null) out(curl(`/internal/accounts/${account}/entitlement`))
  if (subscription !== null) out(curl(`/internal/subscriptions/${subscription}/timeline`))
}

main().then((code) => { process.exitCode = code }, (error: unknown) => {
  const usage = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
  process.stderr.write(`paddle-send: ${(error as Error).message}\n${usage ? 'see npm run paddle:send -- --help\n' : ''}`)
  process.exitCode = usage ? 2 : 1
})
