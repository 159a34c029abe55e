CREATE TABLE `sync_session_outbox` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` text NOT NULL,
	`report` integer,
	`applied` text NOT NULL,
	`quarantined` text NOT NULL,
	`released` text NOT NULL,
	`applied_count` integer NOT NULL,
	`quarantined_count` integer NOT NULL,
	`released_count` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sync_session_outbox_session_idx` ON `sync_session_outbox` (`session_id`,`report`,`seq`);--> statement-breakpoint
CREATE TABLE `sync_session_reports` (
	`session_id` text PRIMARY KEY NOT NULL,
	`next_report` integer DEFAULT 1 NOT NULL,
	`cursor` integer NOT NULL,
	`messages_synced` integer NOT NULL,
	`messages_checked` integer NOT NULL
);
