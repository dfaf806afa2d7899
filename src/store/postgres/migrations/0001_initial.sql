-- learning-service on PostgreSQL, schema version 1. Portable SQL only (see
-- the module documentation of src/store/postgres): no sequences, no advisory
-- locks, no system columns. Stream positions (`pos`) come from ls_counters.
CREATE TABLE ls_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO ls_counters (name, value) VALUES
    ('exploration_budget', 0), ('entropy_responses', 0),
    ('pattern_entropy_history', 0), ('patterns', 0)
ON CONFLICT (name) DO NOTHING;

CREATE TABLE exploration_budget (
    pos BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    job_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    budget_value DOUBLE PRECISION NOT NULL,
    entropy_at_time DOUBLE PRECISION,
    adjustment_type TEXT NOT NULL,
    adjustment_reason TEXT
);
CREATE INDEX exploration_budget_job ON exploration_budget (job_hash, pos);

CREATE TABLE entropy_responses (
    pos BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    job_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    entropy_at_trigger DOUBLE PRECISION NOT NULL,
    threshold_used DOUBLE PRECISION NOT NULL,
    actions_taken TEXT NOT NULL,
    budget_boosted BIGINT,
    quarantine_revisits BIGINT,
    patterns_revisited TEXT
);
CREATE INDEX entropy_responses_job ON entropy_responses (job_hash, pos);

CREATE TABLE pattern_entropy_history (
    pos BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    calculated_at TEXT NOT NULL,
    shannon_entropy DOUBLE PRECISION NOT NULL,
    max_possible_entropy DOUBLE PRECISION NOT NULL,
    diversity_index DOUBLE PRECISION NOT NULL,
    unique_pattern_count BIGINT NOT NULL,
    effective_pattern_count BIGINT NOT NULL,
    total_applications BIGINT NOT NULL,
    dominant_pattern_share DOUBLE PRECISION NOT NULL,
    threshold_exceeded BIGINT
);
CREATE INDEX pattern_entropy_history_calculated
    ON pattern_entropy_history (calculated_at, pos);

-- Every column of the original's `patterns`, so a migrated store keeps them;
-- application_count is the counter kept in the transaction of each application.
CREATE TABLE patterns (
    pos BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    pattern_type TEXT NOT NULL,
    pattern_name TEXT NOT NULL,
    description TEXT,
    occurrence_count BIGINT,
    first_seen TEXT,
    last_seen TEXT,
    last_confirmed TEXT,
    led_to_success_count BIGINT,
    led_to_failure_count BIGINT,
    effectiveness_score DOUBLE PRECISION,
    variance DOUBLE PRECISION,
    suggested_action TEXT,
    context_tags TEXT,
    priority_score DOUBLE PRECISION,
    quarantine_status TEXT,
    provenance_job_hash TEXT,
    provenance_sheet_num BIGINT,
    quarantined_at TEXT,
    validated_at TEXT,
    quarantine_reason TEXT,
    trust_score DOUBLE PRECISION,
    trust_calculation_date TEXT,
    success_factors TEXT,
    success_factors_updated_at TEXT,
    active BIGINT,
    content_hash TEXT,
    instrument_name TEXT,
    application_count BIGINT NOT NULL
);
CREATE INDEX patterns_quarantine ON patterns (quarantine_status);

CREATE TABLE pattern_applications (
    id TEXT PRIMARY KEY,
    pattern_id TEXT,
    execution_id TEXT,
    applied_at TEXT,
    pattern_led_to_success BOOLEAN,
    retry_count_before BIGINT,
    retry_count_after BIGINT,
    grounding_confidence DOUBLE PRECISION
);
CREATE INDEX pattern_applications_pattern ON pattern_applications (pattern_id);

-- One row per job (all_jobs = 0) and one for every job (all_jobs = 1, job_hash '').
CREATE TABLE ls_budget_stats (
    all_jobs BIGINT NOT NULL,
    job_hash TEXT NOT NULL,
    n BIGINT NOT NULL,
    value_sum DOUBLE PRECISION NOT NULL,
    value_err DOUBLE PRECISION NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    floor_enforced BIGINT NOT NULL,
    boost BIGINT NOT NULL,
    decay BIGINT NOT NULL,
    ceiling_enforced BIGINT NOT NULL,
    initial BIGINT NOT NULL,
    PRIMARY KEY (all_jobs, job_hash)
);
CREATE TABLE ls_response_stats (
    all_jobs BIGINT NOT NULL,
    job_hash TEXT NOT NULL,
    n BIGINT NOT NULL,
    entropy_sum DOUBLE PRECISION NOT NULL,
    entropy_err DOUBLE PRECISION NOT NULL,
    budget_boosts BIGINT NOT NULL,
    quarantine_revisits BIGINT NOT NULL,
    PRIMARY KEY (all_jobs, job_hash)
);

-- response is NULL only inside the transaction that claimed the key.
CREATE TABLE ls_idempotency (
    request_id TEXT PRIMARY KEY,
    rpc TEXT NOT NULL,
    request_digest BYTEA NOT NULL,
    response BYTEA,
    created_at TEXT NOT NULL
);
CREATE INDEX ls_idempotency_created ON ls_idempotency (created_at);
