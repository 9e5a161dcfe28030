CREATE TABLE "event_intake" (
	"id" bigserial NOT NULL,
	"lane" integer NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"events" integer NOT NULL,
	"body" text NOT NULL,
	"failed" text,
	CONSTRAINT "event_intake_pkey" PRIMARY KEY("lane","id")
);
--> statement-breakpoint
ALTER TABLE "event_intake" ALTER COLUMN "body" SET STORAGE EXTERNAL;
