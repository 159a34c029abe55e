CREATE TABLE "quarantined_versions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"session_id" text,
	"source_node_id" text NOT NULL,
	"target_node_id" text NOT NULL,
	"message_id" text NOT NULL,
	"room_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"hlc" text NOT NULL,
	"reason" text NOT NULL,
	"quarantined_at" timestamp with time zone DEFAULT now() NOT NULL,
	"released_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "room_membership_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"room_id" text NOT NULL,
	"user_id" text NOT NULL,
	"joined_at" timestamp with time zone DEFAULT now() NOT NULL,
	"left_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "sync_sessions" ADD COLUMN "room_ids" text[];--> statement-breakpoint
ALTER TABLE "sync_sessions" ADD COLUMN "messages_quarantined" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sync_sessions" ADD COLUMN "entries_refused" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "quarantined_versions" ADD CONSTRAINT "quarantined_versions_session_id_sync_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sync_sessions"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quarantined_versions" ADD CONSTRAINT "quarantined_versions_source_node_id_nodes_id_fk" FOREIGN KEY ("source_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quarantined_versions" ADD CONSTRAINT "quarantined_versions_target_node_id_nodes_id_fk" FOREIGN KEY ("target_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "room_membership_history" ADD CONSTRAINT "room_membership_history_room_id_rooms_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."rooms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "room_membership_history" ADD CONSTRAINT "room_membership_history_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "quarantined_versions_open_idx" ON "quarantined_versions" USING btree ("source_node_id","target_node_id","message_id","hlc") WHERE "quarantined_versions"."released_at" is null;--> statement-breakpoint
CREATE INDEX "quarantined_versions_at_idx" ON "quarantined_versions" USING btree ("quarantined_at","id");--> statement-breakpoint
CREATE INDEX "quarantined_versions_target_idx" ON "quarantined_versions" USING btree ("target_node_id","quarantined_at");--> statement-breakpoint
CREATE INDEX "room_membership_history_room_user_idx" ON "room_membership_history" USING btree ("room_id","user_id","joined_at");--> statement-breakpoint
-- Hand-written: the history starts with today's members (joined_at as recorded), and its start is
-- kept so that central can tell "before the history began" from "not a member then".
INSERT INTO "room_membership_history" ("room_id", "user_id", "joined_at") SELECT "room_id", "user_id", "joined_at" FROM "room_members";--> statement-breakpoint
INSERT INTO "settings" ("key", "value") VALUES ('membership_history_since', to_jsonb(floor(extract(epoch from now()) * 1000)::bigint)) ON CONFLICT ("key") DO NOTHING;
