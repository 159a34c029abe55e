ALTER TABLE "sync_sessions" ADD COLUMN "messages_checked" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Sessions recorded before: messages_synced counted the versions examined, and the sync log holds
-- one row per version applied.
UPDATE "sync_sessions" SET "messages_checked" = "messages_synced",
  "messages_synced" = (SELECT count(*) FROM "message_sync_log" l WHERE l."session_id" = "sync_sessions"."id");
