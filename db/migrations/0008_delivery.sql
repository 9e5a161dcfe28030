ALTER TABLE "outbox" ADD COLUMN "priority" smallint DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE INDEX "alert_groups_first_seen" ON "alert_groups" USING btree ("first_seen");