CREATE TYPE "public"."room_visibility" AS ENUM('PUBLIC', 'PRIVATE');--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "visibility" "room_visibility" DEFAULT 'PUBLIC' NOT NULL;--> statement-breakpoint
ALTER TABLE "rooms" ADD COLUMN "direct_pair_key" text;--> statement-breakpoint
ALTER TABLE "rooms" ADD CONSTRAINT "rooms_direct_pair_key_unique" UNIQUE("direct_pair_key");