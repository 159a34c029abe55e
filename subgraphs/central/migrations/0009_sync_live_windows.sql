DROP INDEX "sync_sessions_one_running_per_pair";--> statement-breakpoint
ALTER TABLE "sync_sessions" ADD COLUMN "live_report_seq" integer;--> statement-breakpoint
CREATE UNIQUE INDEX "sync_sessions_one_running_per_pair" ON "sync_sessions" USING btree ("source_node_id","target_node_id") WHERE "sync_sessions"."status" = 'IN_PROGRESS' and "sync_sessions"."live_report_seq" is null;