-- Retention, idempotent submits and webhook deliveries.
ALTER TABLE jobs ADD COLUMN images_deleted_at TEXT;
ALTER TABLE jobs ADD COLUMN base_url TEXT;           -- the base imageUrl starts with, for webhooks
CREATE INDEX jobs_by_finish ON jobs (finished_at) WHERE images_deleted_at IS NULL;

ALTER TABLE users ADD COLUMN webhook_secret TEXT;

CREATE TABLE idempotency_keys (
    user_id      INTEGER NOT NULL REFERENCES users (id),
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    created_at   REAL    NOT NULL,                   -- unix time; valid for 24 hours
    PRIMARY KEY (user_id, key)
);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    job_id           TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    event            TEXT    NOT NULL,               -- job.completed | job.failed
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL    NOT NULL,               -- unix time; doubles as the sender's lease
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TEXT    NOT NULL,
    delivered_at     TEXT,
    UNIQUE (job_id, event)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
