-- Dataset validation reports with token counts, keyed by what determines them (file bytes,
-- tokenizer, format, role, classifier targets), so jobs over the same bytes never validate again.
CREATE TABLE dataset_reports (
  cache_key TEXT PRIMARY KEY,
  report TEXT NOT NULL,            -- JSON FileReport
  created_at BIGINT NOT NULL
);
