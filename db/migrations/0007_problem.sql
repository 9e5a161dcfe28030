CREATE TABLE "kedb_hints" (
	"incident_id" integer NOT NULL,
	"known_error_id" integer NOT NULL,
	"service" text,
	"rank" real NOT NULL,
	"shown_at" timestamp with time zone NOT NULL,
	"feedback" text,
	"feedback_by" text,
	"feedback_at" timestamp with time zone,
	CONSTRAINT "kedb_hints_incident_id_known_error_id_pk" PRIMARY KEY("incident_id","known_error_id")
);
--> statement-breakpoint
CREATE TABLE "known_error_versions" (
	"known_error_id" integer NOT NULL,
	"version" integer NOT NULL,
	"fields" jsonb NOT NULL,
	"changed_by" text NOT NULL,
	"changed_at" timestamp with time zone NOT NULL,
	"note" text,
	CONSTRAINT "known_error_versions_known_error_id_version_pk" PRIMARY KEY("known_error_id","version")
);
--> statement-breakpoint
CREATE TABLE "known_errors" (
	"id" serial PRIMARY KEY NOT NULL,
	"problem_id" integer NOT NULL,
	"title" text NOT NULL,
	"symptoms" text NOT NULL,
	"root_cause" text,
	"workaround" text,
	"services" jsonb NOT NULL,
	"error_codes" jsonb NOT NULL,
	"state" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"retired_at" timestamp with time zone,
	"retired_by" text,
	"scope" jsonb GENERATED ALWAYS AS (case when services = '[]'::jsonb then '["*"]'::jsonb else services end) STORED,
	"search" "tsvector" GENERATED ALWAYS AS (setweight(to_tsvector('english'::regconfig, coalesce(symptoms, '')) || to_tsvector('english'::regconfig, error_codes), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(workaround, '') || ' ' || coalesce(root_cause, '')), 'C')) STORED
);
--> statement-breakpoint
CREATE TABLE "problem_incidents" (
	"problem_id" integer NOT NULL,
	"incident_id" integer NOT NULL,
	"via" text NOT NULL,
	"linked_by" text NOT NULL,
	"linked_at" timestamp with time zone NOT NULL,
	CONSTRAINT "problem_incidents_problem_id_incident_id_pk" PRIMARY KEY("problem_id","incident_id")
);
--> statement-breakpoint
CREATE TABLE "problem_proposals" (
	"id" serial PRIMARY KEY NOT NULL,
	"service" text NOT NULL,
	"incident_ids" jsonb NOT NULL,
	"set_key" text NOT NULL,
	"state" text NOT NULL,
	"problem_id" integer,
	"created_at" timestamp with time zone NOT NULL,
	"decided_by" text,
	"decided_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "problems" (
	"id" serial PRIMARY KEY NOT NULL,
	"title" text NOT NULL,
	"statement" text,
	"state" text NOT NULL,
	"impact" text NOT NULL,
	"urgency" text NOT NULL,
	"priority" integer NOT NULL,
	"service" text,
	"assignee" text,
	"reporter" text NOT NULL,
	"source" text NOT NULL,
	"root_cause" text,
	"workaround" text,
	"change_ref" text,
	"fix_notes" text,
	"resolution" text,
	"resolution_notes" text,
	"duplicate_of" integer,
	"origin" jsonb,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"confirmed_at" timestamp with time zone,
	"confirmed_by" text,
	"root_cause_at" timestamp with time zone,
	"root_cause_by" text,
	"workaround_at" timestamp with time zone,
	"workaround_by" text,
	"fixed_at" timestamp with time zone,
	"fixed_by" text,
	"resolved_at" timestamp with time zone,
	"resolved_by" text,
	"closed_at" timestamp with time zone,
	"closed_by" text,
	"version" integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "kedb_hints_feedback" ON "kedb_hints" USING btree ("known_error_id","service");--> statement-breakpoint
CREATE UNIQUE INDEX "known_errors_problem" ON "known_errors" USING btree ("problem_id");--> statement-breakpoint
CREATE INDEX "known_errors_search" ON "known_errors" USING gin ("search");--> statement-breakpoint
CREATE INDEX "known_errors_scope" ON "known_errors" USING gin ("scope");--> statement-breakpoint
CREATE UNIQUE INDEX "problem_incidents_incident" ON "problem_incidents" USING btree ("incident_id");--> statement-breakpoint
CREATE UNIQUE INDEX "problem_proposals_set" ON "problem_proposals" USING btree ("set_key");--> statement-breakpoint
CREATE INDEX "problems_state" ON "problems" USING btree ("state");--> statement-breakpoint
CREATE INDEX "problems_service" ON "problems" USING btree ("service");