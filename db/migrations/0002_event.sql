CREATE TABLE "alert_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"alert_id" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"action" text NOT NULL,
	"actor" text,
	"data" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alert_groups" (
	"id" serial PRIMARY KEY NOT NULL,
	"group_key" text NOT NULL,
	"reason" text NOT NULL,
	"title" text NOT NULL,
	"service" text,
	"integration" text NOT NULL,
	"state" text NOT NULL,
	"severity" text NOT NULL,
	"accepting" boolean DEFAULT true NOT NULL,
	"window_ends_at" timestamp with time zone,
	"alert_count" integer DEFAULT 0 NOT NULL,
	"open_count" integer DEFAULT 0 NOT NULL,
	"route" jsonb NOT NULL,
	"incident_id" integer,
	"escalation_subject" text,
	"first_seen" timestamp with time zone NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"acknowledged_by" text,
	"resolved_at" timestamp with time zone,
	"resolved_by" text,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alerts" (
	"id" serial PRIMARY KEY NOT NULL,
	"integration" text NOT NULL,
	"dedup_key" text NOT NULL,
	"state" text NOT NULL,
	"severity" text NOT NULL,
	"summary" text NOT NULL,
	"source" text,
	"service" text,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"links" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"first_seen" timestamp with time zone NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"acknowledged_by" text,
	"resolved_at" timestamp with time zone,
	"resolved_by" text,
	"suppressed_by" text,
	"suppressed_until" timestamp with time zone,
	"flapping" boolean DEFAULT false NOT NULL,
	"group_id" integer,
	"incident_id" integer,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "heartbeats" (
	"name" text PRIMARY KEY NOT NULL,
	"last_ping_at" timestamp with time zone NOT NULL,
	"pings" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "silences" (
	"id" serial PRIMARY KEY NOT NULL,
	"matchers" jsonb NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"reason" text NOT NULL,
	"created_by" text NOT NULL,
	"source" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"ended_by" text
);
--> statement-breakpoint
CREATE INDEX "alert_events_alert" ON "alert_events" USING btree ("alert_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "alert_groups_accepting_key" ON "alert_groups" USING btree ("group_key") WHERE accepting;--> statement-breakpoint
CREATE INDEX "alert_groups_state" ON "alert_groups" USING btree ("state","id");--> statement-breakpoint
CREATE INDEX "alert_groups_incident" ON "alert_groups" USING btree ("incident_id");--> statement-breakpoint
CREATE UNIQUE INDEX "alerts_open_key" ON "alerts" USING btree ("integration","dedup_key") WHERE state <> 'resolved';--> statement-breakpoint
CREATE INDEX "alerts_key_seen" ON "alerts" USING btree ("integration","dedup_key","first_seen");--> statement-breakpoint
CREATE INDEX "alerts_state" ON "alerts" USING btree ("state","id");--> statement-breakpoint
CREATE INDEX "alerts_group" ON "alerts" USING btree ("group_id");--> statement-breakpoint
CREATE INDEX "alerts_incident" ON "alerts" USING btree ("incident_id");--> statement-breakpoint
CREATE INDEX "alerts_suppressed" ON "alerts" USING btree ("suppressed_until") WHERE suppressed_by is not null and state <> 'resolved';--> statement-breakpoint
CREATE INDEX "silences_ends" ON "silences" USING btree ("ends_at");