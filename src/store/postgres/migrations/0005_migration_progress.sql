-- Schema version 5, `learning-service migrate`: how far the copy of a SQLite store has come,
-- one row per copied table, updated in the transaction of each batch (so a
-- killed migration resumes after its last committed batch).
CREATE TABLE ls_migration_progress (
    source_table TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    last_rowid BIGINT NOT NULL,
    copied BIGINT NOT NULL,
    left_out BIGINT NOT NULL,
    already_there BIGINT NOT NULL
);
