-- Migration 1: operations, jobs and their executions.
-- Times are integer milliseconds since the Unix epoch, UTC.

CREATE TABLE operation (
    id          INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    info        TEXT NOT NULL,      -- the info document as stored
    backoff     TEXT NOT NULL,      -- effective backoff, JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (type, definition)
);

CREATE TABLE job (
    id               INTEGER PRIMARY KEY,
    operation_id     INTEGER NOT NULL REFERENCES operation (id),
    name             TEXT NOT NULL,
    revision         INTEGER NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('EXECUTING', 'PAUSED', 'STOPPED')),
    info             TEXT NOT NULL, -- as sent, with the backoff in effect
    own_backoff      INTEGER NOT NULL, -- 0: info.backoff is the operation's
    current_delay_ms INTEGER NOT NULL,
    due_at           INTEGER,       -- next run; NULL unless EXECUTING
    last_ordinal     INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (operation_id, name)
);

-- Not partial indexes (WHERE status = ...): a partial index makes SQLite
-- re-plan every statement that compares status with a bound value each
-- time the value is bound, which costs a list request its prepared plan.
CREATE INDEX job_due ON job (status, due_at);

CREATE TABLE execution (
    id               INTEGER PRIMARY KEY,
    job_id           INTEGER NOT NULL REFERENCES job (id) ON DELETE CASCADE,
    ordinal          INTEGER NOT NULL,
    revision         INTEGER NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('STARTED', 'SUCCEEDED', 'FAILED',
                                       'TIMED_OUT', 'CANCELLED',
                                       'ABANDONED')),
    parameters       TEXT NOT NULL,
    roles            TEXT NOT NULL,
    response_code    TEXT,
    result           TEXT,
    due_at           INTEGER,       -- when it was due, for lateness
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    stopped_at       INTEGER,
    updated_at       INTEGER NOT NULL,
    UNIQUE (job_id, ordinal)
);

CREATE INDEX execution_running ON execution (status, lease_expires_at);
CREATE INDEX execution_job ON execution (job_id, id);
