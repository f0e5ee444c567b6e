-- 0003_model_since: the start of each model's training window (event time, Unix
-- nanoseconds; 0 when unknown: states written before this migration).
ALTER TABLE model_states ADD COLUMN since_ns INTEGER NOT NULL DEFAULT 0;
