CREATE TABLE "backfill_runs" (
	"id" text PRIMARY KEY NOT NULL,
	"dry_run" boolean NOT NULL,
	"trigger" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"progress" jsonb NOT NULL,
	"error" text,
	"started_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp (6) with time zone
);
--> statement-breakpoint
CREATE INDEX "backfill_runs_started_idx" ON "backfill_runs" USING btree ("started_at");