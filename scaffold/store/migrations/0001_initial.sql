-- Migration 1: the first schema (SPEC 5). Explicit DDL: never edit it; add NNNN_*.sql files instead.
-- Kept equal to scaffold/store/tables.py by tests/store/test_sqlite.py.

CREATE TABLE cascade_versions (
    "cascade" VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    source VARCHAR NOT NULL,
    applied_at FLOAT NOT NULL,
    applied_by VARCHAR,
    PRIMARY KEY ("cascade", version)
);

CREATE TABLE cascades (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name)
);

CREATE TABLE file_versions (
    "cascade" VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    content_type VARCHAR NOT NULL,
    written_at FLOAT NOT NULL,
    written_by VARCHAR,
    PRIMARY KEY ("cascade", name, version)
);

CREATE TABLE files (
    "cascade" VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    deleted_at FLOAT,
    deleted_by VARCHAR,
    PRIMARY KEY ("cascade", name)
);

CREATE TABLE inputs (
    "cascade" VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    secret BOOLEAN NOT NULL,
    value VARCHAR,
    ciphertext BLOB,
    updated_at FLOAT NOT NULL,
    updated_by VARCHAR,
    PRIMARY KEY ("cascade", name)
);

CREATE TABLE log_sizes (
    run_id VARCHAR NOT NULL,
    size INTEGER NOT NULL,
    ends_with_newline BOOLEAN NOT NULL,
    truncated_at FLOAT,
    PRIMARY KEY (run_id)
);

CREATE TABLE logs (
    run_id VARCHAR NOT NULL,
    start INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    PRIMARY KEY (run_id, start)
);

CREATE TABLE runs (
    id INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    "cascade" VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    number INTEGER NOT NULL,
    state VARCHAR NOT NULL,
    "trigger" VARCHAR NOT NULL,
    triggered_by VARCHAR,
    wave_id INTEGER,
    attempt INTEGER NOT NULL,
    node VARCHAR,
    image VARCHAR,
    image_digest VARCHAR,
    executor VARCHAR,
    queued_at FLOAT,
    started_at FLOAT,
    ended_at FLOAT,
    exit_code INTEGER,
    reason VARCHAR,
    display VARCHAR,
    display_error VARCHAR,
    loaded VARCHAR NOT NULL,
    stored VARCHAR NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_runs_number UNIQUE ("cascade", task, kind, number)
);
CREATE INDEX ix_runs_cascade_id ON runs ("cascade", id);
CREATE INDEX ix_runs_run_id ON runs (run_id);
CREATE INDEX ix_runs_state ON runs (state);
CREATE INDEX ix_runs_wave ON runs (wave_id);

CREATE TABLE tasks (
    "cascade" VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    run_number INTEGER NOT NULL,
    reason VARCHAR,
    disabled BOOLEAN NOT NULL,
    auto_execute BOOLEAN NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY ("cascade", name)
);

CREATE TABLE value_versions (
    "cascade" VARCHAR NOT NULL,
    "key" VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    value BLOB NOT NULL,
    written_at FLOAT NOT NULL,
    written_by VARCHAR,
    PRIMARY KEY ("cascade", "key", version)
);

CREATE TABLE "values" (
    "cascade" VARCHAR NOT NULL,
    "key" VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY ("cascade", "key")
);

CREATE TABLE waves (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "cascade" VARCHAR NOT NULL,
    "trigger" VARCHAR NOT NULL,
    triggered_by VARCHAR,
    started_tasks VARCHAR NOT NULL,
    started_at FLOAT NOT NULL,
    ended_at FLOAT
);
CREATE INDEX ix_waves_cascade_id ON waves ("cascade", id);
