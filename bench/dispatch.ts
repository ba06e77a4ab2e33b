/**
 * Email-event delivery: events/s pushed from a backlog to a local receiver that answers 200 at once,
 * and the end-to-end latency from a webhook's 200 to the receiver under a steady webhook rate.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { signPaddlePayload } from '../src/paddle/signature.js'
import { addSeconds, timestampFromDate } from '../src/platform/timestamps.js'
import { subscriptionLifecycle } from './events.js'
import { BENCH_WEBHOOK_SECRET, type BenchDatabase, percentile, printTable, sleep, startBuilt, startService } from './support.js'

const SIGNING_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`

export interface DispatchOptions {
  freshDatabase: () => Promise<BenchDatabase>
  backlog: number
  webhooksPerSecond: number
  durationSeconds: number
}

interface Receiver { url: string, arrivals: Map<string, number>, count: () => number, close: () => Promise<void> }

/** Answers 200 at once and notes when each event arrived, by its subscription id. */
async function startReceiver (): Promise<Receiver> {
  const arrivals = new Map<string, number>()
  let count = 0
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      count += 1
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { subscriptionId: string | null }
      if (event.subscriptionId !== null && !arrivals.has(event.subscriptionId)) arrivals.set(event.subscriptionId, Date.now())
      response.writeHead(200).end()
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/email-events`,
    arrivals,
    count: () => count,
    close: async () => { await new Promise((resolve) => server.close(resolve)); server.closeAllConnections() },
  }
}

async function fillOutbox (databaseUrl: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  // Four events per subscription, so that per-subscription ordering is part of the work.
  await client.query(`
    INSERT INTO email_events (id, type, idempotency_key, occurred_at, account_id, customer_id, subscription_id, ordering_key, data, status)
    SELECT 'eml_bench' || n, 'subscription.cancellation_scheduled', 'bench:' || n, now(), 'acc_bench' || (n / 4), 'ctm_bench' || (n / 4),
      'sub_bench' || (n / 4), 'sub_bench' || (n / 4), jsonb_build_object('effectiveAt', now()), 'pending'
    FROM generate_series(1, $1) AS n`, [count])
  await client.end()
}

export async function benchDispatch (options: DispatchOptions): Promise<void> {
  const rows: Array<Array<string | number>> = []

  // 1. A backlog pushed by one worker process (dispatcher only).
  {
    const database = await options.freshDatabase()
    const receiver = await startReceiver()
    try {
      await fillOutbox(database.url, options.backlog)
      const started = Date.now()
      const dispatcher = await startBuilt('dist/worker.js', {
        DATABASE_URL: database.url,
        LOG_LEVEL: 'warn',
        MIGRATE_ON_START: 'false',
        WORKER_ENABLED: 'false',
        SCHEDULER_ENABLED: 'false',
        EMAIL_EVENTS_URL: receiver.url,
        EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET,
      }, { http: false })
      while (receiver.count() < options.backlog) {
        await sleep(100)
        dispatcher.assertRunning()
        if (Date.now() - started > 300_000) throw new Error(`only ${receiver.count()} of ${options.backlog} delivered in 5 minutes`)
      }
      const elapsed = (Date.now() - started) / 1000
      await dispatcher.stop()
      rows.push([`backlog of ${options.backlog}, one process (DISPATCHER_CONCURRENCY=16)`, options.backlog / elapsed, elapsed])
    } finally {
      await receiver.close()
      await database.drop()
    }
  }
  printTable('Email event dispatch to a local receiver answering 200', ['run', 'events/s', 'seconds'], rows)
  process.stdout.write('target: >= 1000 events/s\n')

  // 2. End to end under a steady webhook rate: the service with its worker and dispatcher in process.
  const database = await options.freshDatabase()
  const receiver = await startReceiver()
  try {
    const service = await startService(database.url, {
      LOG_LEVEL: 'warn',
      EMAIL_EVENTS_URL: receiver.url,
      EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET,
    })
    const acknowledged = new Map<string, number>()
    const total = options.webhooksPerSecond * options.durationSeconds
    const interval = 1000 / options.webhooksPerSecond
    const started = Date.now()
    const inFlight: Array<Promise<void>> = []
    for (let index = 0; index < total; index += 1) {
      const due = started + index * interval
      const wait = due - Date.now()
      if (wait > 0) await sleep(wait)
      // A new subscription, now: its subscription.created yields one subscription.started.
      const now = timestampFromDate(new Date())
      const [, , created] = subscriptionLifecycle(`acc_e2e${index}`)
      if (created === undefined) continue
      created.data.updated_at = now
      created.data.started_at = now
      created.data.first_billed_at = now
      created.occurred_at = addSeconds(now, 0.001)
      const body = JSON.stringify(created)
      inFlight.push(fetch(`http://127.0.0.1:${service.port}/webhooks/paddle`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(BENCH_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)) },
        body,
      }).then((response) => {
        if (response.status === 200) acknowledged.set(created.data.id as string, Date.now())
      }))
    }
    await Promise.all(inFlight)
    const deadline = Date.now() + 30_000
    while (receiver.arrivals.size < acknowledged.size && Date.now() < deadline) await sleep(100)
    await service.stop()
    const latencies = [...acknowledged].map(([subscriptionId, at]) => (receiver.arrivals.get(subscriptionId) ?? Number.NaN) - at)
      .filter((latency) => Number.isFinite(latency)).sort((a, b) => a - b)
    printTable(`End to end, webhook 200 -> receiver, ${options.webhooksPerSecond} webhooks/s for ${options.durationSeconds} s (service with worker and dispatcher)`,
      ['webhooks acknowledged', 'events received', 'p50 ms', 'p99 ms', 'max ms'],
      [[acknowledged.size, latencies.length, percentile(latencies, 50), percentile(latencies, 99), latencies.at(-1) ?? Number.NaN]])
    process.stdout.write('target: p99 < 1000 ms\n')
  } finally {
    await receiver.close()
    await database.drop()
  }
}
