-- The SMS channel: inbound messages already acted on, per-phone preferences (STOP / START, language),
-- and what the outbox worker needs to retry with backoff and keep a global pace.

-- Gateway ids of inbound SMS already received: a repeated id is acknowledged and not acted on again.
CREATE TABLE sms_inbound (
    id           text PRIMARY KEY,
    received_at  timestamptz NOT NULL
);

-- One row per phone that ever talked to us by SMS. opted_out_at set = no notices (STOP);
-- lang = the language of the last keyword with a definite language.
CREATE TABLE sms_phones (
    phone         text PRIMARY KEY,
    lang          text,
    opted_out_at  timestamptz,
    updated_at    timestamptz NOT NULL
);

-- Worker times are unix epoch seconds (double precision, not 4-byte real): backoff can be 50 ms in tests.
ALTER TABLE sms_outbox ADD COLUMN next_attempt_at double precision;   -- NULL = due now
ALTER TABLE sms_outbox ADD COLUMN last_attempt_at double precision;   -- for the per-minute global cap
ALTER TABLE sms_outbox ADD COLUMN receipt_at timestamptz;             -- when a delivery receipt set the final state
CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt_at);
CREATE INDEX sms_outbox_last_attempt ON sms_outbox (last_attempt_at);
