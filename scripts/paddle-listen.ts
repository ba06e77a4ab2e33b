/**
 * `npm run paddle:listen`: real sandbox traffic on a laptop, without a public URL. Polls the event log
 * of the Paddle account whose key is PADDLE_API_KEY (GET /events, through the catch-up's own client,
 * src/reconcile/paddle-api.ts) and forwards every new event to the local service's webhook endpoint,
 * signed with the local webhook secret, printing one line per event with the service's answer.
 */
import { parseArgs } from 'node:util'
import { envelopeFrom } from '../src/paddle/envelope.js'
import { ConfigError, DEVELOPMENT_WEBHOOK_SECRET, loadConfig, loadDevelopmentEnvFile } from '../src/platform/config.js'
import { createPaddleApi, PaddleApiError, type PaddleApi } from '../src/reconcile/paddle-api.js'
import { eventLine, out, postSigned, UsageError, type JsonObject } from './paddle-send/common.js'

const USAGE = `Usage: npm run paddle:listen -- [--url <url>] [--interval <seconds>] [--from-start | --after <evt_id>] [--once]

Polls Paddle's event log with PADDLE_API_KEY (PADDLE_ENVIRONMENT=sandbox for a sandbox key; both may
be in .env) and forwards each new event to the local service, signed with the first
PADDLE_WEBHOOK_SECRETS (the development secret when unset). Prints one line per event: type, event
id, HTTP status, the service's answer.

  --url <url>           default http://localhost:<PORT>/webhooks/paddle
  --interval <seconds>  between polls (default 5)
  --from-start          forward the whole log (Paddle keeps 90 days) instead of only what comes next
  --after <evt_id>      forward what comes after this event
  --once                one poll, then exit (1 when an event was not answered 200)
  -h, --help            this text
`

async function main (): Promise<number> {
  loadDevelopmentEnvFile()
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      interval: { type: 'string', default: '5' },
      'from-start': { type: 'boolean' },
      after: { type: 'string' },
      once: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const config = loadConfig({ development: true, role: 'worker' })
  if (config.PADDLE_API_KEY === undefined) {
    throw new UsageError('set PADDLE_API_KEY to an API key with event.read (a sandbox key with PADDLE_ENVIRONMENT=sandbox), in the environment or .env')
  }
  const intervalMs = Number(values.interval) * 1000
  if (!Number.isFinite(intervalMs) || intervalMs < 200) throw new UsageError(`--interval "${values.interval}" is not a number of seconds (0.2 or more)`)
  if (values['from-start'] === true && values.after !== undefined) throw new UsageError('give --from-start or --after, not both')
  const url = values.url ?? `http://localhost:${config.PORT}/webhooks/paddle`
  const secret = config.PADDLE_WEBHOOK_SECRETS[0] ?? DEVELOPMENT_WEBHOOK_SECRET
  const api = createPaddleApi({
    apiKey: config.PADDLE_API_KEY,
    environment: config.PADDLE_ENVIRONMENT,
    timeoutMs: config.PADDLE_API_TIMEOUT_MS,
    onRetry: (_operation, attempt, delayMs, error) => { process.stderr.write(`paddle-listen: ${error.message}; retry ${attempt} in ${delayMs} ms\n`) },
  })

  let cursor: string | null = values.after ?? null
  if (values['from-start'] !== true && values.after === undefined) {
    const { last, count } = await endOfLog(api)
    cursor = last
    out(`paddle-listen: ${count} event(s) already in the log are not forwarded (--from-start forwards them)`)
  }
  out(`paddle-listen: polling Paddle (${config.PADDLE_ENVIRONMENT}) every ${values.interval} s after ${cursor ?? 'the start of the log'}, forwarding to ${url}`)

  const stopping = new AbortController()
  process.once('SIGINT', () => stopping.abort())
  process.once('SIGTERM', () => stopping.abort())
  for (;;) {
    const result = await poll(api, cursor, url, secret)
    cursor = result.cursor
    if (values.once === true) return result.refused ? 1 : 0
    await sleep(intervalMs, stopping.signal)
    if (stopping.signal.aborted) return 0
  }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}

/** The newest event id in the log and how many events it holds: where listening starts. */
async function endOfLog (api: PaddleApi): Promise<{ last: string | null, count: number }> {
  let last: string | null = null
  let count = 0
  for await (const page of api.eventPages(null)) {
    for (const entry of page) if (typeof entry.event_id === 'string') last = entry.event_id
    count += page.length
  }
  return { last, count }
}

/**
 * Forwards what the log holds after `cursor`, in order. An event the service did not answer 200
 * (or could not be reached for) is tried again at the next poll, and the events after it wait.
 */
async function poll (api: PaddleApi, cursor: string | null, url: string, secret: string): Promise<{ cursor: string | null, refused: boolean }> {
  try {
    for await (const page of api.eventPages(cursor)) {
      for (const entry of page) {
        const parsed = envelopeFrom(entry)
        if (!parsed.ok) {
          process.stderr.write(`paddle-listen: skipped an entry of the log that is not an event (${parsed.problem})\n`)
          if (typeof entry.event_id === 'string') cursor = entry.event_id
          continue
        }
        // An event of the log, not a notification: it has no notification id.
        const event = { event_id: parsed.envelope.eventId, event_type: parsed.envelope.eventType, occurred_at: String(entry.occurred_at), notification_id: null, data: entry.data as JsonObject }
        const answer = await postSigned(url, secret, event)
        out(eventLine(event, answer))
        if (answer.status !== 200) return { cursor, refused: true }
        cursor = event.event_id
      }
    }
  } catch (error) {
    process.stderr.write(`paddle-listen: ${error instanceof PaddleApiError ? error.message : (error as Error).message}; trying again at the next poll\n`)
    return { cursor, refused: true }
  }
  return { cursor, refused: false }
}

main().then((code) => { process.exitCode = code }, (error: unknown) => {
  const usage = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
  process.stderr.write(`paddle-listen: ${(error as Error).message}\n${usage ? 'see npm run paddle:listen -- --help\n' : ''}`)
  process.exitCode = usage ? 2 : 1
})
