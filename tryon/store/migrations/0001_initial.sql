-- Users, API keys, the credit ledger and the job queue.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT    NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    is_active      INTEGER NOT NULL DEFAULT 1,
    -- Cached sum of this user's ledger rows, updated in the same transaction as each row.
    credit_balance INTEGER NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    created_at     TEXT    NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,          -- shown to people: "ta_" + first 8 characters
    key_hash     TEXT    NOT NULL UNIQUE,   -- sha256 of the whole key; the key itself is never stored
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_by_prefix ON api_keys (prefix);
CREATE INDEX api_keys_by_user ON api_keys (user_id);

-- The jobs table is the queue: state moves queued -> running -> completed | failed.
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    id               TEXT    NOT NULL UNIQUE,            -- public jobId (UUID4)
    user_id          INTEGER NOT NULL REFERENCES users (id),
    api_key_id       INTEGER REFERENCES api_keys (id),
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'failed')),
    provider         TEXT    NOT NULL,
    options          TEXT    NOT NULL DEFAULT '{}',      -- JSON
    cost             INTEGER NOT NULL,
    person_key       TEXT    NOT NULL,
    garment_key      TEXT    NOT NULL,
    result_key       TEXT,
    result           TEXT,                               -- JSON shown as "result"
    error            TEXT,
    error_code       TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_token      TEXT,                               -- who runs it now; NULL when not running
    lease_expires_at REAL,                               -- unix time
    remote_state     TEXT,                               -- JSON a remote provider keeps to resume
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
);
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE INDEX jobs_by_user ON jobs (user_id, seq);

CREATE TABLE credit_ledger (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    delta      INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('grant', 'debit', 'refund')),
    job_id     TEXT    REFERENCES jobs (id),
    note       TEXT,
    created_at TEXT    NOT NULL
);
-- A job is debited at most once and refunded at most once, whatever the code does.
CREATE UNIQUE INDEX credit_ledger_once_per_job ON credit_ledger (job_id, kind)
    WHERE job_id IS NOT NULL;
CREATE INDEX credit_ledger_by_user ON credit_ledger (user_id, id);
