-- Fine-tuning jobs, their events and checkpoints, measured throughput, and fine-tuned models.
-- Portable SQL (see 001): TEXT ids, BIGINT Unix seconds (and *_ms for ordering and heartbeats),
-- INTEGER 0/1 booleans, JSON kept as TEXT.
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  created_by TEXT,                 -- id of the API key that created it (created_by_me)
  dialect TEXT NOT NULL,           -- mistral | openai: the shape it was created in
  job_type TEXT NOT NULL,          -- completion | classifier
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  auto_start INTEGER NOT NULL,
  start_requested INTEGER NOT NULL, -- 1 once auto_start or POST /start allows a worker to run it
  training_files TEXT NOT NULL,    -- JSON [{file_id, weight}]
  validation_files TEXT NOT NULL,  -- JSON [file_id]
  hyperparameters TEXT NOT NULL,   -- JSON, defaults filled
  suffix TEXT,
  integrations TEXT NOT NULL,      -- JSON, including api keys (never rendered)
  wandb_project TEXT,              -- first wandb integration's project and name (list filters)
  wandb_name TEXT,
  repositories TEXT NOT NULL,      -- JSON
  classifier_targets TEXT,         -- JSON, classifier jobs only
  user_metadata TEXT NOT NULL,     -- JSON, OpenAI's metadata key/values
  invalid_sample_skip_percentage DOUBLE PRECISION NOT NULL,
  seed BIGINT,
  dedupe_key TEXT NOT NULL,        -- sha256 of model, files and hyperparameters (409 on duplicates)
  estimate TEXT,                   -- JSON JobEstimate, once validated
  plan TEXT,                       -- JSON: the validated shards and the training plan
  fine_tuned_model TEXT,
  trained_tokens BIGINT,
  error TEXT,                      -- JSON {code, message, param}
  device TEXT,
  event_seq BIGINT NOT NULL DEFAULT 0,  -- orders events within a job
  attempts INTEGER NOT NULL DEFAULT 0,  -- claims so far (>1: resumed after a worker died)
  locked_by TEXT,
  locked_at BIGINT,
  heartbeat_ms BIGINT,
  created_at BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  modified_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT
);
CREATE INDEX jobs_workspace_order ON jobs (workspace_id, created_ms, id);
CREATE INDEX jobs_claim ON jobs (status, start_requested, created_ms);
CREATE INDEX jobs_dedupe ON jobs (workspace_id, dedupe_key);

CREATE TABLE job_events (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  name TEXT NOT NULL,              -- status-updated | metrics | checkpoint | message
  level TEXT NOT NULL,             -- info | warn | error
  message TEXT NOT NULL,
  data TEXT,                       -- JSON
  created_at BIGINT NOT NULL,
  UNIQUE (job_id, seq)
);

CREATE TABLE job_checkpoints (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  step_number BIGINT NOT NULL,
  metrics TEXT NOT NULL,           -- JSON {train_loss, valid_loss, valid_mean_token_accuracy}
  path TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (job_id, step_number)
);

CREATE TABLE throughput (
  base_model TEXT NOT NULL,
  device TEXT NOT NULL,            -- device kind: cpu | cuda | mps
  tokens_per_second DOUBLE PRECISION NOT NULL,
  jobs BIGINT NOT NULL,            -- finished jobs averaged into it
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (base_model, device)
);

CREATE TABLE models (
  id TEXT PRIMARY KEY,             -- ft:<base>:[<suffix>:]<workspace8>:<yyyymmdd>:<job8>
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  job_id TEXT NOT NULL,
  base_model TEXT NOT NULL,
  model_type TEXT NOT NULL,        -- completion | classifier
  adapter_dir TEXT NOT NULL,
  name TEXT,
  description TEXT,
  archived INTEGER NOT NULL DEFAULT 0,
  classifier_targets TEXT,         -- JSON, classifier models only
  created_at BIGINT NOT NULL,
  modified_at BIGINT NOT NULL
);
CREATE INDEX models_workspace ON models (workspace_id, created_at, id);
