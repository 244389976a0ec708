-- Migration 2: people and access (SPEC 7): users, API tokens, login sessions, webhooks, audit log.
-- Kept equal to scaffold/store/tables.py by tests/store/test_sqlite.py. Never edit it once released.

CREATE TABLE users (
    username VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    groups VARCHAR NOT NULL,
    disabled BOOLEAN NOT NULL,
    password_hash VARCHAR NOT NULL,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    PRIMARY KEY (username)
);

CREATE TABLE tokens (
    id VARCHAR NOT NULL,
    username VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    secret_hash VARCHAR NOT NULL,
    created_at FLOAT NOT NULL,
    expires_at FLOAT,
    revoked_at FLOAT,
    last_used_at FLOAT,
    PRIMARY KEY (id)
);
CREATE INDEX ix_tokens_username ON tokens (username);

CREATE TABLE sessions (
    id_hash VARCHAR NOT NULL,
    username VARCHAR NOT NULL,
    csrf_token VARCHAR NOT NULL,
    created_at FLOAT NOT NULL,
    expires_at FLOAT NOT NULL,
    PRIMARY KEY (id_hash)
);
CREATE INDEX ix_sessions_expires_at ON sessions (expires_at);
CREATE INDEX ix_sessions_username ON sessions (username);

CREATE TABLE webhooks (
    id VARCHAR NOT NULL,
    "cascade" VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    secret_hash VARCHAR NOT NULL,
    created_by VARCHAR,
    created_at FLOAT NOT NULL,
    last_triggered_at FLOAT,
    PRIMARY KEY (id)
);
CREATE INDEX ix_webhooks_cascade ON webhooks ("cascade");

CREATE TABLE audit (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at FLOAT NOT NULL,
    actor VARCHAR,
    action VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    details VARCHAR NOT NULL
);
