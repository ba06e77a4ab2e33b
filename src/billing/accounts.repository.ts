/**
 * Which TrackSera account a subscription or transaction belongs to. TrackSera passes its account id
 * to checkout in custom_data; Paddle copies it onto some entities and not others, and events arrive
 * in any order. So the account is resolved again, from everything stored, whenever something that
 * feeds it changes, and the answer is the same whatever order the facts arrived in. Only what the
 * changed fact can reach is resolved again (a transaction, its subscription, that subscription's
 * transactions), unless the fact decides the customer's own account, which everything may fall back
 * to; so an event costs the same whatever the customer's history:
 *
 *   customer      = manual link ?? its own custom_data ?? its earliest transaction's ?? its earliest subscription's
 *   subscription  = its own custom_data ?? its (checkout) transactions' ?? the customer's
 *   transaction   = its own custom_data ?? its subscription's ?? the customer's
 *
 * One account may have several Paddle customers; each subscription carries its own account id, so
 * none is lost.
 */
import type { DatabaseHandle, RawStatement, Transaction } from '../db/client.js'
import { lockKey, lockKeys, lockKeySql, takeLocksInOrder } from './locks.js'

/**
 * The account of the customer whose id is the parameter `customer`, as a query: shared by the
 * statements below. Each lookup is one index probe (the partial indexes on transactions'
 * custom_account_id), and COALESCE stops at the first answer. `exclude` leaves one transaction or
 * subscription out, to tell whether a fact decides the customer's account (see RELINK_TRANSACTION_FACT).
 */
function customerAccount (customer: string, exclude: { transaction?: string, subscription?: string } = {}): string {
  return `SELECT COALESCE(
      (SELECT COALESCE(c.manual_account_id, c.custom_account_id) FROM customers c WHERE c.id = ${customer}),
      (SELECT t.custom_account_id FROM transactions t
        WHERE t.customer_id = ${customer} AND t.custom_account_id IS NOT NULL${exclude.transaction === undefined ? '' : ` AND t.id <> ${exclude.transaction}`}
        ORDER BY t.paddle_created_at NULLS LAST, t.id LIMIT 1),
      (SELECT s.custom_account_id FROM subscriptions s
        WHERE s.customer_id = ${customer} AND s.custom_account_id IS NOT NULL${exclude.subscription === undefined ? '' : ` AND s.id <> ${exclude.subscription}`}
        ORDER BY s.paddle_created_at NULLS LAST, s.id LIMIT 1)
    ) AS account_id`
}

/** A subscription s's account, given the CTE customer_account: its own, else its (checkout) transactions', else the customer's. */
const SUBSCRIPTION_ACCOUNT = `COALESCE(
    s.custom_account_id,
    (SELECT candidate.custom_account_id FROM (
      (SELECT t.custom_account_id, t.paddle_created_at, t.id FROM transactions t
        WHERE t.subscription_id = s.id AND t.custom_account_id IS NOT NULL
        ORDER BY t.paddle_created_at NULLS LAST, t.id LIMIT 1)
      UNION ALL
      (SELECT t.custom_account_id, t.paddle_created_at, t.id FROM transactions t
        WHERE t.id = s.origin_transaction_id AND t.custom_account_id IS NOT NULL)
    ) candidate ORDER BY candidate.paddle_created_at NULLS LAST, candidate.id LIMIT 1),
    (SELECT account_id FROM customer_account)
  )`

/** Writes `subscription_accounts` (id, previous_account_id, account_id) where they differ; returns the moves. */
const SUBSCRIPTION_UPDATE = `subscription_update AS (
      UPDATE subscriptions s SET account_id = sa.account_id
      FROM subscription_accounts sa
      WHERE s.id = sa.id AND s.account_id IS DISTINCT FROM sa.account_id
      RETURNING s.id, sa.previous_account_id, sa.account_id
    )`

/**
 * Where a relink statement leaves the accounts it moved a subscription from or to, for the rest of
 * the transaction (a transaction-local setting, JSON array): the statements deferred after it read
 * them there (movedAccountsQuery), so that what depends on them needs no round trip of its own. The
 * statement also takes those accounts' locks (lockKey('account', id)), as the entitlement recorder
 * would before reading their subscriptions.
 */
const MOVED_ACCOUNTS_SETTING = 'billing.relinked_accounts'

/** The setting as JSON text: '[]' before any relink statement of the transaction ('' once a transaction that set it has ended). */
const MOVED_ACCOUNTS_JSON = `COALESCE(NULLIF(current_setting('${MOVED_ACCOUNTS_SETTING}', true), ''), '[]')`

/** The accounts the transaction's last relink statement moved a subscription from or to, as a query of one text column. */
export const movedAccountsQuery = `SELECT json_array_elements_text(${MOVED_ACCOUNTS_JSON}::json)`

/**
 * Whether the transaction's last relink statement moved any subscription, as a condition without
 * columns: a statement's one-time filter, so that what it reads is not even scanned when none moved
 * (nearly always).
 */
export const anyAccountsMoved = `${MOVED_ACCOUNTS_JSON} <> '[]'`

/**
 * The end of a relink statement: the accounts a subscription moved from or to in its
 * `subscription_update` (their entitlements changed, see entitlements/), locked, answered and left in
 * MOVED_ACCOUNTS_SETTING.
 */
const answerMovedAccounts = (from = ''): string => `,
    moved AS MATERIALIZED (SELECT ARRAY(SELECT DISTINCT side.account_id
      FROM subscription_update AS updated,
      LATERAL (VALUES (updated.previous_account_id), (updated.account_id)) AS side (account_id)
      WHERE side.account_id IS NOT NULL) AS accounts${from}),
    moved_locks AS MATERIALIZED (${takeLocksInOrder(`SELECT ${lockKeySql('account', 'account_id')} FROM moved, unnest(moved.accounts) AS account_id`)})
    SELECT moved.accounts, set_config('${MOVED_ACCOUNTS_SETTING}', to_json(moved.accounts)::text, true), moved_locks.locks
    FROM moved, moved_locks`

/** Writes the customer's account from the CTE customer_account, where `when` holds. */
const customerUpdate = (customer: string, when = 'true'): string => `customer_update AS (
      UPDATE customers c SET account_id = ca.account_id
      FROM customer_account ca
      WHERE ${when} AND c.id = ${customer} AND c.account_id IS DISTINCT FROM ca.account_id
    )`

/**
 * A transaction t2's account, given the CTEs customer_account and `subscription_accounts` (the
 * subscriptions resolved by the same statement): its own, else its subscription's, else the customer's.
 */
const TRANSACTION_ACCOUNT = `COALESCE(
    t2.custom_account_id,
    (SELECT sa.account_id FROM subscription_accounts sa WHERE sa.id = t2.subscription_id),
    (SELECT s.account_id FROM subscriptions s WHERE s.id = t2.subscription_id),
    (SELECT account_id FROM customer_account)
  )`

/** The CTE `subscription_accounts`: the subscriptions s `where` selects, with their stored and resolved accounts. */
const subscriptionAccounts = (where: string): string => `subscription_accounts AS (
      SELECT s.id, s.account_id AS previous_account_id, ${SUBSCRIPTION_ACCOUNT} AS account_id FROM subscriptions s
      WHERE ${where}
    )`

/** The CTE `transaction_update`: writes the resolved account of the transactions t2 `where` selects, where it differs. */
const transactionUpdate = (where: string): string => `transaction_update AS (
      UPDATE transactions t SET account_id = resolved.account_id
      FROM (SELECT t2.id, ${TRANSACTION_ACCOUNT} AS account_id FROM transactions t2 WHERE ${where}) resolved
      WHERE t.id = resolved.id AND t.account_id IS DISTINCT FROM resolved.account_id
    )`

/**
 * CTEs that re-resolve the customer ($1) and every subscription and transaction of it, given the CTE
 * customer_account. Needed when the customer's own account may have changed, since every row of the
 * customer may fall back to it: its first link, its custom_data, a manual link. Its cost grows with
 * the customer's history, so the facts that cannot change the customer's account take the narrow
 * statements below, which reach that far only when the fact decides it.
 */
const WHOLE_CUSTOMER = `${customerUpdate('$1')},
    ${subscriptionAccounts('s.customer_id = $1')},
    ${SUBSCRIPTION_UPDATE},
    ${transactionUpdate('t2.customer_id = $1')}`

/**
 * The CTEs `customer_account` (customer $2's account) and `decides_customer` (`full_relink`: whether
 * that account changes when the excluded fact is left out, so the whole customer must be re-resolved),
 * and `customer_update`, which writes the customer's account when it does.
 */
function decidesCustomer (exclude: { transaction: string } | { subscription: string }): string {
  return `WITH customer_account AS (${customerAccount('$2')}),
    decides_customer AS (
      SELECT $2::text IS NOT NULL
        AND (SELECT account_id FROM customer_account) IS DISTINCT FROM (${customerAccount('$2', exclude)}) AS full_relink
    ),
    ${customerUpdate('$2', '(SELECT full_relink FROM decides_customer)')}`
}

/**
 * Every subscription or transaction ($alias.id) of customer $2, only when the statement's fact decides
 * the customer's account: a one-time filter, so that otherwise nothing of the customer's history is read.
 */
const wholeCustomerWhenDecided = (table: 'subscriptions' | 'transactions', alias: string): string =>
  `SELECT ${alias}.id FROM ${table} ${alias} WHERE (SELECT full_relink FROM decides_customer) AND ${alias}.customer_id = $2`

/** The whole customer ($1) re-resolved. */
const RELINK_CUSTOMER: RawStatement = {
  name: 'relink_customer_accounts',
  text: `
    WITH customer_account AS (${customerAccount('$1')}),
    ${WHOLE_CUSTOMER}${answerMovedAccounts()}`,
}

/**
 * A relink, deferred (Transaction.deferRead): it runs where the transaction stands now and travels
 * with its next statement. `accounts()` answers the accounts that gained or lost a subscription.
 */
export interface Relink { accounts(): Promise<string[]> }

function deferRelink (tx: Pick<Transaction, 'deferRead'>, statement: RawStatement, values: unknown[]): Relink {
  const read = tx.deferRead<{ accounts: string[] }>(statement, values)
  return { accounts: async () => (await read.rows())[0]?.accounts ?? [] }
}

/** Re-resolves everything of the customer. */
export function relinkCustomerAccounts (tx: Pick<Transaction, 'deferRead'>, customerId: string): Relink {
  return deferRelink(tx, RELINK_CUSTOMER, [customerId])
}

/**
 * A transaction ($1) was stored or changed what account resolution reads of it (its custom_data,
 * subscription or customer $2; $3 its previous subscription). What that can change, short of the
 * customer's own account: the transaction's account, its subscription's (and previous
 * subscription's) when it carries the earliest account id of one, and then the other transactions of
 * such a subscription that take their account from it. A few index probes in the usual case (a new
 * transaction of a customer whose account is known), whatever the customer's history.
 *
 * When the customer's own account depends on this transaction (it is the customer's earliest with an
 * account id, and leaving it out gives another answer), the same statement re-resolves the whole
 * customer instead (the usual case for a new customer's first transaction): one statement either way.
 * Both cases share one update of each table: the executor sets up every part of a statement, run or
 * not, and a second set of updates for the whole customer cost 10-15% more of the server's CPU per call
 * (the mixed stream's own calls replayed: 350-363 µs against 317-320 µs).
 */
const RELINK_TRANSACTION_FACT: RawStatement = {
  name: 'relink_transaction_fact',
  text: `
    ${decidesCustomer({ transaction: '$1' })},
    ${subscriptionAccounts(`s.customer_id = $2
        AND ((SELECT full_relink FROM decides_customer)
          OR s.id = (SELECT t.subscription_id FROM transactions t WHERE t.id = $1) OR s.id = $3 OR s.origin_transaction_id = $1)`)},
    ${SUBSCRIPTION_UPDATE},
    -- The transaction itself, and the transactions of a subscription whose account moved, looked
    -- up only when one did (a one-time filter): with an OR of the two, the planner scanned every
    -- transaction of the customer for each event, a cost that grew with the customer's history.
    -- As an array, looked up by primary key: as a set (IN), the planner expected the whole
    -- customer's and hashed a scan of the table.
    ${transactionUpdate(`t2.id = ANY (ARRAY(
          SELECT $1::text
          UNION
          SELECT t3.id FROM transactions t3
          WHERE EXISTS (SELECT 1 FROM subscription_update)
            AND t3.subscription_id = ANY (ARRAY(SELECT id FROM subscription_update)) AND t3.customer_id = $2 AND t3.custom_account_id IS NULL
          UNION
          ${wholeCustomerWhenDecided('transactions', 't4')}))`)}${answerMovedAccounts(' FROM decides_customer')}`,
}

export interface TransactionFact {
  transactionId: string
  customerId: string | null
  previousSubscriptionId: string | null
}

export function relinkTransactionFact (tx: Pick<Transaction, 'deferRead'>, fact: TransactionFact): Relink {
  return deferRelink(tx, RELINK_TRANSACTION_FACT, [fact.transactionId, fact.customerId, fact.previousSubscriptionId])
}

/**
 * A subscription ($1) was stored or changed what account resolution reads of it (its custom_data,
 * customer $2 or checkout transaction): re-resolves it and the transactions that take their account
 * from it, or the whole customer when the customer's own account depends on it (as for transactions above).
 */
const RELINK_SUBSCRIPTION_FACT: RawStatement = {
  name: 'relink_subscription_fact',
  text: `
    ${decidesCustomer({ subscription: '$1' })},
    ${subscriptionAccounts(`s.id = ANY (ARRAY(
        SELECT s2.id FROM subscriptions s2 WHERE s2.id = $1 AND s2.customer_id IS NOT DISTINCT FROM $2
        UNION
        ${wholeCustomerWhenDecided('subscriptions', 's3')}))`)},
    ${SUBSCRIPTION_UPDATE},
    -- Those stored before the subscription fell back to the customer's account (or none).
    ${transactionUpdate(`t2.id = ANY (ARRAY(
          SELECT t3.id FROM transactions t3 WHERE t3.subscription_id = $1 AND t3.customer_id IS NOT DISTINCT FROM $2 AND t3.custom_account_id IS NULL
          UNION
          ${wholeCustomerWhenDecided('transactions', 't4')}))`)}${answerMovedAccounts(' FROM decides_customer')}`,
}

export function relinkSubscriptionFact (tx: Pick<Transaction, 'deferRead'>, fact: { subscriptionId: string, customerId: string | null }): Relink {
  return deferRelink(tx, RELINK_SUBSCRIPTION_FACT, [fact.subscriptionId, fact.customerId])
}

/** PUT /internal/customers/:id/account: a manual link, which wins over what Paddle's data implies. */
const LINK_CUSTOMER: RawStatement = {
  name: 'link_customer_to_account',
  text: `INSERT INTO customers (id, manual_account_id, account_id) VALUES ($1, $2, $2)
    ON CONFLICT (id) DO UPDATE SET manual_account_id = excluded.manual_account_id, row_updated_at = now()`,
}

/** Answers the accounts that gained or lost a subscription, once committed. */
export async function linkCustomerToAccount (database: DatabaseHandle, customerId: string, accountId: string): Promise<string[]> {
  return await database.transaction(async (tx) => {
    // The same lock the worker takes for this customer, so a relink never races an applied event.
    await lockKeys(tx, [lockKey('customer', customerId)])
    await tx.query(LINK_CUSTOMER, [customerId, accountId])
    return await relinkCustomerAccounts(tx, customerId).accounts()
  })
}
