import type { Transaction } from '../db/client.js'
import type { InboxOrigin } from '../db/schema.js'
import type { TableStatements } from '../db/statements.js'
import { compareVersions } from './version.js'

/** What every apply function knows about the event it applies, and the transaction it writes in. */
export interface ApplyContext {
  /** The transaction that also marks the inbox row processed. */
  tx: Transaction
  eventId: string
  eventType: string
  /** Canonical microsecond timestamp. */
  occurredAt: string
  origin: InboxOrigin
  /** The custom_data key that carries TrackSera's account id. */
  accountIdKey: string
}

export type ApplyResult<State> =
  /** `relink`: something that account resolution reads changed (see accounts.repository.ts). */
  | { outcome: 'applied', before: State | null, after: State, note?: string, relink?: boolean }
  /** `relink`: the stale event still added a link that account resolution reads. */
  | { outcome: 'stale', note: string, relink?: boolean }

/** An event that cannot be applied as it stands: retried, then dead-lettered. The message names fields, never values. */
export class InvalidPayloadError extends Error {
  override name = 'InvalidPayloadError'
}

export function required<T> (value: T | null | undefined, field: string): T {
  if (value === null || value === undefined) throw new InvalidPayloadError(`data.${field} is missing`)
  return value
}

export function oneOf<const T extends readonly string[]> (value: string | null | undefined, allowed: T, field: string): T[number] {
  const present = required(value, field)
  if (!(allowed as readonly string[]).includes(present)) {
    throw new InvalidPayloadError(`data.${field} is not one of ${allowed.join(', ')}`)
  }
  return present
}

/** The state of a row as apply functions compare it: everything but the time the row was written. */
export type StateOf<Row> = Omit<Row, 'rowUpdatedAt'>

export function withoutRowTime<Row extends { rowUpdatedAt: unknown }> (row: Row): StateOf<Row> {
  const { rowUpdatedAt: _written, ...state } = row
  return state
}

/**
 * The version rule for a row keyed by `id`, shared by the entities that have nothing more to it
 * (customers, transactions, adjustments): lock and read the stored row; older than it is stale, the
 * same version changes nothing; otherwise write what `build` makes of the event.
 */
export async function applyVersioned<Row extends { rowUpdatedAt: unknown, version: string }> (
  context: ApplyContext,
  statements: TableStatements<any>,
  target: { id: string, version: string },
  build: (before: StateOf<Row> | null) => StateOf<Row>,
  needsRelink: (before: StateOf<Row> | null, after: StateOf<Row>) => boolean
): Promise<ApplyResult<StateOf<Row>>> {
  const [current] = await context.tx.query<Record<string, unknown>>(statements.selectForUpdate, [target.id])
  const before = current === undefined ? null : withoutRowTime(statements.fromRow(current) as Row)
  const order = compareVersions(target.version, before?.version)
  if (order === 'older') return { outcome: 'stale', note: `older than the stored version ${before?.version ?? ''}` }
  if (order === 'same' && before !== null) return { outcome: 'applied', before, after: before, note: ALREADY_APPLIED }
  const after = build(before)
  await context.tx.query(statements.upsert, statements.values(after))
  return { outcome: 'applied', before, after, relink: needsRelink(before, after) }
}

export const ALREADY_APPLIED = 'this version is already applied'
