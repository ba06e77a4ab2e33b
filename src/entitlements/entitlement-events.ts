/**
 * entitlement.changed: told whenever an account's answer (the read API's answer, everything but
 * asOf: its ETag) changes, whether a Paddle event changed it (in the transaction that applies the
 * event) or time alone did (a grace period, a scheduled cancellation or pause, a trial that ends: the
 * time-driven check below, woken for the earliest moment stored in entitlement_states).
 *
 * The answer is computed exactly as the read API computes it: the same loading
 * (findAccountSubscriptions), the same pure decision (decideEntitlement), the same rendering
 * (renderAnswer). entitlement_states keeps the last answer emitted per account, so a change is one
 * comparison, made in the statement that records it.
 *
 * One account's answers are computed under an advisory lock on the account (lockKey('account', id)),
 * taken before its subscriptions are read: two transactions changing two subscriptions of one
 * account (two Paddle customers) cannot each record an answer that misses the other's change, and a
 * change is emitted once, whichever process (worker or time-driven check) finds it.
 */
import { randomBytes } from 'node:crypto'
import type { DatabaseHandle, RawStatement, Transaction } from '../db/client.js'
import { entitlementEventsTable } from '../db/schema.js'
import { lockHash, lockKey, lockKeys } from '../billing/locks.js'
import type { OutboxStream } from '../email-events/email-events.repository.js'
import { decideEntitlement, type Decision, type EntitlementPolicy } from './decide.js'
import { answerJson, renderAnswer } from './entitlement-answer.js'
import { findAccountSubscriptions, type AccountSubscription } from './entitlements.repository.js'

export const ENTITLEMENT_STREAM: OutboxStream = {
  name: 'entitlement',
  table: entitlementEventsTable,
  channel: 'billing_entitlement_events',
  idPrefix: 'ent_',
}

/** NOTIFY payload: an account's next due moment, so that every process's timer can wake for it. */
export const ENTITLEMENT_DUE_CHANNEL = 'billing_entitlement_due'

export const ENTITLEMENT_CHANGED = 'entitlement.changed'

type Querier = Pick<Transaction, 'query' | 'db'>

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
  return `ent_${randomBytes(16).toString('hex')}`
}

/**
 * Compares the answer with the last one recorded and, in the same statement, records it: the state
 * row (written only when the answer or its due moment moved) and, when the answer changed, the event.
 * An empty stored etag is a baseline (the migration's rows for accounts that existed before):
 * recorded, never emitted, since the previous answer is unknown.
 */
const RECORD: RawStatement = {
  name: 'entitlement_record_answer',
  text: `WITH prev AS MATERIALIZED (
      SELECT COALESCE(s.etag, $12) AS etag, COALESCE(s.access, 'denied') AS access, COALESCE(s.reason, 'no_subscription') AS reason,
        COALESCE(s.sequence, 0) AS sequence, s.due_at
      FROM (SELECT 1) AS one LEFT JOIN entitlement_states s ON s.account_id = $1
    ),
    decided AS MATERIALIZED (
      SELECT prev.*, prev.etag <> '' AND prev.etag <> $2 AS emit,
        prev.etag <> $2 OR prev.due_at IS DISTINCT FROM $7::timestamptz AS write
      FROM prev
    ),
    state AS (
      INSERT INTO entitlement_states AS s (account_id, etag, access, reason, until, subscription_id, sequence, due_at, updated_at)
      SELECT $1, $2, $3, $4, $5::timestamptz, $6, decided.sequence + (CASE WHEN decided.emit THEN 1 ELSE 0 END), $7::timestamptz, now()
      FROM decided WHERE decided.write
      ON CONFLICT (account_id) DO UPDATE SET etag = excluded.etag, access = excluded.access, reason = excluded.reason,
        until = excluded.until, subscription_id = excluded.subscription_id, sequence = excluded.sequence,
        due_at = excluded.due_at, updated_at = excluded.updated_at
      RETURNING s.sequence, s.due_at
    ),
    event AS (
      INSERT INTO entitlement_events (id, type, idempotency_key, occurred_at, account_id, subscription_id, ordering_key, data, source_event_id)
      SELECT $8, '${ENTITLEMENT_CHANGED}', '${ENTITLEMENT_CHANGED}:' || $1 || ':' || state.sequence, $9::timestamptz, $1, $6, $1,
        jsonb_build_object('sequence', state.sequence, 'entitlement', $10::jsonb,
          'previous', jsonb_build_object('access', decided.access, 'reason', decided.reason)),
        $11
      FROM state, decided WHERE decided.emit
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id
    ),
    woken AS (
      SELECT pg_notify('${ENTITLEMENT_DUE_CHANNEL}', to_char($7::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM decided WHERE decided.write AND $7::timestamptz IS NOT NULL
        AND decided.due_at IS DISTINCT FROM $7::timestamptz
    )
    SELECT (SELECT count(*) FROM event)::int AS emitted, (SELECT count(*) FROM woken)::int AS woken`,
}

const NO_SUBSCRIPTION: Decision<AccountSubscription> = { access: 'denied', reason: 'no_subscription', until: null, subscription: null }

/**
 * Computes the account's answer at `now` and records it; true when it changed (an event was written).
 * The caller holds the account's lock (lockAccounts, or tryLockAccount).
 */
async function recordAnswer (tx: Querier, accountId: string, policy: EntitlementPolicy, now: string, sourceEventId: string | null): Promise<boolean> {
  const subscriptions = await findAccountSubscriptions(tx, accountId)
  const decision = decideEntitlement(subscriptions, policy, now)
  const rendered = renderAnswer(accountId, decision)
  const [row] = await tx.query<{ emitted: number }>(RECORD, [
    accountId,
    rendered.etag,
    decision.access,
    decision.reason,
    decision.until,
    decision.subscription?.id ?? null,
    nextDueAt(subscriptions, policy, now),
    newEventId(),
    now,
    answerJson(rendered, now),
    sourceEventId,
    renderAnswer(accountId, NO_SUBSCRIPTION).etag,
  ])
  return (row?.emitted ?? 0) > 0
}

/**
 * In the transaction that applied a Paddle event: records the answers of the accounts whose
 * subscriptions it changed (AppliedEvent.entitlementAccounts). Returns how many changed.
 */
export async function recordEntitlementChanges (
  tx: Transaction,
  accountIds: readonly string[],
  options: { policy: EntitlementPolicy, now: string, sourceEventId: string | null }
): Promise<number> {
  if (accountIds.length === 0) return 0
  const accounts = [...new Set(accountIds)].sort()
  // Waits for a transaction recording the same account elsewhere; the subscriptions are read after.
  await lockKeys(tx, accounts.map((accountId) => lockKey('account', accountId)))
  let changed = 0
  for (const accountId of accounts) if (await recordAnswer(tx, accountId, options.policy, options.now, options.sourceEventId)) changed += 1
  return changed
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
      return await recordAnswer(tx, accountId, options.policy, options.now, null)
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
