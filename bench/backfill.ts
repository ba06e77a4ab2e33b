/**
 * Backfill: entities per second from the local stand-in of Paddle's API (Paddle's page sizes: 200
 * customers or subscriptions, 30 transactions, 50 adjustments a page) into a fresh database, through
 * the inbox and one in-process worker (WORKER_CONCURRENCY=4), as `npm run paddle:backfill` does; then
 * the same again, which finds everything unchanged and writes nothing.
 *
 * Beside it, in the same run, the floor: the state rows that backfill produced, written again into
 * another fresh database with plain multi-row INSERTs of 200 rows. The machine is shared and noisy,
 * so the ratio is the figure to compare, not the absolute rates.
 */
import pg from 'pg'
import pino from 'pino'
import { createBackgroundLoops } from '../src/app/background.js'
import { createDatabase } from '../src/db/client.js'
import { loadConfig } from '../src/platform/config.js'
import { buildPaddleAccount, entityCount } from '../tests/helpers/paddle-account.js'
import { startPaddleStandIn } from '../tests/helpers/paddle-stand-in.js'
import { printTable, type BenchDatabase } from './support.js'

const TABLES = ['customers', 'subscriptions', 'subscription_items', 'transactions', 'adjustments']
const BATCH = 200

async function timedBackfill (databaseUrl: string, serviceEnv: Record<string, string>) {
  const config = loadConfig({ env: { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', ...serviceEnv }, role: 'worker' })
  const logger = pino({ level: 'warn' })
  const database = await createDatabase({ databaseUrl, logger, poolMax: 10 })
  const loops = createBackgroundLoops(config, { database, logger })
  try {
    const backfiller = loops.reconciler?.backfiller
    if (backfiller === undefined) throw new Error('no reconciler: PADDLE_API_KEY missing')
    await loops.worker.start()
    const runs = []
    for (const name of ['first run (everything created)', 'run again (everything unchanged)']) {
      const started = process.hrtime.bigint()
      const report = await backfiller.run({ dryRun: false, trigger: 'cli' })
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      runs.push({ name, seconds, report })
    }
    return runs
  } finally {
    await loops.stop()
    await database.close()
  }
}

/** The rows the backfill wrote, inserted again with nothing but INSERT ... jsonb_populate_recordset. */
async function timedInserts (sourceUrl: string, targetUrl: string): Promise<{ rows: number, seconds: number }> {
  const source = new pg.Client({ connectionString: sourceUrl })
  const target = new pg.Client({ connectionString: targetUrl })
  await source.connect()
  await target.connect()
  try {
    const batches: Array<{ table: string, rows: unknown[] }> = []
    let rows = 0
    for (const table of TABLES) {
      const all = (await source.query<{ row: unknown }>(`SELECT to_jsonb(t) AS row FROM ${table} t`)).rows.map((row) => row.row)
      rows += all.length
      for (let start = 0; start < all.length; start += BATCH) batches.push({ table, rows: all.slice(start, start + BATCH) })
    }
    const started = process.hrtime.bigint()
    for (const batch of batches) {
      await target.query(`INSERT INTO ${batch.table} SELECT * FROM jsonb_populate_recordset(NULL::${batch.table}, $1::jsonb)`, [JSON.stringify(batch.rows)])
    }
    return { rows, seconds: Number(process.hrtime.bigint() - started) / 1e9 }
  } finally {
    await source.end()
    await target.end()
  }
}

export async function benchBackfill (options: { freshDatabase: () => Promise<BenchDatabase>, customers: number }): Promise<void> {
  const account = buildPaddleAccount(options.customers)
  const entities = entityCount(account)
  const standIn = await startPaddleStandIn()
  standIn.customers.push(...account.customers)
  standIn.subscriptions.push(...account.subscriptions)
  standIn.transactions.push(...account.transactions)
  standIn.adjustments.push(...account.adjustments)
  const database = await options.freshDatabase()
  const floor = await options.freshDatabase()
  try {
    const runs = await timedBackfill(database.url, standIn.serviceEnv)
    const inserts = await timedInserts(database.url, floor.url)
    const first = runs[0]
    const rows: Array<Array<string | number>> = runs.map((run) => [run.name, entities, run.seconds, entities / run.seconds,
      `${run.report.totals.created}/${run.report.totals.unchanged}/${run.report.totals.failed}`])
    rows.push([`baseline: the same ${inserts.rows} state rows, plain INSERTs of ${BATCH}`, inserts.rows, inserts.seconds, inserts.rows / inserts.seconds, '-'])
    printTable(`Backfill from the Paddle stand-in: ${entities} entities (${account.customers.length} customers, ${account.subscriptions.length} subscriptions, ` +
      `${account.transactions.length} transactions, ${account.adjustments.length} adjustments), ${standIn.requests.length} API requests over both runs`,
    ['run', 'entities', 'seconds', 'entities/s', 'created/unchanged/failed'], rows)
    if (first !== undefined) {
      process.stdout.write(`backfill / plain inserts = ${((entities / first.seconds) / (inserts.rows / inserts.seconds)).toFixed(3)}x ` +
        '(entities through the API, inbox and worker vs state rows written directly)\n')
    }
  } finally {
    await standIn.close()
    await database.drop()
    await floor.drop()
  }
}
