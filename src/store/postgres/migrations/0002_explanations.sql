-- learning-service on PostgreSQL, schema version 2: why each budget record
-- and entropy response has its value (see src/store/sqlite/explanations.rs),
-- as JSON text keyed by the record's id, written in the record's transaction.
-- Rows from before this version have none.
CREATE TABLE ls_budget_explanation (
    record_id TEXT PRIMARY KEY,
    explanation TEXT NOT NULL
);
CREATE TABLE ls_response_explanation (
    record_id TEXT PRIMARY KEY,
    explanation TEXT NOT NULL
);
