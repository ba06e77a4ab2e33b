/**
 * The SQL rule's exception, measured (README, "One rule for SQL"): the per-event statements of the
 * apply path, written three ways, on one connection in transactions of 8 as the worker sends them:
 * - the named hand-written statements generated from the schema (db/statements.ts), as the apply
 *   functions send them;
 * - Drizzle's builder, building the query for every call;
 * - Drizzle's builder, prepared once (`.prepare(name)`) with placeholders.
 * Each reads a transaction row FOR UPDATE and upserts it under the version guard. The figure that
 * matters is the CPU this process spends per event (PostgreSQL does the same work for all three).
 */
import { eq, getTableColumns, sql } from 'drizzle-orm'
import pino from 'pino'
import { createDatabase } from '../src/db/client.js'
import type { Transaction } from '../src/db/handle.js'
import { transactionsTable } from '../src/db/schema.js'
import { tableStatements } from '../src/db/statements.js'
import { printTable, processCpuSeconds } from './support.js'

type TransactionRow = Omit<typeof transactionsTable.$inferSelect, 'rowUpdatedAt'>

const BATCH = 8

function row (index: number, round: number): TransactionRow {
  return {
    id: `txn_builder${index}`,
    status: 'completed',
    origin: 'subscription_recurring',
    customerId: `ctm_builder${index}`,
    subscriptionId: `sub_builder${index}`,
    accountId: `acc_builder${index}`,
    customAccountId: `acc_builder${index}`,
    invoiceNumber: `INV-${index}`,
    currencyCode: 'USD',
    collectionMode: 'automatic',
    subtotal: '1000',
    discount: '0',
    tax: '200',
    total: '1200',
    grandTotal: '1200',
    billingPeriodStartsAt: '2026-01-01T00:00:00.000000Z',
    billingPeriodEndsAt: '2026-02-01T00:00:00.000000Z',
    billedAt: '2026-01-01T00:00:00.000000Z',
    revisedAt: null,
    payments: [],
    items: [{ priceId: 'pri_builder', productId: 'pro_builder', quantity: 1 }],
    paddleCreatedAt: '2026-01-01T00:00:00.000000Z',
    paddleUpdatedAt: '2026-01-01T00:00:00.000000Z',
    version: `2026-01-01T00:00:${String(round).padStart(2, '0')}.000000Z`,
  }
}

type Way = (tx: Transaction, next: TransactionRow) => Promise<void>

const statements = tableStatements(transactionsTable)
const columns = getTableColumns(transactionsTable)
const updatedColumns = Object.keys(columns).filter((key) => key !== 'id' && key !== 'rowUpdatedAt')
const excludedSet = (): Record<string, unknown> => ({
  ...Object.fromEntries(updatedColumns.map((key) => [key, sql.raw(`excluded."${columns[key as keyof typeof columns].name}"`)])),
  rowUpdatedAt: sql`now()`,
})

const named: Way = async (tx, next) => {
  await tx.query(statements.selectForUpdate, [next.id])
  await tx.query(statements.upsert, statements.values(next))
}

const builder: Way = async (tx, next) => {
  await tx.db.select().from(transactionsTable).where(eq(transactionsTable.id, next.id)).for('update')
  await tx.db.insert(transactionsTable).values(next).onConflictDoUpdate({
    target: transactionsTable.id,
    set: excludedSet(),
    setWhere: sql`${transactionsTable.version} <= excluded.version`,
  })
}

function preparedWay (): Way {
  let prepared: { select: { execute: (values: Record<string, unknown>) => Promise<unknown> }, upsert: { execute: (values: Record<string, unknown>) => Promise<unknown> } } | undefined
  return async (tx, next) => {
    prepared ??= {
      select: tx.db.select().from(transactionsTable).where(eq(transactionsTable.id, sql.placeholder('id'))).for('update').prepare('bench_builder_select'),
      upsert: tx.db.insert(transactionsTable)
        .values(Object.fromEntries(Object.keys(next).map((key) => [key, sql.placeholder(key)])) as unknown as TransactionRow)
        .onConflictDoUpdate({ target: transactionsTable.id, set: excludedSet(), setWhere: sql`${transactionsTable.version} <= excluded.version` })
        .prepare('bench_builder_upsert'),
    }
    // Prepared on the first transaction's connection: the pool has one, so every later transaction is on it too.
    await prepared.select.execute({ id: next.id })
    await prepared.upsert.execute({ ...next, payments: JSON.stringify(next.payments), items: JSON.stringify(next.items) })
  }
}

export async function benchSqlBuilder (options: { databaseUrl: string, events: number }): Promise<void> {
  const rows: Array<Array<string | number>> = []
  const results: Record<string, number> = {}
  const ways: Array<[string, () => Way]> = [
    ['named statements (db/statements.ts)', () => named],
    ['Drizzle builder, built per call', () => builder],
    ['Drizzle builder, prepared', preparedWay],
  ]
  // Two rounds each, alternating, so that a noisy minute does not fall on one way only.
  for (let round = 1; round <= 2; round += 1) {
    for (const [name, make] of ways) {
      const handle = await createDatabase({ databaseUrl: options.databaseUrl, logger: pino({ level: 'silent' }), poolMax: 1 })
      const way = make()
      try {
        const cpuBefore = processCpuSeconds(process.pid)
        const started = process.hrtime.bigint()
        for (let start = 0; start < options.events; start += BATCH) {
          await handle.transaction(async (tx) => {
            for (let index = start; index < Math.min(options.events, start + BATCH); index += 1) await way(tx, row(index, round * 10 + rows.length))
          })
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9
        const cpu = (processCpuSeconds(process.pid) ?? 0) - (cpuBefore ?? 0)
        const cpuPerEvent = cpu * 1e6 / options.events
        results[name] = (results[name] ?? 0) + cpuPerEvent / 2
        rows.push([`${name} (round ${round})`, options.events / seconds, cpuPerEvent])
      } finally {
        await handle.close()
      }
    }
  }
  printTable(`Apply statements three ways: ${options.events} events (read FOR UPDATE + versioned upsert), one connection, transactions of ${BATCH}`,
    ['way', 'events/s', 'this process CPU us/event'], rows)
  const base = results[ways[0]?.[0] ?? ''] ?? Number.NaN
  process.stdout.write(`CPU per event vs named statements: builder ${((results[ways[1]?.[0] ?? ''] ?? Number.NaN) / base).toFixed(2)}x, ` +
    `prepared builder ${((results[ways[2]?.[0] ?? ''] ?? Number.NaN) / base).toFixed(2)}x\n`)
}
