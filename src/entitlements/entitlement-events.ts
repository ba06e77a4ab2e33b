/**
 * entitlement.changed: told whenever an account's answer (the read API's answer, everything but
 * asOf: its ETag) changes, whether a Paddle event changed it (in the transaction that applies the
 * event) or time alone did (a grace period, a scheduled cancellation or pause, a trial that ends: the
 * time-driven check below, woken for the earliest moment stored in entitlement_states).
 *
 * The answer is computed exactly as the read API computes it: the same loading (deferAccountSubscriptionsIn,
 * findAccountSubscriptions' twin for transactions), the same pure decision (decideEntitlement), the
 * same rendering (renderAnswer). entitlement_states keeps the last answer emitted per account, so a
 * change is a comparison with it; a batch of events records all its answers in one statement.
 *
 * One account's answers are computed under an advisory lock on the account (lockKey('account', id)),
 * taken before its subscriptions are read: two transactions changing two subscriptions of one
 * account (two Paddle customers) cannot each record an answer that misses the other's change, and a
 * change is emitted once, whichever process (worker or time-driven check) finds it.
 */
import type { DatabaseHandle, RawStatement, Transaction } from '../db/client.js'
import { entitlementEventsTable } from '../db/schema.js'
import type { Relink } from '../billing/accounts.repository.js'
import { deferLockKeys, lockHash, lockKey } from '../billing/locks.js'
import type { OutboxStream } from '../email-events/email-events.repository.js'
import { randomHexId } from '../platform/random-ids.js'
import { decideEntitlement, type Decision, type EntitlementPolicy } from './decide.js'
import { answerJson, renderAnswer, type RenderedAnswer } from './entitlement-answer.js'
import { deferAccountSubscriptionsIn, deferRelinkedAccountSubscriptionsIn, type AccountSubscription } from './entitlements.repository.js'

export const ENTITLEMENT_STREAM: OutboxStream = {
  name: 'entitlement',
  table: entitlementEventsTable,
  channel: 'billing_entitlement_events',
  idPrefix: 'ent_',
}

/** NOTIFY payload: an account's next due moment, so that every process's timer can wake for it. */
export const ENTITLEMENT_DUE_CHANNEL = 'billing_entitlement_due'

export const ENTITLEMENT_CHANGED = 'entitlement.changed'

/**
 * The earliest moment after `now` at which time alone may change the answer: the soonest `until` of
 * any one subscription's own decision (the deciding one's, and any other's that could overtake it).
 */
export function nextDueAt (subscriptions: readonly AccountSubscription[], policy: EntitlementPolicy, now: string): string | null {
  let due: string | null = null
  for (const subscription of subscriptions) {
    const until = decideEntitlement([subscription], policy, now).until
    if (until !== null && until > now && (due === null || until < due)) due = until
  }
  return due
}

function newEventId (): string {
  return randomHexId('ent_', 16)
}

/**
 * Subscriptions as they stood after one Paddle event (or at the time-driven check), read with the
 * batch's next round trip: an account's, or those of the accounts the event's account resolution
 * moved a subscription from or to (known once it has answered), less the event's other accounts.
 */
type PendingRead = { sourceEventId: string | null, traceparent: string | null } & (
  | { accountId: string, subscriptions: () => Promise<AccountSubscription[]> }
  | { relinked: Relink, others: ReadonlySet<string>, subscriptionsOf: () => Promise<(accountId: string) => AccountSubscription[]> }
)

/** The answer computed from such a read, waiting to be recorded. */
interface PendingAnswer {
  accountId: string
  decision: Decision<AccountSubscription>
  rendered: RenderedAnswer
  dueAt: string | null
  sourceEventId: string | null
  traceparent: string | null
}

const STORED_STATES: RawStatement = {
  name: 'entitlement_states_for_accounts',
  text: `SELECT account_id, etag, access, reason, sequence,
      to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS due_at
    FROM entitlement_states WHERE account_id = ANY($1::text[])`,
}

/**
 * Writes what the comparison decided, for every account of a batch at once: the last answer per
 * account (written only when it or its due moment moved), the events, and a NOTIFY per account whose
 * due moment moved, so that every process's timer can wake for it.
 */
const RECORD: RawStatement = {
  name: 'entitlement_record_answers',
  text: `WITH state AS (
      INSERT INTO entitlement_states AS s (account_id, etag, access, reason, until, subscription_id, sequence, due_at, updated_at)
      SELECT r.account_id, r.etag, r.access, r.reason, r.until, r.subscription_id, r.sequence, r.due_at, now()
      FROM jsonb_to_recordset($1::jsonb) AS r (account_id text, etag text, access text, reason text, until timestamptz,
        subscription_id text, sequence integer, due_at timestamptz)
      ON CONFLICT (account_id) DO UPDATE SET etag = excluded.etag, access = excluded.access, reason = excluded.reason,
        until = excluded.until, subscription_id = excluded.subscription_id, sequence = excluded.sequence,
        due_at = excluded.due_at, updated_at = excluded.updated_at
    ),
    event AS (
      INSERT INTO entitlement_events (id, type, idempotency_key, occurred_at, account_id, subscription_id, ordering_key, data, source_event_id, traceparent)
      SELECT e.id, '${ENTITLEMENT_CHANGED}', '${ENTITLEMENT_CHANGED}:' || e.account_id || ':' || e.sequence, e.occurred_at, e.account_id,
        e.subscription_id, e.account_id, e.data, e.source_event_id, e.traceparent
      FROM jsonb_to_recordset($2::jsonb) AS e (id text, sequence integer, occurred_at timestamptz, account_id text,
        subscription_id text, data jsonb, source_event_id text, traceparent text)
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING source_event_id
    ),
    woken AS (SELECT pg_notify('${ENTITLEMENT_DUE_CHANNEL}', due) FROM unnest($3::text[]) AS due)
    SELECT (SELECT count(*) FROM woken)::int AS woken,
      COALESCE((SELECT json_agg(source_event_id) FROM event), '[]') AS emitted_by`,
}

const NO_SUBSCRIPTION: Decision<AccountSubscription> = { access: 'denied', reason: 'no_subscription', until: null, subscription: null }

interface StoredState { etag: string, access: string, reason: string, sequence: number, dueAt: string | null }

/**
 * Records the answers of the accounts a batch of Paddle events changed, in the batch's transaction,
 * with a handful of statements whatever the batch holds: each account is locked once, its
 * subscriptions read after each event that changed it (so every answer the read API would have shown
 * after that event is compared in turn, whatever else the batch holds), and everything is written at
 * the end in one statement. The locks and reads are deferred (Transaction.deferRead): they run where
 * the event left the transaction's data, but travel with the batch's next statement, so they cost
 * no round trip of their own.
 */
export interface EntitlementRecorder {
  /**
   * After an event: locks the accounts not locked yet in this transaction (waiting for a transaction
   * recording them elsewhere; their subscriptions are read after) and reads their subscriptions as
   * they are now; both are sent with the transaction's next statement. `relinked`: the event's
   * account resolution, deferred just before; the accounts it moves are read too (its statement
   * locked them).
   */
  afterEvent(accountIds: readonly string[], relinked: Relink | null, sourceEventId: string | null, traceparent: string | null): void
  /** Compares the answers with the last ones recorded and records them. */
  record(): Promise<RecordedAnswers>
}

export interface RecordedAnswers {
  /** The source events whose answers changed (an entitlement.changed each). */
  emittedBy: Set<string | null>
  /** The accounts whose answers were computed after each source event: their entitlement inputs changed. */
  accountsBy: Map<string | null, string[]>
}

export function createEntitlementRecorder (
  tx: Pick<Transaction, 'query' | 'defer' | 'deferRead'>,
  options: { policy: EntitlementPolicy, now: string, alreadyLocked?: readonly string[] }
): EntitlementRecorder {
  const locked = new Set(options.alreadyLocked)
  const reads: PendingRead[] = []
  return {
    afterEvent (accountIds, relinked, sourceEventId, traceparent) {
      const accounts = [...new Set(accountIds)].sort()
      const unlocked = accounts.filter((accountId) => !locked.has(accountId))
      if (unlocked.length > 0) {
        deferLockKeys(tx, unlocked.map((accountId) => lockKey('account', accountId)))
        for (const accountId of unlocked) locked.add(accountId)
      }
      for (const accountId of accounts) {
        reads.push({ accountId, subscriptions: deferAccountSubscriptionsIn(tx, accountId), sourceEventId, traceparent })
      }
      if (relinked !== null) {
        reads.push({ relinked, others: new Set(accounts), subscriptionsOf: deferRelinkedAccountSubscriptionsIn(tx), sourceEventId, traceparent })
      }
    },
    async record () {
      const accountsBy = new Map<string | null, string[]>()
      if (reads.length === 0) return { emittedBy: new Set(), accountsBy }
      const stored = new Map<string, StoredState>()
      const asked = new Set<string>()
      const readStored = async (accounts: string[]): Promise<void> => {
        for (const accountId of accounts) asked.add(accountId)
        for (const row of await tx.query<{ account_id: string, etag: string, access: string, reason: string, sequence: number, due_at: string | null }>(STORED_STATES, [accounts])) {
          stored.set(row.account_id, { etag: row.etag, access: row.access, reason: row.reason, sequence: row.sequence, dueAt: row.due_at })
        }
      }
      // This query sends the deferred reads too (before it): their rows are there after it.
      await readStored([...new Set(reads.flatMap((read) => 'accountId' in read ? [read.accountId] : []))])
      const pending: PendingAnswer[] = []
      const answer = (accountId: string, subscriptions: AccountSubscription[], read: PendingRead): void => {
        const decision = decideEntitlement(subscriptions, options.policy, options.now)
        pending.push({
          accountId,
          decision,
          rendered: renderAnswer(accountId, decision),
          dueAt: nextDueAt(subscriptions, options.policy, options.now),
          sourceEventId: read.sourceEventId,
          traceparent: read.traceparent,
        })
        accountsBy.set(read.sourceEventId, [...accountsBy.get(read.sourceEventId) ?? [], accountId])
      }
      for (const read of reads.splice(0)) {
        if ('accountId' in read) {
          answer(read.accountId, await read.subscriptions(), read)
          continue
        }
        const moved = (await read.relinked.accounts()).filter((accountId) => !read.others.has(accountId)).sort()
        if (moved.length === 0) continue
        const subscriptionsOf = await read.subscriptionsOf()
        for (const accountId of moved) answer(accountId, subscriptionsOf(accountId), read)
      }
      // Accounts only account resolution named (rare): their stored answers are read now.
      const unread = [...new Set(pending.map((answered) => answered.accountId))].filter((accountId) => !asked.has(accountId))
      if (unread.length > 0) await readStored(unread)
      const { states, events, woken } = compareAnswers(pending, stored, options.now)
      if (states.length === 0) return { emittedBy: new Set(), accountsBy }
      const [row] = await tx.query<{ emitted_by: Array<string | null> }>(RECORD, [JSON.stringify(states), JSON.stringify(events), woken])
      return { emittedBy: new Set(row?.emitted_by ?? []), accountsBy }
    },
  }
}

/**
 * The comparison, account by account in the order the answers were computed: an answer whose ETag
 * differs from the previous one is a change (an event, numbered after the last); an empty stored
 * ETag is a baseline (the migration's rows for accounts that existed before): recorded, never
 * emitted, since the previous answer is unknown. No stored row: the previous answer is "no subscription".
 */
function compareAnswers (pending: readonly PendingAnswer[], stored: ReadonlyMap<string, StoredState>, now: string) {
  const current = new Map<string, StoredState & { written: boolean }>()
  const events: Array<Record<string, unknown>> = []
  for (const answer of pending) {
    const previous = current.get(answer.accountId) ?? {
      ...(stored.get(answer.accountId) ?? { etag: renderAnswer(answer.accountId, NO_SUBSCRIPTION).etag, access: 'denied', reason: 'no_subscription', sequence: 0, dueAt: null }),
      written: false,
    }
    const changed = previous.etag !== answer.rendered.etag
    const emit = changed && previous.etag !== ''
    const sequence = previous.sequence + (emit ? 1 : 0)
    if (emit) {
      events.push({
        id: newEventId(),
        sequence,
        occurred_at: now,
        account_id: answer.accountId,
        subscription_id: answer.decision.subscription?.id ?? null,
        data: {
          sequence,
          entitlement: JSON.parse(answerJson(answer.rendered, now)) as unknown,
          previous: { access: previous.access, reason: previous.reason },
        },
        source_event_id: answer.sourceEventId,
        traceparent: answer.traceparent,
      })
    }
    current.set(answer.accountId, {
      etag: answer.rendered.etag,
      access: answer.decision.access,
      reason: answer.decision.reason,
      sequence,
      dueAt: answer.dueAt,
      written: previous.written || changed || previous.dueAt !== answer.dueAt,
    })
  }
  const states: Array<Record<string, unknown>> = []
  const woken: string[] = []
  for (const answer of lastAnswers(pending)) {
    const state = current.get(answer.accountId)
    if (state === undefined || !state.written) continue
    states.push({
      account_id: answer.accountId,
      etag: state.etag,
      access: state.access,
      reason: state.reason,
      until: answer.decision.until,
      subscription_id: answer.decision.subscription?.id ?? null,
      sequence: state.sequence,
      due_at: state.dueAt,
    })
    if (state.dueAt !== null && state.dueAt !== (stored.get(answer.accountId)?.dueAt ?? null)) woken.push(state.dueAt)
  }
  return { states, events, woken }
}

/** The last answer computed for each account. */
function lastAnswers (pending: readonly PendingAnswer[]): PendingAnswer[] {
  const last = new Map<string, PendingAnswer>()
  for (const answer of pending) last.set(answer.accountId, answer)
  return [...last.values()]
}

const DUE_ACCOUNTS: RawStatement = {
  name: 'entitlement_due_accounts',
  text: 'SELECT account_id FROM entitlement_states WHERE due_at <= $1::timestamptz ORDER BY due_at LIMIT $2',
}

const TRY_LOCK_ACCOUNT: RawStatement = {
  name: 'entitlement_try_lock_account',
  text: `SELECT pg_try_advisory_xact_lock(${lockHash('$1')}) AS locked`,
}

const EARLIEST_DUE: RawStatement = {
  name: 'entitlement_earliest_due',
  text: 'SELECT to_char(min(due_at) AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS due_at FROM entitlement_states WHERE due_at IS NOT NULL',
}

/**
 * The time-driven check: evaluates the accounts whose due moment has come, each in a transaction of
 * its own under the account's lock (tried, never waited for: whoever holds it is recording that
 * account right now, and leaves its due moment where it belongs). Exactly once across processes:
 * the lock serialises them, and the second finds the answer already recorded.
 * Returns how many accounts it evaluated and how many answers changed.
 */
export async function recordDueChanges (
  database: DatabaseHandle,
  options: { policy: EntitlementPolicy, now: string, limit?: number }
): Promise<{ evaluated: number, changed: number, more: boolean }> {
  const limit = options.limit ?? 200
  const due = await database.query<{ account_id: string }>(DUE_ACCOUNTS, [options.now, limit])
  let evaluated = 0
  let changed = 0
  for (const { account_id: accountId } of due) {
    const outcome = await database.transaction(async (tx) => {
      const [lock] = await tx.query<{ locked: boolean }>(TRY_LOCK_ACCOUNT, [lockKey('account', accountId)])
      if (lock?.locked !== true) return null
      const recorder = createEntitlementRecorder(tx, { policy: options.policy, now: options.now, alreadyLocked: [accountId] })
      recorder.afterEvent([accountId], null, null, null)
      return (await recorder.record()).emittedBy.size > 0
    })
    if (outcome === null) continue
    evaluated += 1
    if (outcome) changed += 1
  }
  return { evaluated, changed, more: due.length === limit }
}

/** The earliest due moment stored, or null when no answer is waiting for time. */
export async function earliestDueAt (database: DatabaseHandle): Promise<string | null> {
  const [row] = await database.query<{ due_at: string | null }>(EARLIEST_DUE, [])
  return row?.due_at ?? null
}
