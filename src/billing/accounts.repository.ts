/**
 * Which TrackSera account a subscription or transaction belongs to. TrackSera passes its account id
 * to checkout in custom_data; Paddle copies it onto some entities and not others, and events arrive
 * in any order. So the account is resolved again, from everything stored, whenever something that
 * feeds it changes, and the answer is the same whatever order the facts arrived in:
 *
 *   customer      = manual link ?? its own custom_data ?? its earliest transaction's ?? its earliest subscription's
 *   subscription  = its own custom_data ?? its (checkout) transactions' ?? the customer's
 *   transaction   = its own custom_data ?? its subscription's ?? the customer's
 *
 * One account may have several Paddle customers; each subscription carries its own account id, so
 * none is lost.
 */
import type { DatabaseHandle, RawStatement, Transaction } from '../db/client.js'
import { lockKey, lockKeys } from './locks.js'

/** Re-resolves the customer and every subscription and transaction of the customer, in one statement. */
const RELINK_CUSTOMER: RawStatement = {
  name: 'relink_customer_accounts',
  text: `
    WITH customer_account AS (
      SELECT COALESCE(
        (SELECT COALESCE(c.manual_account_id, c.custom_account_id) FROM customers c WHERE c.id = $1),
        (SELECT t.custom_account_id FROM transactions t
          WHERE t.customer_id = $1 AND t.custom_account_id IS NOT NULL
          ORDER BY t.paddle_created_at NULLS LAST, t.id LIMIT 1),
        (SELECT s.custom_account_id FROM subscriptions s
          WHERE s.customer_id = $1 AND s.custom_account_id IS NOT NULL
          ORDER BY s.paddle_created_at NULLS LAST, s.id LIMIT 1)
      ) AS account_id
    ),
    customer_update AS (
      UPDATE customers c SET account_id = ca.account_id
      FROM customer_account ca
      WHERE c.id = $1 AND c.account_id IS DISTINCT FROM ca.account_id
    ),
    subscription_accounts AS (
      SELECT s.id, COALESCE(
        s.custom_account_id,
        (SELECT t.custom_account_id FROM transactions t
          WHERE (t.subscription_id = s.id OR t.id = s.origin_transaction_id) AND t.custom_account_id IS NOT NULL
          ORDER BY t.paddle_created_at NULLS LAST, t.id LIMIT 1),
        (SELECT account_id FROM customer_account)
      ) AS account_id
      FROM subscriptions s WHERE s.customer_id = $1
    ),
    subscription_update AS (
      UPDATE subscriptions s SET account_id = sa.account_id
      FROM subscription_accounts sa
      WHERE s.id = sa.id AND s.account_id IS DISTINCT FROM sa.account_id
    )
    UPDATE transactions t SET account_id = resolved.account_id
    FROM (
      SELECT t2.id, COALESCE(
        t2.custom_account_id,
        (SELECT sa.account_id FROM subscription_accounts sa WHERE sa.id = t2.subscription_id),
        (SELECT s.account_id FROM subscriptions s WHERE s.id = t2.subscription_id),
        (SELECT account_id FROM customer_account)
      ) AS account_id
      FROM transactions t2 WHERE t2.customer_id = $1
    ) resolved
    WHERE t.id = resolved.id AND t.account_id IS DISTINCT FROM resolved.account_id`,
}

export async function relinkCustomerAccounts (tx: Transaction, customerId: string): Promise<void> {
  await tx.query(RELINK_CUSTOMER, [customerId])
}

/** For a transaction without a customer yet (a checkout draft): its own custom_data, else its subscription's. */
const RELINK_TRANSACTION: RawStatement = {
  name: 'relink_transaction_account',
  text: `
    UPDATE transactions t SET account_id = resolved.account_id
    FROM (
      SELECT t2.id, COALESCE(t2.custom_account_id, (SELECT s.account_id FROM subscriptions s WHERE s.id = t2.subscription_id)) AS account_id
      FROM transactions t2 WHERE t2.id = $1
    ) resolved
    WHERE t.id = resolved.id AND t.account_id IS DISTINCT FROM resolved.account_id`,
}

export async function relinkTransactionAccount (tx: Transaction, transactionId: string): Promise<void> {
  await tx.query(RELINK_TRANSACTION, [transactionId])
}

/** PUT /internal/customers/:id/account: a manual link, which wins over what Paddle's data implies. */
const LINK_CUSTOMER: RawStatement = {
  name: 'link_customer_to_account',
  text: `INSERT INTO customers (id, manual_account_id, account_id) VALUES ($1, $2, $2)
    ON CONFLICT (id) DO UPDATE SET manual_account_id = excluded.manual_account_id, row_updated_at = now()`,
}

export async function linkCustomerToAccount (database: DatabaseHandle, customerId: string, accountId: string): Promise<void> {
  await database.transaction(async (tx) => {
    // The same lock the worker takes for this customer, so a relink never races an applied event.
    await lockKeys(tx, [lockKey('customer', customerId)])
    await tx.query(LINK_CUSTOMER, [customerId, accountId])
    await relinkCustomerAccounts(tx, customerId)
  })
}
