-- One time encoding for every leased queue (store/leased_queue.py): the next attempt and the lease's end are unix
-- epoch seconds (REAL), as in the Telegram and SMS outboxes, instead of ISO UTC text. SQLite changes a column's
-- type by rebuilding its table; each row keeps its moments (stored to the second, so exactly).
CREATE TABLE registry_questions_new (
    number           TEXT PRIMARY KEY REFERENCES applications (number),
    status           TEXT NOT NULL DEFAULT 'queued',   -- queued, asking, answered, closed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,                    -- unix seconds
    lease_until      REAL,                             -- unix seconds: an 'asking' row past it may be taken over
    late_told_at     TEXT,                             -- the requester was told the due time passed
    created_at       TEXT NOT NULL,
    settled_at       TEXT,
    last_error       TEXT                              -- a reason (timeout, HTTP 503), never an answer
);
INSERT INTO registry_questions_new (number, status, attempts, next_attempt_at, lease_until, late_told_at, created_at,
                                    settled_at, last_error)
SELECT number, status, attempts, CAST(strftime('%s', next_attempt_at) AS REAL),
       CAST(strftime('%s', lease_until) AS REAL), late_told_at, created_at, settled_at, last_error
FROM registry_questions;
DROP TABLE registry_questions;
ALTER TABLE registry_questions_new RENAME TO registry_questions;
CREATE INDEX registry_questions_due ON registry_questions (status, next_attempt_at);

CREATE TABLE state_outbox_new (
    id               TEXT PRIMARY KEY,                 -- '<target>:<key>'
    target           TEXT NOT NULL,                    -- monitoring, complaints
    key              TEXT NOT NULL,
    payload          TEXT,                             -- JSON, NULL once settled
    status           TEXT NOT NULL DEFAULT 'queued',   -- queued, sending, sent, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,                    -- unix seconds
    lease_until      REAL,                             -- unix seconds
    created_at       TEXT NOT NULL,
    settled_at       TEXT,
    last_error       TEXT
);
INSERT INTO state_outbox_new (id, target, key, payload, status, attempts, next_attempt_at, lease_until, created_at,
                              settled_at, last_error)
SELECT id, target, key, payload, status, attempts, CAST(strftime('%s', next_attempt_at) AS REAL),
       CAST(strftime('%s', lease_until) AS REAL), created_at, settled_at, last_error
FROM state_outbox;
DROP TABLE state_outbox;
ALTER TABLE state_outbox_new RENAME TO state_outbox;
CREATE INDEX state_outbox_due ON state_outbox (status, next_attempt_at);
