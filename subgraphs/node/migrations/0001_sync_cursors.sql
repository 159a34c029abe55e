CREATE TABLE `sync_cursors` (
	`source_node_id` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL,
	`updated_at` integer NOT NULL
);
