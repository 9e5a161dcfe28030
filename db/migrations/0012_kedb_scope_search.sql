DROP INDEX "known_errors_search";--> statement-breakpoint
DROP INDEX "known_errors_scope";--> statement-breakpoint
ALTER TABLE "known_errors" drop column "scope";--> statement-breakpoint
ALTER TABLE "known_errors" ADD COLUMN "scope" text[] GENERATED ALWAYS AS (case when services = '[]'::jsonb then array['*'] else string_to_array(translate(services::text, '[]"', ''), ', ') end) STORED;--> statement-breakpoint
CREATE INDEX "known_errors_scope_search" ON "known_errors" USING gin ("scope","search");