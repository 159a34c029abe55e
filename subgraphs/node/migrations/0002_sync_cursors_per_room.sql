-- Cursors become per (source, room). The pair-wide cursors of 0001 cannot be split per room, and
-- losing a cursor is safe (the next session replays from 0, idempotently): drop them.
DROP TABLE `sync_cursors`;--> statement-breakpoint
CREATE TABLE `sync_cursors` (
	`source_node_id` text NOT NULL,
	`room_id` text NOT NULL,
	`seq` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`source_node_id`, `room_id`)
);
