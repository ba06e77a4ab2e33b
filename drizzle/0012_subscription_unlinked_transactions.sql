-- relink_subscription_fact re-resolves the transactions of a subscription that have no account id of their own
-- (they take theirs from it). Found through transactions_subscription_idx, every transaction the subscription
-- ever had was read and nearly all filtered out: a change to a subscription with 1,500 renewals read 1,504 rows
-- (tests/billing/accounts.test.ts, "the cost of account resolution"). Only rows without an account id are indexed.
CREATE INDEX "transactions_subscription_unlinked_idx" ON "transactions" USING btree ("subscription_id") WHERE custom_account_id IS NULL;
