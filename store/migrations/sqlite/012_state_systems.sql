-- State systems (DESIGN.md): what the bot still owes them or still waits from them, durably.

-- Registry questions not answered yet: an own or consented request was accepted, but the registry (or the
-- directory) could not answer at that moment. A worker claims a row with a lease, asks again with growing
-- pauses until it is answered, and then owes the result to the requester's chat (the certificate is rendered
-- at delivery). The answer itself is never stored here: only that the question was asked and answered.
CREATE TABLE registry_questions (
    number           TEXT PRIMARY KEY REFERENCES applications (number),
    status           TEXT NOT NULL DEFAULT 'queued',   -- queued, asking, answered, closed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,                    -- ISO UTC
    lease_until      TEXT,                             -- ISO UTC: an 'asking' row past it may be taken over
    late_told_at     TEXT,                             -- the requester was told the due time passed
    created_at       TEXT NOT NULL,
    settled_at       TEXT,
    last_error       TEXT                              -- a reason (timeout, HTTP 503), never an answer
);
CREATE INDEX registry_questions_due ON registry_questions (status, next_attempt_at);

-- What we post to the state systems: stages to monitoring, complaints to the addressee's intake. Written in the
-- transaction of the stage or of the filing; a worker posts it at least once (the key is the contract's
-- idempotency key) and settles it. The payload names what to send; a complaint is read from its table.
CREATE TABLE state_outbox (
    id               TEXT PRIMARY KEY,                 -- '<target>:<key>'
    target           TEXT NOT NULL,                    -- monitoring, complaints
    key              TEXT NOT NULL,
    payload          TEXT,                             -- JSON, NULL once settled
    status           TEXT NOT NULL DEFAULT 'queued',   -- queued, sending, sent, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    created_at       TEXT NOT NULL,
    settled_at       TEXT,
    last_error       TEXT
);
CREATE INDEX state_outbox_due ON state_outbox (status, next_attempt_at);

-- The addressee's own incoming number of a complaint (its "registered" answer on /api/v1/complaints/events).
ALTER TABLE complaints ADD COLUMN incoming_number TEXT;
