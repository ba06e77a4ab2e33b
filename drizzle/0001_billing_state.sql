CREATE TABLE "adjustments" (
	"id" text PRIMARY KEY NOT NULL,
	"transaction_id" text,
	"subscription_id" text,
	"customer_id" text,
	"action" text NOT NULL,
	"type" text,
	"status" text NOT NULL,
	"currency_code" text,
	"subtotal" numeric(30, 0),
	"tax" numeric(30, 0),
	"total" numeric(30, 0),
	"credit_applied_to_balance" boolean,
	"paddle_created_at" timestamp (6) with time zone,
	"paddle_updated_at" timestamp (6) with time zone,
	"version" text COLLATE "C" NOT NULL,
	"row_updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "customers" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text,
	"name" text,
	"status" text,
	"custom_account_id" text,
	"manual_account_id" text,
	"account_id" text,
	"paddle_created_at" timestamp (6) with time zone,
	"paddle_updated_at" timestamp (6) with time zone,
	"version" text COLLATE "C" DEFAULT '' NOT NULL,
	"row_updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscription_items" (
	"subscription_id" text NOT NULL,
	"price_id" text NOT NULL,
	"product_id" text,
	"quantity" integer NOT NULL,
	"status" text,
	"recurring" boolean,
	"unit_price_amount" numeric(30, 0),
	"unit_price_currency_code" text,
	"billing_interval" text,
	"billing_frequency" integer,
	"trial_starts_at" timestamp (6) with time zone,
	"trial_ends_at" timestamp (6) with time zone,
	"previously_billed_at" timestamp (6) with time zone,
	"next_billed_at" timestamp (6) with time zone,
	CONSTRAINT "subscription_items_subscription_id_price_id_pk" PRIMARY KEY("subscription_id","price_id")
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"customer_id" text,
	"account_id" text,
	"custom_account_id" text,
	"origin_transaction_id" text,
	"status" text NOT NULL,
	"currency_code" text,
	"collection_mode" text,
	"billing_interval" text,
	"billing_frequency" integer,
	"current_period_starts_at" timestamp (6) with time zone,
	"current_period_ends_at" timestamp (6) with time zone,
	"next_billed_at" timestamp (6) with time zone,
	"started_at" timestamp (6) with time zone,
	"first_billed_at" timestamp (6) with time zone,
	"paused_at" timestamp (6) with time zone,
	"canceled_at" timestamp (6) with time zone,
	"trial_ends_at" timestamp (6) with time zone,
	"scheduled_change_action" text,
	"scheduled_change_effective_at" timestamp (6) with time zone,
	"scheduled_change_resume_at" timestamp (6) with time zone,
	"discount_id" text,
	"paddle_created_at" timestamp (6) with time zone,
	"paddle_updated_at" timestamp (6) with time zone,
	"version" text COLLATE "C" NOT NULL,
	"row_updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "transactions" (
	"id" text PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"origin" text,
	"customer_id" text,
	"subscription_id" text,
	"account_id" text,
	"custom_account_id" text,
	"invoice_number" text,
	"currency_code" text,
	"collection_mode" text,
	"subtotal" numeric(30, 0),
	"discount" numeric(30, 0),
	"tax" numeric(30, 0),
	"total" numeric(30, 0),
	"grand_total" numeric(30, 0),
	"billing_period_starts_at" timestamp (6) with time zone,
	"billing_period_ends_at" timestamp (6) with time zone,
	"billed_at" timestamp (6) with time zone,
	"revised_at" timestamp (6) with time zone,
	"payments" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"items" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"paddle_created_at" timestamp (6) with time zone,
	"paddle_updated_at" timestamp (6) with time zone,
	"version" text COLLATE "C" NOT NULL,
	"row_updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "paddle_inbox_runnable_idx";--> statement-breakpoint
ALTER TABLE "paddle_inbox" ADD COLUMN "outcome" text;--> statement-breakpoint
ALTER TABLE "paddle_inbox" ADD COLUMN "note" text;--> statement-breakpoint
CREATE INDEX "adjustments_transaction_idx" ON "adjustments" USING btree ("transaction_id");--> statement-breakpoint
CREATE INDEX "adjustments_customer_idx" ON "adjustments" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "customers_account_idx" ON "customers" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "subscriptions_account_idx" ON "subscriptions" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "subscriptions_customer_idx" ON "subscriptions" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "transactions_account_created_idx" ON "transactions" USING btree ("account_id","paddle_created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_customer_idx" ON "transactions" USING btree ("customer_id");--> statement-breakpoint
CREATE INDEX "transactions_subscription_idx" ON "transactions" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "paddle_inbox_runnable_idx" ON "paddle_inbox" USING btree ("occurred_at","event_id") WHERE status in ('pending', 'failed');