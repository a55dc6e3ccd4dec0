-- Everything a person must receive in Telegram, written in the same transaction as the decision that owes it
-- (a turn's replies, a result or refusal for a requester, a consent offer, a status notice). A worker claims a
-- row with a lease, delivers it and settles it; after a crash only rows whose lease ran out are taken over.
-- A row names what to send; medical content is never stored (a certificate is rendered from the registry when
-- it is delivered). The payload is cleared once the row is settled.
CREATE TABLE telegram_outbox (
    id               INTEGER PRIMARY KEY,
    chat_id          INTEGER NOT NULL,
    kind             TEXT NOT NULL,              -- messages, notice, consent_outcome, consent_offer
    label            TEXT,                       -- what it was, kept after settling (a text key; no personal data)
    payload          TEXT,                       -- JSON, NULL once settled
    status           TEXT NOT NULL DEFAULT 'queued',   -- queued, sending, sent, by_sms, failed, off
    lease_until      REAL,                       -- unix seconds: a 'sending' row past it may be taken over
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL,                       -- unix seconds; NULL = due now
    created_at       TEXT NOT NULL,
    settled_at       TEXT,
    last_error       TEXT
);
CREATE INDEX telegram_outbox_due ON telegram_outbox (status, next_attempt_at);
CREATE INDEX telegram_outbox_chat ON telegram_outbox (chat_id, id);

INSERT INTO telegram_outbox (chat_id, kind, label, payload, status, attempts, next_attempt_at, created_at)
SELECT user_id, 'notice', key, json_object('key', key, 'params', json(params), 'iin', iin), 'queued', attempts,
       next_attempt_at, created_at
FROM notices WHERE status = 'queued';
DROP TABLE notices;

-- SMS are claimed with a lease instead of being re-queued wholesale at start-up (which would take over what
-- another running worker is sending). An interactive SMS may expire (a code nobody can use any more).
ALTER TABLE sms_outbox ADD COLUMN lease_until REAL;
ALTER TABLE sms_outbox ADD COLUMN expires_at REAL;

-- Telegram updates already handled: marked in the same transaction as their effects, so an update delivered
-- again (a restart before getUpdates confirmed it, a webhook retry) is acted on once. Kept for a day.
CREATE TABLE telegram_updates (
    update_id   INTEGER PRIMARY KEY,
    handled_at  TEXT NOT NULL
);
CREATE INDEX telegram_updates_age ON telegram_updates (handled_at);
