CREATE TABLE "approval_decisions" (
	"id" serial PRIMARY KEY NOT NULL,
	"approval_id" integer NOT NULL,
	"stage" integer NOT NULL,
	"person" text NOT NULL,
	"decision" text NOT NULL,
	"reason" text,
	"confirmed" boolean DEFAULT true NOT NULL,
	"source" text NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "approval_questions" (
	"id" serial PRIMARY KEY NOT NULL,
	"approval_id" integer NOT NULL,
	"asker" text NOT NULL,
	"question" text NOT NULL,
	"asked_at" timestamp with time zone NOT NULL,
	"answer" text,
	"answered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "approvals" (
	"id" serial PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"owner" text NOT NULL,
	"requester" text NOT NULL,
	"title" text NOT NULL,
	"details" jsonb NOT NULL,
	"reason" text,
	"policy_name" text NOT NULL,
	"policy" jsonb NOT NULL,
	"state" text NOT NULL,
	"stage" integer DEFAULT 0 NOT NULL,
	"stage_started_at" timestamp with time zone NOT NULL,
	"escalated" boolean DEFAULT false NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"paused_at" timestamp with time zone,
	"second_step" boolean DEFAULT false NOT NULL,
	"self_approval_code" text DEFAULT 'approval.self_approval' NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	"decided_by" text,
	"outcome_reason" text,
	"reminders" integer DEFAULT 0 NOT NULL,
	"version" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "knowledge_articles" (
	"id" serial PRIMARY KEY NOT NULL,
	"path" text NOT NULL,
	"title" text NOT NULL,
	"body" text NOT NULL,
	"hash" text NOT NULL,
	"indexed_at" timestamp with time zone NOT NULL,
	"search" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')) STORED
);
--> statement-breakpoint
CREATE TABLE "request_tasks" (
	"id" serial PRIMARY KEY NOT NULL,
	"request_id" integer NOT NULL,
	"position" integer NOT NULL,
	"title" text NOT NULL,
	"team" text NOT NULL,
	"after" jsonb NOT NULL,
	"state" text NOT NULL,
	"holder" text,
	"reason" text,
	"created_at" timestamp with time zone NOT NULL,
	"opened_at" timestamp with time zone,
	"claimed_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "requests" (
	"id" serial PRIMARY KEY NOT NULL,
	"item" text NOT NULL,
	"item_title" text NOT NULL,
	"category" text NOT NULL,
	"service" text,
	"requester" text NOT NULL,
	"source" text NOT NULL,
	"fields" jsonb NOT NULL,
	"state" text NOT NULL,
	"approval_id" integer,
	"fulfilment" text NOT NULL,
	"team" text,
	"outcome" text,
	"outcome_by" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"approved_at" timestamp with time zone,
	"fulfilment_started_at" timestamp with time zone,
	"responded_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"completion" text,
	"closed_at" timestamp with time zone,
	"response_due_at" timestamp with time zone,
	"resolution_due_at" timestamp with time zone,
	"response_breached" boolean DEFAULT false NOT NULL,
	"resolution_breached" boolean DEFAULT false NOT NULL,
	"webhook_state" text,
	"webhook_note" text,
	"version" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "approval_decisions_once" ON "approval_decisions" USING btree ("approval_id","stage","person");--> statement-breakpoint
CREATE INDEX "approval_questions_approval" ON "approval_questions" USING btree ("approval_id");--> statement-breakpoint
CREATE INDEX "approvals_subject" ON "approvals" USING btree ("subject");--> statement-breakpoint
CREATE INDEX "approvals_state" ON "approvals" USING btree ("state");--> statement-breakpoint
CREATE UNIQUE INDEX "knowledge_articles_path" ON "knowledge_articles" USING btree ("path");--> statement-breakpoint
CREATE INDEX "knowledge_articles_search" ON "knowledge_articles" USING gin ("search");--> statement-breakpoint
CREATE INDEX "request_tasks_request" ON "request_tasks" USING btree ("request_id","position");--> statement-breakpoint
CREATE INDEX "requests_state" ON "requests" USING btree ("state");--> statement-breakpoint
CREATE INDEX "requests_requester" ON "requests" USING btree ("requester","id");--> statement-breakpoint
CREATE INDEX "requests_item" ON "requests" USING btree ("item");--> statement-breakpoint
CREATE INDEX "requests_created" ON "requests" USING btree ("created_at");