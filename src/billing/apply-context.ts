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
  /** Stored states read for the whole batch before it was applied (see prefetch.ts). */
  prefetched?: PrefetchedStates
}

/** Stored states read ahead; each is taken once, and forgotten when something may have changed it. */
export interface PrefetchedStates {
  /** The state read ahead for the id (null: no row), or undefined when it was not read ahead (or is no longer current). */
  take<State>(store: VersionedStore<State>, id: string): State | null | undefined
  /** Account resolution rewrote rows of these customers (null: rows of no customer): what was read ahead of them is stale. */
  forgetCustomers(customerIds: ReadonlyArray<string | null>): void
  /**
   * True when nothing was stored of the customer (no row of its own, no transaction, no subscription)
   * nor of the subscription (null: none named) when the batch began, and no event of the batch applied
   * so far named either. False when unknown (not read ahead).
   */
  nothingStoredOf(customerId: string | null, subscriptionId: string | null): boolean
  /**
   * True when the customer's row and the subscription's (null: none named; else of the same customer)
   * had both resolved to `accountId` when the batch began, and no event of the batch applied so far
   * named or relinked either. False when unknown (not read ahead).
   */
  resolvedTo(accountId: string, customerId: string | null, subscriptionId: string | null): boolean
  /** An event of the batch is about these customers and subscriptions: they may have rows from now on. */
  storing(customerIds: ReadonlyArray<string | null>, subscriptionIds: ReadonlyArray<string | null>): void
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

/** Where a versioned entity is read (locked) and written. */
export interface VersionedStore<State> {
  /** The stored state, locked for the rest of the transaction; null when there is none. */
  load(tx: Transaction, id: string): Promise<State | null>
  /** The stored states of several ids in one statement, locked; ids without a row are left out. */
  loadMany(tx: Transaction, ids: readonly string[]): Promise<Map<string, State>>
  /**
   * Writes the new state (the statement refuses to move a row backwards as well), deferred: sent with
   * the transaction's next statement, in the same round trip (Transaction.defer).
   */
  save(tx: Transaction, after: State, before: State | null): void
}

/** The store of a table whose state is one row keyed by `id`, written with the table's named statements. */
export function rowStore<Row extends { rowUpdatedAt: unknown }> (statements: TableStatements<any>): VersionedStore<StateOf<Row>> {
  return {
    async load (tx, id) {
      const [current] = await tx.query<Record<string, unknown>>(statements.selectForUpdate, [id])
      return current === undefined ? null : withoutRowTime(statements.fromRow(current) as Row)
    },
    async loadMany (tx, ids) {
      const rows = await tx.query<Record<string, unknown>>(statements.selectManyForUpdate, [ids])
      return new Map(rows.map((row) => [String(row.id), withoutRowTime(statements.fromRow(row) as Row)]))
    },
    save (tx, after) {
      tx.defer(statements.upsert, statements.values(after))
    },
  }
}

export interface VersionedApply<State> {
  /** Runs once the stored state is locked and read, whatever the event's version turns out to be. */
  whenLocked?: (stored: State | null) => Promise<void>
  /** An event older than the stored state may still carry a fact worth keeping; its stale result. */
  whenOlder?: (stored: State) => Promise<ApplyResult<State> | null>
  /** Why a newer event must still not be applied (null: apply it). */
  refuse?: (stored: State) => string | null
  /** Whether the change touches what account resolution reads. */
  needsRelink: (before: State | null, after: State) => boolean
}

/**
 * The version rule, the one place it is written: lock and read the stored state; an event older
 * than it is stale, the same version changes nothing; otherwise write what `build` makes of the event.
 */
export async function applyVersioned<State extends { version: string }> (
  context: ApplyContext,
  store: VersionedStore<State>,
  version: string,
  id: string,
  build: (before: State | null) => State,
  rules: VersionedApply<State>
): Promise<ApplyResult<State>> {
  const prefetched = context.prefetched?.take(store, id)
  const before = prefetched === undefined ? await store.load(context.tx, id) : prefetched
  await rules.whenLocked?.(before)
  const order = compareVersions(version, before?.version)
  if (order === 'older') {
    const kept = before === null ? null : await rules.whenOlder?.(before) ?? null
    return kept ?? { outcome: 'stale', note: `older than the stored version ${before?.version ?? ''}` }
  }
  if (order === 'same' && before !== null) return { outcome: 'applied', before, after: before, note: ALREADY_APPLIED }
  const refused = before === null ? null : rules.refuse?.(before) ?? null
  if (refused !== null) return { outcome: 'stale', note: refused }
  const after = build(before)
  store.save(context.tx, after, before)
  return { outcome: 'applied', before, after, relink: rules.needsRelink(before, after) }
}

export const ALREADY_APPLIED = 'this version is already applied'
