ALTER TABLE "nodes" ADD COLUMN "clock_offset_ms" double precision;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "clock_max_drift_ms" integer;--> statement-breakpoint
CREATE INDEX "sync_sessions_updated_idx" ON "sync_sessions" USING btree ("updated_at");