-- Certificates the bot issued, kept so that anyone can check one by its number and verification code. Never
-- the medical status: the code is a keyed hash over the certificate's fields.
CREATE TABLE certificates (
    number         text PRIMARY KEY REFERENCES applications (number),
    iin            text NOT NULL,     -- the holder (the person the information is about)
    service        text NOT NULL,
    source_system  text NOT NULL,
    holder_name    text NOT NULL,     -- masked ("Сергей И."): what a checker is told
    issued_at      timestamptz NOT NULL,   -- to the second: the code covers it
    valid_until    timestamptz NOT NULL    -- issued_at + 10 calendar days
);

-- Every check, whatever its outcome: the audit trail and the counter of the rate limit on wrong codes.
-- No code and no status are kept; the client only as a keyed hash.
CREATE TABLE certificate_checks (
    id       text PRIMARY KEY,
    at       timestamptz NOT NULL,
    channel  text NOT NULL,           -- web, telegram
    client   text NOT NULL,           -- keyed hash of the client
    number   text,                    -- one of our numbers as typed, or NULL
    outcome  text NOT NULL            -- valid, status_mismatch, no_match, limited
);
CREATE INDEX certificate_checks_client ON certificate_checks (client, outcome, at);
CREATE INDEX certificate_checks_number ON certificate_checks (number, outcome, at);
