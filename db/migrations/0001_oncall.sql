CREATE TABLE "escalations" (
	"id" serial PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"policy_name" text NOT NULL,
	"policy" jsonb NOT NULL,
	"service" text,
	"title" text NOT NULL,
	"card" jsonb,
	"state" text NOT NULL,
	"level" integer DEFAULT -1 NOT NULL,
	"pass" integer DEFAULT 0 NOT NULL,
	"pages" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"started_by" text NOT NULL,
	"last_paged_at" timestamp with time zone,
	"next_at" timestamp with time zone,
	"acknowledged_at" timestamp with time zone,
	"acknowledged_by" text,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "oncall_overrides" (
	"id" serial PRIMARY KEY NOT NULL,
	"schedule" text NOT NULL,
	"person" text NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	"source" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"removed_at" timestamp with time zone,
	"removed_by" text
);
--> statement-breakpoint
CREATE INDEX "escalations_subject" ON "escalations" USING btree ("subject");--> statement-breakpoint
CREATE UNIQUE INDEX "escalations_active_subject" ON "escalations" USING btree ("subject") WHERE state = 'active';--> statement-breakpoint
CREATE INDEX "oncall_overrides_schedule" ON "oncall_overrides" USING btree ("schedule","ends_at");