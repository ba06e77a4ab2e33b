/**
 * The worker's table upkeep: one round (every few thousand events applied, processing/worker.ts)
 * VACUUMs each table a batch rewrites and ANALYZEs it when its planner statistics may no longer
 * describe it.
 *
 * - VACUUM every round, every table: each processed row leaves a dead entry at the front of the
 *   inbox's claim index, and each rewrite of a state row a dead version. It is cheap (1-6 ms for the
 *   state tables of a 50,000-event backlog) and keeps the row and page counts current, which is what
 *   the planner scales its estimates by.
 * - ANALYZE the inbox every round: what its claim is planned from (how many rows wait) changes all
 *   the time, whatever its size.
 * - ANALYZE a state table once its row count has doubled or halved since this process last did, and
 *   at least every ANALYZE_AT_LEAST_EVERY rounds. Its statistics describe distributions (how many rows
 *   share a customer, an account) that do not change with its size, and ANALYZE costs more than the
 *   rest of the round: 20-55 ms each for state tables of 6,000-19,000 rows, against 1-6 ms for their
 *   VACUUM; on large tables it samples 30,000 rows every round. A table growing from empty (a new
 *   deploy, a first backlog) is still analyzed in its first rounds, then each time it has doubled: in 5
 *   of the 12 rounds of the bench's 50,000-event mixed backlog (pg_stat_statements, scratch cluster),
 *   where the state tables' upkeep fell from about 54 to about 12 us of PostgreSQL's time per event.
 */
import type { DatabaseHandle, RawStatement } from '../db/client.js'

/**
 * entitlement_states is small (a row per account) but rewritten by nearly every batch: an account's
 * answer is written again after each of its subscription's events. Left to itself, the read of a
 * batch's stored answers (entitlement-events.ts) grew from nothing to 2.4-3.2 ms per batch over a
 * 50,000-event mixed backlog, 77-100 us of PostgreSQL's time per event, the most of any statement
 * but the claim; kept up, under 0.2 ms (pg_stat_statements, scratch cluster, autovacuum off).
 */
export const MAINTAINED_TABLES = ['paddle_inbox', 'entitlement_states', 'customers', 'subscriptions', 'subscription_items', 'transactions'] as const

const ANALYZED_EVERY_ROUND: ReadonlySet<string> = new Set(['paddle_inbox'])

/** Bounds how stale a state table's statistics get while its size holds (autovacuum, where on, does more). */
export const ANALYZE_AT_LEAST_EVERY = 10

/** The row count the table's last VACUUM or ANALYZE found (-1: neither has run). */
const TABLE_ROWS: RawStatement = {
  name: 'upkeep_table_rows',
  text: 'SELECT reltuples::float8 AS rows FROM pg_class WHERE oid = to_regclass($1)',
}

export interface TableUpkeep {
  /** One round over MAINTAINED_TABLES, one table after another. */
  run(): Promise<void>
}

/** Whether a table holding `rows` now should be analyzed again, having held `analyzedAt` when it last was. */
export function sizeChanged (analyzedAt: number, rows: number): boolean {
  return rows >= 2 * Math.max(analyzedAt, 1) || rows * 2 < analyzedAt
}

export function createTableUpkeep (database: Pick<DatabaseHandle, 'query' | 'vacuum' | 'analyze'>): TableUpkeep {
  const analyzed = new Map<string, { rows: number, roundsAgo: number }>()

  /** Asked after the table's VACUUM of this round, which counted its rows. */
  async function wantsAnalyze (table: string): Promise<boolean> {
    const rows = (await database.query<{ rows: number | null }>(TABLE_ROWS, [table]))[0]?.rows ?? -1
    const last = analyzed.get(table)
    if (last !== undefined && last.roundsAgo + 1 < ANALYZE_AT_LEAST_EVERY && !sizeChanged(last.rows, rows)) {
      last.roundsAgo += 1
      return false
    }
    analyzed.set(table, { rows, roundsAgo: 0 })
    return true
  }

  return {
    async run () {
      for (const table of MAINTAINED_TABLES) {
        if (ANALYZED_EVERY_ROUND.has(table)) {
          await database.vacuum(table)
          continue
        }
        await database.vacuum(table, { analyze: false })
        if (await wantsAnalyze(table)) await database.analyze(table)
      }
    },
  }
}
