CREATE TABLE `sync_sends` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`peer_node_id` text NOT NULL,
	`rooms` text NOT NULL,
	`after_seq` integer NOT NULL,
	`up_to_seq` integer NOT NULL,
	`sent_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sync_sends_peer_idx` ON `sync_sends` (`peer_node_id`,`up_to_seq`);