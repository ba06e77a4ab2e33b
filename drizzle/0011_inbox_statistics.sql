-- The worker ANALYZEs the inbox often (processing/worker.ts: after 500, 1,000, 2,000 and 4,000 events, then
-- every 5,000), on the same CPUs as everything else. With the default statistics target ANALYZE samples
-- 30,000 rows, payloads included: ~300 ms of the database's CPU for a 20,000-row inbox, a tenth of the
-- worker's whole statement time in a 10,000-event backlog. The claim's plan needs only coarse figures
-- (how many rows wait, in what order): a target of 10 samples 3,000 rows (~40 ms, measured the same way),
-- and the payload, which no query filters or sorts on, is not sampled at all.
ALTER TABLE "paddle_inbox"
  ALTER COLUMN "payload" SET STATISTICS 0,
  ALTER COLUMN "event_id" SET STATISTICS 10,
  ALTER COLUMN "notification_id" SET STATISTICS 10,
  ALTER COLUMN "event_type" SET STATISTICS 10,
  ALTER COLUMN "entity_type" SET STATISTICS 10,
  ALTER COLUMN "entity_id" SET STATISTICS 10,
  ALTER COLUMN "customer_id" SET STATISTICS 10,
  ALTER COLUMN "subscription_id" SET STATISTICS 10,
  ALTER COLUMN "occurred_at" SET STATISTICS 10,
  ALTER COLUMN "origin" SET STATISTICS 10,
  ALTER COLUMN "status" SET STATISTICS 10,
  ALTER COLUMN "attempts" SET STATISTICS 10,
  ALTER COLUMN "next_attempt_at" SET STATISTICS 10,
  ALTER COLUMN "last_error" SET STATISTICS 10,
  ALTER COLUMN "received_at" SET STATISTICS 10,
  ALTER COLUMN "processed_at" SET STATISTICS 10,
  ALTER COLUMN "outcome" SET STATISTICS 10,
  ALTER COLUMN "note" SET STATISTICS 10,
  ALTER COLUMN "traceparent" SET STATISTICS 10;
