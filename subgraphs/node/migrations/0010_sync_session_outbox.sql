CREATE TABLE `sync_session_outbox` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` text NOT NULL,
	`entry` text NOT NULL,
	`cursor` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sync_session_outbox_session_idx` ON `sync_session_outbox` (`session_id`,`seq`);