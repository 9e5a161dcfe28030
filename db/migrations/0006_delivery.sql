CREATE TABLE "delivery_blocks" (
	"platform" text NOT NULL,
	"lane" text NOT NULL,
	"blocked_until" timestamp with time zone NOT NULL,
	CONSTRAINT "delivery_blocks_platform_lane_pk" PRIMARY KEY("platform","lane")
);
--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "priority" smallint DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE INDEX "alert_groups_first_seen" ON "alert_groups" USING btree ("first_seen");