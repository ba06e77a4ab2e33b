/** The backfill's queries: the stored versions it compares Paddle's entities with, its events' outcomes, its run records. */
import { and, desc, eq, inArray, ne, sql } from 'drizzle-orm'
import type { DatabaseHandle } from '../db/client.js'
import {
  adjustmentsTable, backfillRunsTable, customersTable, paddleInboxTable, subscriptionsTable, transactionsTable,
  type BackfillRunStatus,
} from '../db/schema.js'
import type { BackfillEntity } from './paddle-api.js'

type Handle = Pick<DatabaseHandle, 'db'>

const STATE_TABLES = {
  customer: customersTable,
  subscription: subscriptionsTable,
  transaction: transactionsTable,
  adjustment: adjustmentsTable,
} as const

/** The version each of these entities is stored at (see billing/version.ts); absent ids are not stored. */
export async function storedVersions (database: Handle, entity: BackfillEntity, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map()
  const table = STATE_TABLES[entity]
  const rows = await database.db.select({ id: table.id, version: table.version }).from(table).where(inArray(table.id, ids))
  return new Map(rows.map((row) => [row.id, row.version]))
}

export interface InboxOutcomeRow {
  eventId: string
  status: string
  outcome: string | null
  note: string | null
}

/** Where the worker is with these inbox events. */
export async function inboxOutcomes (database: Handle, eventIds: string[]): Promise<InboxOutcomeRow[]> {
  if (eventIds.length === 0) return []
  return await database.db.select({
    eventId: paddleInboxTable.eventId,
    status: paddleInboxTable.status,
    outcome: paddleInboxTable.outcome,
    note: paddleInboxTable.note,
  }).from(paddleInboxTable).where(inArray(paddleInboxTable.eventId, eventIds))
}

export type BackfillRunRow = typeof backfillRunsTable.$inferSelect

export async function insertRun (database: Handle, run: { id: string, dryRun: boolean, trigger: string, progress: Record<string, unknown> }): Promise<void> {
  await database.db.insert(backfillRunsTable).values(run)
}

/** A page done: the run's progress and heartbeat. */
export async function recordRunProgress (database: Handle, id: string, progress: Record<string, unknown>): Promise<void> {
  await database.db.update(backfillRunsTable).set({ progress, updatedAt: sql`now()` }).where(eq(backfillRunsTable.id, id))
}

export async function finishRun (
  database: Handle,
  id: string,
  finish: { status: Exclude<BackfillRunStatus, 'running'>, progress: Record<string, unknown>, error: string | null }
): Promise<void> {
  await database.db.update(backfillRunsTable)
    .set({ ...finish, updatedAt: sql`now()`, finishedAt: sql`now()` })
    .where(eq(backfillRunsTable.id, id))
}

/**
 * Runs still marked running when a new one holds the backfill lock: their process stopped without
 * saying so (killed, crashed). Their cursors are saved page by page, so the new run resumes after them.
 */
export async function markAbandonedRuns (database: Handle, exceptId: string): Promise<number> {
  const rows = await database.db.update(backfillRunsTable)
    .set({ status: 'interrupted', finishedAt: sql`now()`, error: 'the process running it stopped before it finished' })
    .where(and(eq(backfillRunsTable.status, 'running'), ne(backfillRunsTable.id, exceptId)))
    .returning({ id: backfillRunsTable.id })
  return rows.length
}

export async function findRun (database: Handle, id: string): Promise<BackfillRunRow | null> {
  const [row] = await database.db.select().from(backfillRunsTable).where(eq(backfillRunsTable.id, id))
  return row ?? null
}

export async function latestRuns (database: Handle, limit: number): Promise<BackfillRunRow[]> {
  return await database.db.select().from(backfillRunsTable).orderBy(desc(backfillRunsTable.startedAt), desc(backfillRunsTable.id)).limit(limit)
}
