-- The worker ANALYZEs the transactions as it does the inbox (processing/worker.ts: after 500, 1,000, 2,000
-- and 4,000 events, then every 5,000). With the default statistics target ANALYZE samples 30,000 rows with
-- their payments and items: 250-310 ms of the database's CPU for 20,000 transactions, measured on a scratch
-- cluster, and a burst of sign-ups grows the table by a row per event. The plans that read it need the
-- distribution of its ids (customer, subscription, account; the relink statements' cost test checks a
-- customer with 1,500 transactions): a target of 10 samples 3,000 rows (23-26 ms on the same table), and
-- the payments and items, which no query filters or sorts on, are not sampled at all.
ALTER TABLE "transactions"
  ALTER COLUMN "id" SET STATISTICS 10,
  ALTER COLUMN "status" SET STATISTICS 10,
  ALTER COLUMN "origin" SET STATISTICS 10,
  ALTER COLUMN "customer_id" SET STATISTICS 10,
  ALTER COLUMN "subscription_id" SET STATISTICS 10,
  ALTER COLUMN "account_id" SET STATISTICS 10,
  ALTER COLUMN "custom_account_id" SET STATISTICS 10,
  ALTER COLUMN "invoice_number" SET STATISTICS 10,
  ALTER COLUMN "currency_code" SET STATISTICS 10,
  ALTER COLUMN "collection_mode" SET STATISTICS 10,
  ALTER COLUMN "subtotal" SET STATISTICS 10,
  ALTER COLUMN "discount" SET STATISTICS 10,
  ALTER COLUMN "tax" SET STATISTICS 10,
  ALTER COLUMN "total" SET STATISTICS 10,
  ALTER COLUMN "grand_total" SET STATISTICS 10,
  ALTER COLUMN "billing_period_starts_at" SET STATISTICS 10,
  ALTER COLUMN "billing_period_ends_at" SET STATISTICS 10,
  ALTER COLUMN "billed_at" SET STATISTICS 10,
  ALTER COLUMN "revised_at" SET STATISTICS 10,
  ALTER COLUMN "payments" SET STATISTICS 0,
  ALTER COLUMN "items" SET STATISTICS 0,
  ALTER COLUMN "paddle_created_at" SET STATISTICS 10,
  ALTER COLUMN "paddle_updated_at" SET STATISTICS 10,
  ALTER COLUMN "version" SET STATISTICS 10,
  ALTER COLUMN "row_updated_at" SET STATISTICS 10;
