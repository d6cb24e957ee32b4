-- Workspaces, API keys and uploaded files. Portable SQL: TEXT ids, BIGINT times (Unix seconds)
-- and sizes, INTEGER 0/1 booleans, JSON kept as TEXT.
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,          -- 8 hex chars: fine-tuned model ids embed it
  name TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  key_hash TEXT NOT NULL UNIQUE, -- sha256 hex of the key; the key itself is never stored
  prefix TEXT NOT NULL,          -- first characters, so a person can tell keys apart
  created_at BIGINT NOT NULL
);

CREATE TABLE files (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  sample_type TEXT NOT NULL,
  source TEXT NOT NULL,
  bytes BIGINT NOT NULL,
  num_lines BIGINT,
  mimetype TEXT,
  sha256 TEXT NOT NULL,
  blob_key TEXT NOT NULL,
  visibility TEXT NOT NULL,
  expires_at BIGINT,
  status TEXT NOT NULL,          -- OpenAI's uploaded | processed | error
  validation TEXT,               -- JSON report of the dataset validation, when it has run
  created_at BIGINT NOT NULL,
  created_ms BIGINT NOT NULL     -- orders files (and OpenAI cursors) finer than created_at
);

CREATE INDEX files_workspace_order ON files (workspace_id, created_ms, id);
CREATE INDEX files_dedup ON files (workspace_id, sha256, filename);
