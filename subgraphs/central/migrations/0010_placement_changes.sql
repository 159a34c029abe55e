ALTER TABLE "nodes" ADD COLUMN "removed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "former_holder_ids" text[] DEFAULT '{}'::text[] NOT NULL;