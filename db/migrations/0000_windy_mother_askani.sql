CREATE TABLE "audit_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"seq" bigint DEFAULT 0 NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor" text NOT NULL,
	"source" text NOT NULL,
	"subject" text NOT NULL,
	"action" text NOT NULL,
	"data" jsonb NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "chat_messages" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"platform" text NOT NULL,
	"purpose" text DEFAULT 'card' NOT NULL,
	"channel" text NOT NULL,
	"message_id" text NOT NULL,
	"ref" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conversations" (
	"platform" text NOT NULL,
	"key" text NOT NULL,
	"ref" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "conversations_platform_key_pk" PRIMARY KEY("platform","key")
);
--> statement-breakpoint
CREATE TABLE "deliveries" (
	"id" text PRIMARY KEY NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"order_key" text NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"result" jsonb,
	"last_error" text,
	"sent_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "people" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"slack_id" text,
	"teams_id" text,
	"timezone" text,
	"from_config" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "timeline" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor" text NOT NULL,
	"source" text NOT NULL,
	"kind" text NOT NULL,
	"text" text NOT NULL,
	"data" jsonb
);
--> statement-breakpoint
CREATE TABLE "timers" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"subject" text NOT NULL,
	"key" text,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "incidents" (
	"id" serial PRIMARY KEY NOT NULL,
	"title" text NOT NULL,
	"description" text,
	"state" text NOT NULL,
	"hold_reason" text,
	"hold_note" text,
	"impact" text NOT NULL,
	"urgency" text NOT NULL,
	"priority" integer NOT NULL,
	"major" boolean DEFAULT false NOT NULL,
	"service" text,
	"assignee" text,
	"reporter" text NOT NULL,
	"source" text NOT NULL,
	"resolution_code" text,
	"resolution_notes" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"resolved_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"response_due_at" timestamp with time zone,
	"resolution_due_at" timestamp with time zone,
	"resolution_spent_ms" integer DEFAULT 0 NOT NULL,
	"resolution_clock_started_at" timestamp with time zone,
	"response_breached" boolean DEFAULT false NOT NULL,
	"resolution_breached" boolean DEFAULT false NOT NULL,
	"major_channel" jsonb,
	"origin" jsonb,
	"version" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_subject" ON "audit_log" USING btree ("subject");--> statement-breakpoint
CREATE INDEX "chat_messages_subject" ON "chat_messages" USING btree ("subject");--> statement-breakpoint
CREATE UNIQUE INDEX "chat_messages_msg" ON "chat_messages" USING btree ("platform","channel","message_id");--> statement-breakpoint
CREATE INDEX "deliveries_seen" ON "deliveries" USING btree ("seen_at");--> statement-breakpoint
CREATE INDEX "outbox_pending" ON "outbox" USING btree ("status","available_at","id");--> statement-breakpoint
CREATE INDEX "outbox_order" ON "outbox" USING btree ("order_key","id");--> statement-breakpoint
CREATE UNIQUE INDEX "people_slack_id" ON "people" USING btree ("slack_id");--> statement-breakpoint
CREATE UNIQUE INDEX "people_teams_id" ON "people" USING btree ("teams_id");--> statement-breakpoint
CREATE INDEX "timeline_subject" ON "timeline" USING btree ("subject","id");--> statement-breakpoint
CREATE INDEX "timers_due" ON "timers" USING btree ("due_at");--> statement-breakpoint
CREATE UNIQUE INDEX "timers_key" ON "timers" USING btree ("key");--> statement-breakpoint
CREATE INDEX "timers_subject" ON "timers" USING btree ("subject");--> statement-breakpoint
CREATE INDEX "incidents_state" ON "incidents" USING btree ("state");--> statement-breakpoint
CREATE INDEX "incidents_created" ON "incidents" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "incidents_service" ON "incidents" USING btree ("service");