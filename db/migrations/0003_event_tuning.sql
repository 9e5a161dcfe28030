DROP INDEX "alert_events_alert";--> statement-breakpoint
ALTER TABLE "alert_events" DROP CONSTRAINT "alert_events_pkey";--> statement-breakpoint
ALTER TABLE "alert_events" ADD CONSTRAINT "alert_events_pkey" PRIMARY KEY("alert_id","id");--> statement-breakpoint
-- Room on each page for HOT updates: a repeated alert is updated in place without touching its indexes.
ALTER TABLE "alerts" SET (fillfactor = 70);
