-- The peer each applied version came from (null for this node's own writes, and for every row
-- written before this migration, which stay served as before). A peer's live stream leaves out
-- the versions it sent: it holds them or newer, and serving them back cost a FULL sync of N
-- versions a second read, send and check of all N (docs/sync.md, "Echoes").
ALTER TABLE `change_log` ADD `received_from` text;
