-- Full-text index of live messages for searchMessages (docs/search.md). Kept by triggers, so it
-- changes in the same transaction as every write to `messages`: local posts, edits and deletes
-- and every version sync applies. Keyed by the message's rowid (no VACUUM runs on a node, so
-- rowids are stable); tombstones are not indexed. Diacritics folded: "cafe" finds "café".
CREATE VIRTUAL TABLE `messages_fts` USING fts5(content, tokenize = 'unicode61 remove_diacritics 2');
--> statement-breakpoint
CREATE TRIGGER `messages_fts_insert` AFTER INSERT ON `messages`
WHEN new.deleted_at IS NULL AND new.content <> '' BEGIN
  INSERT INTO `messages_fts` (rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_update` AFTER UPDATE OF content, deleted_at ON `messages` BEGIN
  DELETE FROM `messages_fts` WHERE rowid = old.rowid;
  INSERT INTO `messages_fts` (rowid, content)
    SELECT new.rowid, new.content WHERE new.deleted_at IS NULL AND new.content <> '';
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_delete` AFTER DELETE ON `messages` BEGIN
  DELETE FROM `messages_fts` WHERE rowid = old.rowid;
END;
--> statement-breakpoint
INSERT INTO `messages_fts` (rowid, content)
  SELECT rowid, content FROM `messages` WHERE deleted_at IS NULL AND content <> '';
