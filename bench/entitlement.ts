/**
 * Entitlement reads: with 100,000 subscriptions loaded, GET /internal/accounts/:id/entitlement at 32
 * connections against the built service, beside the same lookup straight through `pg` in the same run.
 */
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import type { Database } from '../src/db/client.js'
import { accountSubscriptionsStatement } from '../src/entitlements/entitlements.repository.js'
import { runLoad } from './http-load.js'
import { BENCH_API_TOKEN, cpuDifference, microsPer, postgresCpuSeconds, printTable, processCpuSeconds, startService, straightThroughPg } from './support.js'

export interface EntitlementOptions { databaseUrl: string, subscriptions: number, connections: number, durationSeconds: number, nodeArgs?: string[] }

/** 100,000 accounts, each with one subscription (a tenth past due, a tenth with a scheduled cancel) and two items. */
async function load (databaseUrl: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  await client.query(`
    INSERT INTO subscriptions (id, customer_id, account_id, custom_account_id, status, currency_code, billing_interval, billing_frequency,
      current_period_starts_at, current_period_ends_at, next_billed_at, started_at, scheduled_change_action, scheduled_change_effective_at,
      paddle_created_at, paddle_updated_at, version)
    SELECT 'sub_bench' || n, 'ctm_bench' || n, 'acc_bench' || n, 'acc_bench' || n,
      CASE WHEN n % 10 = 0 THEN 'past_due' ELSE 'active' END, 'USD', 'month', 1,
      now() - interval '10 days', now() + interval '20 days', now() + interval '20 days', now() - interval '40 days',
      CASE WHEN n % 10 = 1 THEN 'cancel' END, CASE WHEN n % 10 = 1 THEN now() + interval '20 days' END,
      now() - interval '40 days', now() - interval '10 days', 'v'
    FROM generate_series(1, $1) AS n`, [count])
  await client.query(`
    INSERT INTO subscription_items (subscription_id, price_id, product_id, quantity, status, recurring)
    SELECT 'sub_bench' || n, price, 'pro_bench', 1, 'active', true
    FROM generate_series(1, $1) AS n, unnest(ARRAY['pri_bench_base', 'pri_bench_addon']) AS price`, [count])
  await client.query('VACUUM ANALYZE subscriptions')
  await client.query('VACUUM ANALYZE subscription_items')
  await client.end()
}

const randomAccount = (count: number): string => `acc_bench${1 + Math.floor(Math.random() * count)}`

export async function benchEntitlement (options: EntitlementOptions): Promise<void> {
  await load(options.databaseUrl, options.subscriptions)
  const service = await startService(options.databaseUrl, {
    LOG_LEVEL: 'info',
    WORKER_ENABLED: 'false',
  }, { nodeArgs: options.nodeArgs ?? [] })
  const headers = { authorization: `Bearer ${BENCH_API_TOKEN}` }
  const reads = async (durationSeconds: number) => await runLoad({
    port: service.port,
    connections: options.connections,
    durationSeconds,
    next: () => ({ method: 'GET', path: `/internal/accounts/${randomAccount(options.subscriptions)}/entitlement`, headers }),
  })
  // Warm-up: every account read once, in order (a long-running service has read its active
  // accounts before; PostgreSQL's buffers are as warm for the straight SQL that follows).
  let warmed = 0
  await runLoad({
    port: service.port,
    connections: options.connections,
    durationSeconds: 120,
    requests: options.subscriptions,
    next: () => ({ method: 'GET', path: `/internal/accounts/acc_bench${1 + (warmed++ % options.subscriptions)}/entitlement`, headers }),
  })
  const before = { service: processCpuSeconds(service.child.pid), postgres: postgresCpuSeconds() }
  const http = await reads(options.durationSeconds)
  const serviceCpu = cpuDifference(processCpuSeconds(service.child.pid), before.service)
  const httpPostgresCpu = cpuDifference(postgresCpuSeconds(), before.postgres)
  await service.stop()

  const straight = await straightThroughPg(options.databaseUrl, options.connections, options.durationSeconds,
    accountSubscriptionsStatement(drizzle.mock() as unknown as Database), () => [randomAccount(options.subscriptions)])
  printTable(`Entitlement reads: ${options.subscriptions} subscriptions, ${options.connections} connections, ${options.durationSeconds} s`,
    ['path', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'service CPU us/req', 'postgres CPU us/req'],
    [
      ['GET /internal/accounts/:id/entitlement', http.rate, http.p50, http.p99, http.errors,
        microsPer(serviceCpu, http.requests), microsPer(httpPostgresCpu, http.requests)],
      ['same lookup straight through pg', straight.rate, straight.p50, straight.p99, straight.errors, '-', microsPer(straight.postgresCpu, straight.requests)],
    ])
  process.stdout.write(`service / straight SQL = ${(http.rate / straight.rate).toFixed(2)}x (target >= 1.5x); ` +
    `p99 ${http.p99.toFixed(2)} ms vs straight SQL ${straight.p99.toFixed(2)} ms (target: no worse)\n`)
}
