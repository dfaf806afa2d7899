-- Schema version 3: diversity that reacts. Perplexity and inverse Simpson of
-- recorded snapshots (NULL for rows recorded without them), and applications
-- per pattern per minute and per hour of applied_at (Unix epoch, UTC), kept
-- in the transaction of each application, for windowed readings. The
-- buckets of applications already there are filled by the migration step
-- in schema.rs.
ALTER TABLE pattern_entropy_history ADD COLUMN perplexity DOUBLE PRECISION;
ALTER TABLE pattern_entropy_history ADD COLUMN inverse_simpson DOUBLE PRECISION;

CREATE TABLE ls_application_minutes (
    pattern_id TEXT NOT NULL,
    minute BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (pattern_id, minute)
);
CREATE TABLE ls_application_hours (
    pattern_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (pattern_id, hour)
);
CREATE INDEX patterns_type ON patterns (pattern_type);
CREATE INDEX patterns_instrument ON patterns (instrument_name);
