CREATE TABLE `sync_quarantine` (
	`source_node_id` text NOT NULL,
	`seq` integer NOT NULL,
	`message_id` text NOT NULL,
	`room_id` text NOT NULL,
	`hlc` text NOT NULL,
	`reason` text NOT NULL,
	`version` text NOT NULL,
	`quarantined_at` integer NOT NULL,
	PRIMARY KEY(`source_node_id`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `sync_quarantine_message_idx` ON `sync_quarantine` (`source_node_id`,`message_id`);