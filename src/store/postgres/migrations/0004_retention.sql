-- Schema version 4: what retention needs to stay
-- bounded. Retention deletes the oldest rows first, found by their time
-- (not a scan of the whole history per batch); and when a deleted budget
-- value was a job's minimum or maximum, the job's new one is an index
-- endpoint, not a scan of the job's rows.
CREATE INDEX exploration_budget_recorded ON exploration_budget (recorded_at, pos);
CREATE INDEX entropy_responses_recorded ON entropy_responses (recorded_at, pos);
CREATE INDEX exploration_budget_job_value ON exploration_budget (job_hash, budget_value);
