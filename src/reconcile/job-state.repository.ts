/** What a scheduled job remembers between runs, one JSON document per job, in the job_state table. */
import type { DatabaseHandle, RawStatement } from '../db/client.js'

const READ: RawStatement = { name: 'job_state_read', text: 'SELECT state FROM job_state WHERE name = $1' }
const WRITE: RawStatement = {
  name: 'job_state_write',
  text: `INSERT INTO job_state (name, state) VALUES ($1, $2::jsonb)
    ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
}

export async function readJobState<State extends object> (database: Pick<DatabaseHandle, 'query'>, name: string): Promise<Partial<State>> {
  const [row] = await database.query<{ state: Partial<State> }>(READ, [name])
  return row?.state ?? {}
}

export async function writeJobState (database: Pick<DatabaseHandle, 'query'>, name: string, state: object): Promise<void> {
  await database.query(WRITE, [name, JSON.stringify(state)])
}
