CREATE TABLE `sync_live_outbox` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`window_id` text NOT NULL,
	`kind` text NOT NULL,
	`entry` text NOT NULL,
	`report` integer
);
--> statement-breakpoint
CREATE INDEX `sync_live_outbox_window_idx` ON `sync_live_outbox` (`window_id`,`report`,`seq`);--> statement-breakpoint
CREATE TABLE `sync_live_windows` (
	`id` text PRIMARY KEY NOT NULL,
	`source_node_id` text NOT NULL,
	`cursor_before` integer NOT NULL,
	`cursor` integer NOT NULL,
	`source_head_seq` integer NOT NULL,
	`versions` integer NOT NULL,
	`opened_at` integer NOT NULL,
	`last_change_at` integer NOT NULL,
	`closed_at` integer,
	`next_report` integer DEFAULT 1 NOT NULL,
	`pending_report` integer,
	`pending_final` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sync_live_windows_source_idx` ON `sync_live_windows` (`source_node_id`,`closed_at`);