CREATE TABLE "personal_data_erasures" (
	"customer_id" text PRIMARY KEY NOT NULL,
	"first_erased_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"last_erased_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"requests" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "erased_at" timestamp (6) with time zone;--> statement-breakpoint
CREATE INDEX "email_events_dead_idx" ON "email_events" USING btree ("created_at") WHERE status = 'dead';--> statement-breakpoint
CREATE INDEX "email_events_created_brin" ON "email_events" USING brin ("created_at");--> statement-breakpoint
CREATE INDEX "paddle_inbox_dead_idx" ON "paddle_inbox" USING btree ("received_at") WHERE status = 'dead';--> statement-breakpoint
CREATE INDEX "paddle_inbox_received_brin" ON "paddle_inbox" USING brin ("received_at");