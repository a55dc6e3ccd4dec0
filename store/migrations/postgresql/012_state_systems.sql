-- State systems: what the bot still owes them or still waits from them, durably.

-- Registry questions not answered yet; a worker claims a row with a lease and asks again with growing pauses.
-- The answer itself is never stored. Times here are moments to the second (store/leases.py), not unix seconds.
CREATE TABLE registry_questions (
    number           text PRIMARY KEY REFERENCES applications (number),
    status           text NOT NULL DEFAULT 'queued',   -- queued, asking, answered, closed
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,                      -- an 'asking' row past it may be taken over
    late_told_at     timestamptz,                      -- the requester was told the due time passed
    created_at       timestamptz NOT NULL,
    settled_at       timestamptz,
    last_error       text                              -- a reason (timeout, HTTP 503), never an answer
);
CREATE INDEX registry_questions_due ON registry_questions (status, next_attempt_at);

-- What we post to the state systems (stages to monitoring, complaints to the addressee's intake); the key is
-- the contract's idempotency key.
CREATE TABLE state_outbox (
    id               text PRIMARY KEY,                 -- '<target>:<key>'
    target           text NOT NULL,                    -- monitoring, complaints
    key              text NOT NULL,
    payload          text,                             -- JSON, NULL once settled
    status           text NOT NULL DEFAULT 'queued',   -- queued, sending, sent, failed
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    settled_at       timestamptz,
    last_error       text
);
CREATE INDEX state_outbox_due ON state_outbox (status, next_attempt_at);

-- The addressee's own incoming number of a complaint.
ALTER TABLE complaints ADD COLUMN incoming_number text;
