-- Notices to a person in Telegram (a status change of their application or complaint). Written first, sent by
-- a worker, so a restart or a Telegram outage loses nothing. The text is rendered at send time in the
-- person's current language from a text key and parameters (no medical data is ever a parameter).
CREATE TABLE notices (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL,
    iin              TEXT,             -- whose matter: the SMS fallback goes to this person's registered phone
    key              TEXT NOT NULL,
    params           TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'queued',   -- queued, sent, by_sms, failed
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,             -- unix seconds; NULL = due now
    sent_at          TEXT,
    last_error       TEXT
);
CREATE INDEX notices_due ON notices (status, next_attempt_at);
