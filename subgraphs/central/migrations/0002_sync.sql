CREATE TYPE "public"."sync_action" AS ENUM('CREATE', 'UPDATE', 'DELETE');--> statement-breakpoint
CREATE TYPE "public"."sync_status" AS ENUM('PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED');--> statement-breakpoint
CREATE TYPE "public"."sync_trigger" AS ENUM('SCHEDULE', 'CHANGE', 'MANUAL');--> statement-breakpoint
CREATE TYPE "public"."sync_type" AS ENUM('FULL', 'INCREMENTAL');--> statement-breakpoint
CREATE TABLE "distributed_messages" (
	"id" text PRIMARY KEY NOT NULL,
	"room_id" text NOT NULL,
	"sender_id" text NOT NULL,
	"content_hash" text NOT NULL,
	"originating_node_id" text NOT NULL,
	"storage_node_ids" text[] NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"deleted" boolean DEFAULT false NOT NULL,
	"hlc" text
);
--> statement-breakpoint
CREATE TABLE "message_sync_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"message_id" text NOT NULL,
	"action" "sync_action" NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sync_pairs" (
	"source_node_id" text NOT NULL,
	"target_node_id" text NOT NULL,
	"cursor" bigint DEFAULT 0 NOT NULL,
	"source_head_seq" bigint DEFAULT 0 NOT NULL,
	"digests_match" boolean,
	"last_sync_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sync_pairs_source_node_id_target_node_id_pk" PRIMARY KEY("source_node_id","target_node_id")
);
--> statement-breakpoint
CREATE TABLE "sync_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"source_node_id" text NOT NULL,
	"target_node_id" text NOT NULL,
	"status" "sync_status" DEFAULT 'PENDING' NOT NULL,
	"sync_type" "sync_type" NOT NULL,
	"trigger" "sync_trigger" NOT NULL,
	"messages_synced" integer DEFAULT 0 NOT NULL,
	"messages_total" integer,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"dispatched_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"error" text,
	"cursor_before" bigint,
	"cursor_after" bigint,
	"digests_match" boolean,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "message_sync_log" ADD CONSTRAINT "message_sync_log_session_id_sync_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sync_sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_pairs" ADD CONSTRAINT "sync_pairs_source_node_id_nodes_id_fk" FOREIGN KEY ("source_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_pairs" ADD CONSTRAINT "sync_pairs_target_node_id_nodes_id_fk" FOREIGN KEY ("target_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_sessions" ADD CONSTRAINT "sync_sessions_source_node_id_nodes_id_fk" FOREIGN KEY ("source_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sync_sessions" ADD CONSTRAINT "sync_sessions_target_node_id_nodes_id_fk" FOREIGN KEY ("target_node_id") REFERENCES "public"."nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "distributed_messages_room_created_idx" ON "distributed_messages" USING btree ("room_id","created_at","id");--> statement-breakpoint
CREATE INDEX "distributed_messages_content_hash_idx" ON "distributed_messages" USING btree ("content_hash");--> statement-breakpoint
CREATE INDEX "message_sync_log_session_idx" ON "message_sync_log" USING btree ("session_id","id");--> statement-breakpoint
CREATE INDEX "message_sync_log_message_idx" ON "message_sync_log" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "sync_sessions_started_idx" ON "sync_sessions" USING btree ("started_at","id");--> statement-breakpoint
CREATE INDEX "sync_sessions_target_status_idx" ON "sync_sessions" USING btree ("target_node_id","status");--> statement-breakpoint
CREATE INDEX "sync_sessions_source_idx" ON "sync_sessions" USING btree ("source_node_id","started_at");--> statement-breakpoint
CREATE UNIQUE INDEX "sync_sessions_one_pending_per_pair" ON "sync_sessions" USING btree ("source_node_id","target_node_id") WHERE "sync_sessions"."status" = 'PENDING';--> statement-breakpoint
CREATE UNIQUE INDEX "sync_sessions_one_running_per_pair" ON "sync_sessions" USING btree ("source_node_id","target_node_id") WHERE "sync_sessions"."status" = 'IN_PROGRESS';