ALTER TABLE "event_intake" ADD COLUMN "source" text;--> statement-breakpoint
ALTER TABLE "event_intake" ADD COLUMN "integration" text;--> statement-breakpoint
-- Bodies are stored as received (tens of kilobytes for an Alertmanager batch): compressed they cost the WAL, and the
-- commits that wait for it, a fraction. lz4 where the server has it (PostgreSQL builds usually do), else pglz (PGlite).
ALTER TABLE "event_intake" ALTER COLUMN "body" SET STORAGE EXTENDED;--> statement-breakpoint
DO $$ BEGIN
  ALTER TABLE "event_intake" ALTER COLUMN "body" SET COMPRESSION lz4;
EXCEPTION WHEN others THEN
  ALTER TABLE "event_intake" ALTER COLUMN "body" SET COMPRESSION pglz;
END $$;
