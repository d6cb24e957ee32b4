-- Devices a job needs (ranks of one trainer run, docs/trainer.md "Several GPUs"): a worker only
-- claims a job whose devices_required is at most its own device count. Set from the validated
-- plan's `devices_required` (1 when the plan does not say).
ALTER TABLE jobs ADD COLUMN devices_required INTEGER NOT NULL DEFAULT 1;
