/** What a scheduled job remembers between runs, one JSON document per job, in the job_state table. */
import { eq, sql } from 'drizzle-orm'
import type { DatabaseHandle } from '../db/client.js'
import { jobStateTable } from '../db/schema.js'

export async function readJobState<State extends object> (database: Pick<DatabaseHandle, 'db'>, name: string): Promise<Partial<State>> {
  const [row] = await database.db.select({ state: jobStateTable.state }).from(jobStateTable).where(eq(jobStateTable.name, name))
  return (row?.state as Partial<State> | undefined) ?? {}
}

export async function writeJobState (database: Pick<DatabaseHandle, 'db'>, name: string, state: object): Promise<void> {
  await database.db.insert(jobStateTable).values({ name, state: state as Record<string, unknown> })
    .onConflictDoUpdate({ target: jobStateTable.name, set: { state: sql`excluded.state`, updatedAt: sql`now()` } })
}
