-- The full metrics history of each job: one row per optimizer step (train loss, learning rate,
-- grad norm, tokens/s, trained tokens) with the evaluation of that step merged in when there was
-- one (valid loss, token accuracy, classifier metrics in `extra`). Bounded per job by
-- ATELIER_JOB_METRICS_MAX_POINTS (src/store/job-metrics.ts thins it, keeping every evaluation).
CREATE TABLE job_metrics (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  step BIGINT NOT NULL,
  epoch DOUBLE PRECISION,
  train_loss DOUBLE PRECISION,
  train_accuracy DOUBLE PRECISION,
  learning_rate DOUBLE PRECISION,
  grad_norm DOUBLE PRECISION,
  tokens_per_second DOUBLE PRECISION,
  trained_tokens BIGINT,
  valid_loss DOUBLE PRECISION,
  valid_mean_token_accuracy DOUBLE PRECISION,
  evaluated INTEGER NOT NULL DEFAULT 0,  -- 1 when an evaluation ran at this step (kept when thinning)
  extra TEXT,                            -- JSON: recipe-specific metrics (classifier: per-target accuracy, macro F1)
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (job_id, step)
);

-- OpenAI's result_files: ids of the files written when the job ended (the metrics CSV).
ALTER TABLE jobs ADD COLUMN result_files TEXT NOT NULL DEFAULT '[]';
