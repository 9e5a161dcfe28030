CREATE TABLE "access_drift" (
	"id" serial PRIMARY KEY NOT NULL,
	"resource" text NOT NULL,
	"login" text NOT NULL,
	"role" text NOT NULL,
	"kind" text NOT NULL,
	"grant_id" integer,
	"first_seen" timestamp with time zone NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	"resolved_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "access_grants" (
	"id" serial PRIMARY KEY NOT NULL,
	"resource" text NOT NULL,
	"role" text NOT NULL,
	"person" text NOT NULL,
	"login" text NOT NULL,
	"kind" text NOT NULL,
	"sensitivity" text NOT NULL,
	"connector" text NOT NULL,
	"state" text NOT NULL,
	"reason" text,
	"ticket" text,
	"incident" text,
	"source" text NOT NULL,
	"duration_ms" integer NOT NULL,
	"approval_id" integer,
	"pending_extension_ms" integer,
	"pending_extension_reason" text,
	"extensions" integer DEFAULT 0 NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"approved_at" timestamp with time zone,
	"activated_at" timestamp with time zone,
	"ends_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"outcome_by" text,
	"outcome" text,
	"removal" text,
	"removal_attempts" integer DEFAULT 0 NOT NULL,
	"removal_error" text,
	"removed_at" timestamp with time zone,
	"grant_attempts" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"version" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "access_review_items" (
	"id" serial PRIMARY KEY NOT NULL,
	"review_id" integer NOT NULL,
	"grant_id" integer NOT NULL,
	"decision" text,
	"decided_by" text,
	"reason" text,
	"decided_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "access_reviews" (
	"id" serial PRIMARY KEY NOT NULL,
	"resource" text NOT NULL,
	"state" text NOT NULL,
	"reviewers" jsonb NOT NULL,
	"started_by" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"deadline" timestamp with time zone NOT NULL,
	"revoke_unreviewed" boolean DEFAULT false NOT NULL,
	"closed_at" timestamp with time zone,
	"result" jsonb
);
--> statement-breakpoint
CREATE TABLE "access_second_steps" (
	"id" serial PRIMARY KEY NOT NULL,
	"grant_id" integer NOT NULL,
	"approval_id" integer NOT NULL,
	"person" text NOT NULL,
	"kind" text NOT NULL,
	"secret_hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"failures" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "access_tasks" (
	"id" integer PRIMARY KEY DEFAULT nextval('request_tasks_id_seq'::regclass) NOT NULL,
	"grant_id" integer NOT NULL,
	"kind" text NOT NULL,
	"title" text NOT NULL,
	"team" text,
	"state" text NOT NULL,
	"done_by" text,
	"note" text,
	"created_at" timestamp with time zone NOT NULL,
	"done_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "access_drift_open" ON "access_drift" USING btree ("resource","login","role","kind") WHERE resolved_at is null;--> statement-breakpoint
CREATE INDEX "access_grants_state" ON "access_grants" USING btree ("state");--> statement-breakpoint
CREATE INDEX "access_grants_person" ON "access_grants" USING btree ("person","state");--> statement-breakpoint
CREATE INDEX "access_grants_resource" ON "access_grants" USING btree ("resource","state");--> statement-breakpoint
CREATE INDEX "access_grants_incident" ON "access_grants" USING btree ("incident");--> statement-breakpoint
CREATE UNIQUE INDEX "access_review_items_once" ON "access_review_items" USING btree ("review_id","grant_id");--> statement-breakpoint
CREATE INDEX "access_reviews_resource" ON "access_reviews" USING btree ("resource","state");--> statement-breakpoint
CREATE INDEX "access_second_steps_grant" ON "access_second_steps" USING btree ("grant_id","person");--> statement-breakpoint
CREATE INDEX "access_second_steps_secret" ON "access_second_steps" USING btree ("secret_hash");--> statement-breakpoint
CREATE INDEX "access_tasks_grant" ON "access_tasks" USING btree ("grant_id");