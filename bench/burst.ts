/**
 * A burst of sign-ups: N signed `transaction.completed` webhooks, each of a new customer (its own
 * customer, subscription and transaction), sent at once to the built service with its in-process
 * worker on. Measures how fast the webhooks are answered and how fast they are applied (from the
 * first request sent until the inbox has nothing left to process), each as a ratio to the ceiling
 * measured in the same run: the intake's inbox insert straight through `pg` at the same concurrency.
 */
import pg from 'pg'
import { runLoad, type LoadResult } from './http-load.js'
import { BENCH_WEBHOOK_SECRET, cpuDifference, microsPer, postgresCpuSeconds, printTable, processCpuSeconds, type ServiceChild, sleep, startService } from './support.js'
import { straightInboxInserts, UniqueEvents } from './unique-events.js'

export interface BurstOptions {
  databaseUrl: string
  /** Webhooks in the burst (each a new customer). */
  events: number
  connections: number
  /** Length of the straight-through-pg ceiling (after its 3 s warm-up). */
  ceilingSeconds: number
}

/** Gives up on a burst not applied after this long. */
const APPLY_TIMEOUT_MS = 20 * 60_000

async function pendingCount (client: pg.Client): Promise<number> {
  const result = await client.query<{ count: number }>("SELECT count(*)::int AS count FROM paddle_inbox WHERE status IN ('pending', 'failed')")
  return result.rows[0]?.count ?? Number.NaN
}

/** Polls five times a second (one cheap count on the pending rows' partial index) until nothing is left to process. */
async function untilApplied (client: pg.Client, service: ServiceChild): Promise<void> {
  const deadline = Date.now() + APPLY_TIMEOUT_MS
  for (;;) {
    const pending = await pendingCount(client)
    if (pending === 0) return
    service.assertRunning()
    if (Date.now() > deadline) throw new Error(`${pending} events still pending after ${APPLY_TIMEOUT_MS / 60_000} minutes`)
    await sleep(200)
  }
}

/** Inbox rows by status, and how many took more than one attempt. */
async function inboxCounts (client: pg.Client): Promise<{ byStatus: Record<string, number>, retried: number }> {
  const result = await client.query<{ status: string, count: number, retried: number }>(
    'SELECT status, count(*)::int AS count, count(*) FILTER (WHERE attempts <> 1)::int AS retried FROM paddle_inbox GROUP BY status')
  return {
    byStatus: Object.fromEntries(result.rows.map((row) => [row.status, row.count])),
    retried: result.rows.reduce((sum, row) => sum + row.retried, 0),
  }
}

export async function benchBurst (options: BurstOptions): Promise<void> {
  const events = UniqueEvents.transactionCompleted({ secret: BENCH_WEBHOOK_SECRET, newCustomers: true })
  const service = await startService(options.databaseUrl, {
    LOG_LEVEL: 'info',
    DISPATCHER_ENABLED: 'false',
    SCHEDULER_ENABLED: 'false',
  })
  const client = new pg.Client({ connectionString: options.databaseUrl })
  await client.connect()
  const send = async (requests: number): Promise<LoadResult> => await runLoad({
    port: service.port,
    connections: options.connections,
    durationSeconds: APPLY_TIMEOUT_MS / 1000,
    requests,
    next: () => events.nextWebhook(),
  })

  const measure = async () => {
    // Warm-up (JIT, connection pool, prepared statements, the worker's first claims), applied before the burst.
    const warmUp = (await send(Math.min(1_000, Math.ceil(options.events / 10)))).statusCounts[200] ?? 0
    await untilApplied(client, service)
    await sleep(500)

    const cpuNow = () => ({ service: processCpuSeconds(service.child.pid), postgres: postgresCpuSeconds() })
    const since = (before: ReturnType<typeof cpuNow>, after: ReturnType<typeof cpuNow>) =>
      ({ service: cpuDifference(after.service, before.service), postgres: cpuDifference(after.postgres, before.postgres) })
    const before = cpuNow()
    const started = Date.now()
    const answered = await send(options.events)
    const afterAnswers = cpuNow()
    await untilApplied(client, service)
    const appliedSeconds = (Date.now() - started) / 1000
    const afterApplied = cpuNow()
    return {
      warmUp,
      answered,
      appliedSeconds,
      cpu: { answered: since(before, afterAnswers), applied: since(before, afterApplied) },
      counts: await inboxCounts(client),
    }
  }
  let burst: Awaited<ReturnType<typeof measure>>
  try {
    burst = await measure()
  } finally {
    await client.end()
    await service.stop()
  }
  const { warmUp, answered, appliedSeconds, cpu, counts } = burst

  const ceiling = await straightInboxInserts(options.databaseUrl, options.connections, options.ceilingSeconds, events)

  const accepted = answered.statusCounts[200] ?? 0
  const processed = (counts.byStatus.processed ?? 0) - warmUp
  const appliedRate = options.events / appliedSeconds
  printTable(`Burst: ${options.events} transaction.completed webhooks, each of a new customer, at ${options.connections} connections ` +
    '(the service with its in-process worker; its CPU includes the worker\'s)',
  ['', 'events/s', 'seconds', 'p50 ms', 'p99 ms', 'errors / not processed', 'service CPU us/event', 'postgres CPU us/event'],
  [
    ['answered: POST /webhooks/paddle (built service)', answered.rate, answered.requests / answered.rate, answered.p50, answered.p99, answered.errors,
      microsPer(cpu.answered.service, options.events), microsPer(cpu.answered.postgres, options.events)],
    ['applied: first request sent -> inbox drained', appliedRate, appliedSeconds, '-', '-', options.events - processed,
      microsPer(cpu.applied.service, options.events), microsPer(cpu.applied.postgres, options.events)],
    [`ceiling: same inbox insert straight through pg (${options.ceilingSeconds} s)`, ceiling.rate, '-', ceiling.p50, ceiling.p99, ceiling.errors,
      '-', microsPer(ceiling.postgresCpu, ceiling.requests)],
  ])
  const statuses = Object.entries(counts.byStatus).map(([status, count]) => `${status} ${count}`).join(', ')
  process.stdout.write(`answered 200: ${accepted} of ${options.events}; inbox after the ${warmUp} warm-up events and the burst: ${statuses}; ` +
    `more than one attempt: ${counts.retried}${processed === options.events && accepted === options.events ? '' : ' (NOT ALL APPLIED)'}\n`)
  process.stdout.write(`applied / ceiling = ${(appliedRate / ceiling.rate).toFixed(2)}x (target >= 0.5x); ` +
    `answered / ceiling = ${(answered.rate / ceiling.rate).toFixed(2)}x\n`)
}
