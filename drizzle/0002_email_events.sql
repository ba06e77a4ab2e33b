CREATE TABLE "email_events" (
	"id" text PRIMARY KEY NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "email_events_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tx_id" bigint DEFAULT (pg_current_xact_id()::text)::bigint NOT NULL,
	"type" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"occurred_at" timestamp (6) with time zone NOT NULL,
	"account_id" text,
	"customer_id" text,
	"subscription_id" text,
	"transaction_id" text,
	"ordering_key" text NOT NULL,
	"data" jsonb NOT NULL,
	"source_event_id" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"leased_until" timestamp (6) with time zone,
	"last_error" text,
	"last_status_code" integer,
	"delivered_at" timestamp (6) with time zone,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "email_events_idempotency_key_unique" UNIQUE("idempotency_key")
);
--> statement-breakpoint
CREATE INDEX "email_events_feed_idx" ON "email_events" USING btree ("tx_id","seq");--> statement-breakpoint
CREATE INDEX "email_events_deliverable_idx" ON "email_events" USING btree ("seq") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "email_events_ordering_idx" ON "email_events" USING btree ("ordering_key","seq") WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX "email_events_customer_idx" ON "email_events" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "email_events_account_idx" ON "email_events" USING btree ("account_id");