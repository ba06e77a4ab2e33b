ALTER TABLE "email_events" ADD COLUMN "traceparent" text;--> statement-breakpoint
ALTER TABLE "entitlement_events" ADD COLUMN "traceparent" text;--> statement-breakpoint
ALTER TABLE "paddle_inbox" ADD COLUMN "traceparent" text;