-- Upload deduplication held by the database, not by a read-then-write: at most one file per
-- (workspace, sha256, filename) with dedup_slot 0, and uploads insert with ON CONFLICT DO NOTHING.
-- Duplicates that concurrent uploads created before this migration keep their ids (jobs may name
-- them) and are moved to slots 1, 2, ... in upload order; the oldest stays the one uploads return.
ALTER TABLE files ADD COLUMN dedup_slot BIGINT NOT NULL DEFAULT 0;

UPDATE files SET dedup_slot = (
  SELECT COUNT(*) FROM files older
  WHERE older.workspace_id = files.workspace_id AND older.sha256 = files.sha256 AND older.filename = files.filename
    AND (older.created_ms < files.created_ms OR (older.created_ms = files.created_ms AND older.id < files.id))
);

DROP INDEX files_dedup;
CREATE UNIQUE INDEX files_unique_content ON files (workspace_id, sha256, filename, dedup_slot);
