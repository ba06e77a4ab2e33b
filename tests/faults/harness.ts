/** What the fault tests share: processes of the service started against the test's own cluster, and a webhook sender. */
import pg from 'pg'
import { createDatabase } from '#src/db/client.js'
import { createInboxWriter } from '#src/intake/inbox-writer.js'
import { envelopeFrom } from '#src/paddle/envelope.js'
import { projectEvent } from '#src/paddle/projection.js'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { silentLogger, TEST_API_TOKEN, TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { freshIds, SCENARIOS } from '../helpers/scenarios.js'
import type { PaddleEvent } from '../helpers/paddle.js'
import { spawnService, type ServiceProcess } from '../helpers/process.js'

export function processEnv (databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET,
    INTERNAL_API_TOKENS: TEST_API_TOKEN,
    LOG_LEVEL: 'info',
    WORKER_POLL_INTERVAL_MS: '200',
    ...extra,
  }
}

export interface Running extends ServiceProcess {
  alive(): boolean
  stop(): Promise<void>
}

export function spawnProcess (entry: 'src/server.ts' | 'src/worker.ts', env: Record<string, string>): Running {
  const started = spawnService(entry, env)
  let exited = false
  started.exited.then(() => { exited = true }, () => {})
  return {
    ...started,
    alive: () => !exited,
    async stop () {
      if (exited) return
      started.child.kill('SIGCONT')
      started.child.kill('SIGTERM')
      const timer = setTimeout(() => started.child.kill('SIGKILL'), 20_000)
      await started.exited
      clearTimeout(timer)
    },
  }
}

/** The HTTP status of one signed delivery, or 0 when the connection was refused or reset. */
export async function postWebhook (port: number, event: PaddleEvent): Promise<number> {
  const body = JSON.stringify(event)
  try {
    const response = await fetch(`http://127.0.0.1:${port}/webhooks/paddle`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(TEST_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)) },
      body,
      signal: AbortSignal.timeout(20_000),
    })
    await response.arrayBuffer()
    return response.status
  } catch {
    return 0
  }
}

export async function readiness (port: number): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(10_000) })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

export async function waitFor<T> (what: string, check: () => Promise<T | null | false | undefined>, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== null && value !== false && value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError === undefined ? '' : ` (last error: ${String(lastError)})`}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** One statement on a database of the cluster, on a connection of its own. */
export async function query<Row = Record<string, unknown>> (url: string, text: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'fault-test' })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as Row[]
  } finally {
    await client.end()
  }
}

/** Counts of the inbox by status. */
export async function inboxCounts (url: string): Promise<Record<string, number>> {
  const rows = await query<{ status: string, count: string }>(url, 'SELECT status, count(*) AS count FROM paddle_inbox GROUP BY status')
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]))
}

/** Lines of a process's output that are JSON log records with this message. */
export function logLines (output: string, message: string | RegExp): Array<Record<string, unknown>> {
  return output.split('\n').filter((line) => line.startsWith('{')).map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>
    } catch {
      return {}
    }
  }).filter((record) => typeof record.msg === 'string' && (typeof message === 'string' ? record.msg.includes(message) : message.test(record.msg)))
}

/** Stores events in the inbox exactly as the intake would (projection, writer), without HTTP: a backlog. */
export async function storeBacklog (url: string, events: PaddleEvent[]): Promise<void> {
  const handle = await createDatabase({ databaseUrl: url, logger: silentLogger, poolMax: 4 })
  try {
    const writer = createInboxWriter(handle)
    await Promise.all(events.map(async (event) => {
      const parsed = envelopeFrom(event)
      if (!parsed.ok) throw new Error(parsed.problem)
      const { envelope } = parsed
      await writer.insert({
        eventId: envelope.eventId,
        notificationId: envelope.notificationId,
        eventType: envelope.eventType,
        occurredAt: envelope.occurredAt,
        origin: 'webhook',
        ...projectEvent(envelope, { customDataKeys: ['account_id'] }),
      })
    }))
  } finally {
    await handle.close()
  }
}

/** Lifecycles from the scenarios, interleaved as concurrent customers would send them. */
export function interleavedLifecycles (lifecycles: number): PaddleEvent[] {
  const streams = Array.from({ length: lifecycles }, (_, index) => (SCENARIOS[index % SCENARIOS.length]?.events(freshIds()) ?? []))
  const events: PaddleEvent[] = []
  for (let position = 0; streams.some((stream) => position < stream.length); position += 1) {
    for (const stream of streams) if (position < stream.length) events.push(stream[position] as PaddleEvent)
  }
  return events
}
