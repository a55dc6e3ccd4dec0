-- The SMS channel: inbound messages already acted on, per-phone preferences (STOP / START, language),
-- and what the outbox worker needs to retry with backoff and keep a global pace.

-- Gateway ids of inbound SMS already received: a repeated id is acknowledged and not acted on again.
CREATE TABLE sms_inbound (
    id           TEXT PRIMARY KEY,
    received_at  TEXT NOT NULL
);

-- One row per phone that ever talked to us by SMS. opted_out_at set = no notices (STOP);
-- lang = the language of the last keyword with a definite language (for Latin "STOP", bare codes).
CREATE TABLE sms_phones (
    phone         TEXT PRIMARY KEY,
    lang          TEXT,
    opted_out_at  TEXT,
    updated_at    TEXT NOT NULL
);

-- Times the worker compares to the sub-second are unix epoch seconds (REAL): backoff can be 50 ms in tests.
ALTER TABLE sms_outbox ADD COLUMN next_attempt_at REAL;   -- NULL = due now
ALTER TABLE sms_outbox ADD COLUMN last_attempt_at REAL;   -- for the per-minute global cap
ALTER TABLE sms_outbox ADD COLUMN receipt_at TEXT;        -- when a delivery receipt set the final state
CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt_at);
CREATE INDEX sms_outbox_last_attempt ON sms_outbox (last_attempt_at);
