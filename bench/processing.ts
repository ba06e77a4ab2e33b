/**
 * Processing: events applied per second from a backlog of pending events, mixed with one and with two
 * worker processes (dist/worker.js), and transaction.completed of new customers with one; each also as
 * a ratio to the ceiling measured in the same run (the intake's inbox insert straight through pg), and
 * the CPU each event took of PostgreSQL and of the worker processes: on a machine whose cores the two
 * share, their sum bounds the rate, and it drifts less than the rate from one hour to the next.
 * And the idle latency from a webhook's 200 to its event applied.
 */
import pg from 'pg'
import pino from 'pino'
import { createDatabase } from '../src/db/client.js'
import { createInboxWriter } from '../src/intake/inbox-writer.js'
import { signPaddlePayload } from '../src/paddle/signature.js'
import { completedTransactions, earlierTransactions, subscriptionLifecycle, toInboxRow, type BenchEvent } from './events.js'
import { BENCH_WEBHOOK_SECRET, type BenchDatabase, microsPer, percentile, postgresCpuSeconds, printTable, processCpuSeconds, sleep, startBuilt, startService, type StraightResult } from './support.js'
import { straightInboxInserts, UniqueEvents } from './unique-events.js'

export interface ProcessingOptions {
  /** Makes a fresh, migrated database for each measurement. */
  freshDatabase: () => Promise<BenchDatabase>
  backlog: number
  /** The straight-through-pg ceiling: its connections and length (after its 3 s warm-up). */
  ceiling: { connections: number, seconds: number }
}

/** Fills the inbox with `count` pending events (whole subscription lifecycles) through the intake's own writer. */
export async function fillInbox (databaseUrl: string, count: number): Promise<void> {
  await storeEvents(databaseUrl, Array.from({ length: Math.ceil(count / 8) }, (_, index) => subscriptionLifecycle(`acc_bench${index}`, index * 7)).flat().slice(0, count))
}

/** Stores the events as pending inbox rows through the intake's own writer. */
export async function storeEvents (databaseUrl: string, events: BenchEvent[]): Promise<void> {
  const handle = await createDatabase({ databaseUrl, logger: pino({ level: 'silent' }), poolMax: 8 })
  const writer = createInboxWriter(handle, { maxBatchSize: 500, maxConcurrentStatements: 4 })
  const rows = events.map(toInboxRow)
  for (let start = 0; start < rows.length; start += 2_000) {
    await Promise.all(rows.slice(start, start + 2_000).map(async (row) => await writer.insert(row)))
  }
  await handle.close()
}

/** Cheap enough to ask five times a second without taking CPU from the workers being measured. */
async function anyPending (client: pg.Client): Promise<boolean> {
  const result = await client.query<{ pending: boolean }>("SELECT EXISTS (SELECT 1 FROM paddle_inbox WHERE status IN ('pending', 'failed')) AS pending")
  return result.rows[0]?.pending ?? true
}

async function pendingCount (client: pg.Client): Promise<number> {
  const result = await client.query<{ count: number }>("SELECT count(*)::int AS count FROM paddle_inbox WHERE status IN ('pending', 'failed')")
  return result.rows[0]?.count ?? 0
}

async function drainWithWorkers (databaseUrl: string, workers: number, backlog: number) {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const before = postgresCpuSeconds()
  const started = Date.now()
  const children = await Promise.all(Array.from({ length: workers }, async () => await startBuilt('dist/worker.js', {
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    MIGRATE_ON_START: 'false',
  }, { http: false })))
  while (await anyPending(client)) {
    await sleep(200)
    for (const child of children) child.assertRunning()
    if (Date.now() - started > 600_000) throw new Error(`${await pendingCount(client)} events still pending after 10 minutes`)
  }
  const elapsed = (Date.now() - started) / 1000
  const postgresCpu = postgresCpuSeconds()
  const workerCpu = children.reduce<number | null>((sum, child) => {
    const seconds = processCpuSeconds(child.child.pid)
    return sum === null || seconds === null ? null : sum + seconds
  }, 0)
  const failures = (await client.query<{ count: number }>("SELECT count(*)::int AS count FROM paddle_inbox WHERE status NOT IN ('processed', 'ignored') OR attempts <> 1")).rows[0]?.count ?? -1
  await Promise.all(children.map(async (child) => await child.stop()))
  await client.end()
  return {
    rate: backlog / elapsed,
    elapsed,
    failures,
    postgresCpuPerEvent: before === null || postgresCpu === null ? null : (postgresCpu - before) / backlog,
    // Start-up included (module loading, the first connections): a few µs per event of a 50,000 backlog.
    workerCpuPerEvent: workerCpu === null ? null : workerCpu / backlog,
  }
}

async function idleLatency (databaseUrl: string, samples: number) {
  const service = await startService(databaseUrl, {
    LOG_LEVEL: 'warn',
  })
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const latencies: number[] = []
  for (let index = 0; index < samples; index += 1) {
    const [event] = subscriptionLifecycle(`acc_latency${index}`)
    if (event === undefined) continue
    const body = JSON.stringify(event)
    const response = await fetch(`http://127.0.0.1:${service.port}/webhooks/paddle`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(BENCH_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)) },
      body,
    })
    const acknowledged = process.hrtime.bigint()
    if (response.status !== 200) throw new Error(`webhook answered ${response.status}`)
    for (;;) {
      const row = await client.query<{ status: string }>('SELECT status FROM paddle_inbox WHERE event_id = $1', [event.event_id])
      if (row.rows[0]?.status === 'processed') break
    }
    latencies.push(Number(process.hrtime.bigint() - acknowledged) / 1e6)
    await sleep(100) // idle between events: every one has to wake the worker
  }
  await client.end()
  await service.stop()
  latencies.sort((a, b) => a - b)
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN, samples: latencies.length }
}

export async function benchProcessing (options: ProcessingOptions): Promise<void> {
  const ceilingDatabase = await options.freshDatabase()
  let ceiling: StraightResult
  try {
    ceiling = await straightInboxInserts(ceilingDatabase.url, options.ceiling.connections, options.ceiling.seconds,
      UniqueEvents.transactionCompleted({ secret: BENCH_WEBHOOK_SECRET, newCustomers: true }))
  } finally {
    await ceilingDatabase.drop()
  }

  const backlogs: Array<{ events: string, workers: number, fill: (databaseUrl: string) => Promise<void> }> = [
    { events: 'mixed', workers: 1, fill: async (databaseUrl) => { await fillInbox(databaseUrl, options.backlog) } },
    { events: 'mixed', workers: 2, fill: async (databaseUrl) => { await fillInbox(databaseUrl, options.backlog) } },
    {
      events: 'transaction.completed, new customers',
      workers: 1,
      fill: async (databaseUrl) => { await storeEvents(databaseUrl, completedTransactions(options.backlog, { oneCustomer: false })) },
    },
  ]
  const rows: Array<Array<string | number>> = []
  for (const backlog of backlogs) {
    const database = await options.freshDatabase()
    try {
      await backlog.fill(database.url)
      const result = await drainWithWorkers(database.url, backlog.workers, options.backlog)
      rows.push([backlog.events, `${backlog.workers} worker process${backlog.workers > 1 ? 'es' : ''}`, result.rate, result.rate / backlog.workers,
        `${(result.rate / ceiling.rate).toFixed(2)}x`, result.elapsed,
        microsPer(result.postgresCpuPerEvent, 1), microsPer(result.workerCpuPerEvent, 1), result.failures])
    } finally {
      await database.drop()
    }
  }
  rows.push(['ceiling: same inbox insert straight through pg', `${options.ceiling.connections} connections, ${options.ceiling.seconds} s`,
    ceiling.rate, '-', '1.00x', '-', microsPer(ceiling.postgresCpu, ceiling.requests), '-',
    ceiling.errors === 0 ? '-' : `${ceiling.errors} errors`])
  printTable(`Processing: backlogs of ${options.backlog} pending events (mixed: 8-event subscription lifecycles; ` +
    'transaction.completed: each of its own new customer and subscription), WORKER_CONCURRENCY=4 per process',
  ['events', 'workers', 'events/s', 'events/s per process', '/ ceiling', 'seconds', 'postgres CPU us/event', 'worker CPU us/event', 'not applied once'], rows)
  process.stdout.write('targets: mixed >= 2000 events/s per worker process, transaction.completed from new customers >= 1500 events/s ' +
    '(absolute figures drift on this shared machine: compare the ratio with the previous commit\'s)\n')

  const database = await options.freshDatabase()
  try {
    const latency = await idleLatency(database.url, 50)
    printTable('Idle latency: webhook 200 -> event applied (service with its in-process worker, one event at a time)',
      ['samples', 'p50 ms', 'p99 ms', 'max ms'], [[latency.samples, latency.p50, latency.p99, latency.max]])
  } finally {
    await database.drop()
  }
}

/**
 * Whether an event costs more the more history its customer has: the same backlog of new transactions,
 * each of its own customer, with nothing stored of the customer (sign-ups, whose account resolution is
 * left out) or with one earlier transaction stored (applied before the measurement), against all of them
 * of one customer. The history ratio compares the last two: the same statements per event, with one
 * transaction of history or thousands.
 */
export async function benchHistory (options: { freshDatabase: () => Promise<BenchDatabase>, backlog: number }): Promise<void> {
  const cases = [
    ['each of its own new customer', { oneCustomer: false, known: false }],
    ['each of its own customer, one earlier transaction stored', { oneCustomer: false, known: true }],
    ['all of one customer', { oneCustomer: true, known: false }],
  ] as const
  const rows: Array<Array<string | number>> = []
  const rates: Record<string, number> = {}
  for (const [name, { oneCustomer, known }] of cases) {
    const database = await options.freshDatabase()
    try {
      const measured = completedTransactions(options.backlog, { oneCustomer })
      if (known) {
        await storeEvents(database.url, earlierTransactions(measured))
        await drainWithWorkers(database.url, 1, options.backlog)
      }
      await storeEvents(database.url, measured)
      const result = await drainWithWorkers(database.url, 1, options.backlog)
      rates[name] = result.rate
      rows.push([name, result.rate, result.elapsed,
        result.postgresCpuPerEvent === null ? 'n/a' : (result.postgresCpuPerEvent * 1e6).toFixed(0), result.failures])
    } finally {
      await database.drop()
    }
  }
  printTable(`Processing cost and history: ${options.backlog} transaction.completed, one worker process (WORKER_CONCURRENCY=4)`,
    ['transactions', 'events/s', 'seconds', 'postgres CPU us/event', 'not applied once'], rows)
  const rate = (name: typeof cases[number][0]): number => rates[name] ?? Number.NaN
  process.stdout.write(`one customer / own customers with one earlier transaction = ${(rate('all of one customer') / rate('each of its own customer, one earlier transaction stored')).toFixed(2)}x (target: near 1); ` +
    `one customer / own new customers = ${(rate('all of one customer') / rate('each of its own new customer')).toFixed(2)}x\n`)
}
