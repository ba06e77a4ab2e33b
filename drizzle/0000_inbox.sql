CREATE TABLE "paddle_inbox" (
	"event_id" text PRIMARY KEY NOT NULL,
	"notification_id" text,
	"event_type" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text,
	"customer_id" text,
	"subscription_id" text,
	"occurred_at" timestamp (6) with time zone NOT NULL,
	"origin" text DEFAULT 'webhook' NOT NULL,
	"payload" jsonb,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"received_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE INDEX "paddle_inbox_runnable_idx" ON "paddle_inbox" USING btree ("occurred_at") WHERE status in ('pending', 'failed');--> statement-breakpoint
CREATE INDEX "paddle_inbox_subscription_idx" ON "paddle_inbox" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "paddle_inbox_customer_idx" ON "paddle_inbox" USING btree ("customer_id");