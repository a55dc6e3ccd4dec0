-- Certificates («Сведения/Мәлімет») the bot issued, kept so that anyone can check one by its number and
-- verification code. Never the medical status: the code is a keyed hash over the certificate's fields, the
-- status among them, and a check computes it again for the status the checker sees on the paper. The IIN is
-- here (as in applications) because the code covers it; a checker is only ever shown the masked name.
CREATE TABLE certificates (
    number         TEXT PRIMARY KEY REFERENCES applications (number),
    iin            TEXT NOT NULL,     -- the holder (the person the information is about)
    service        TEXT NOT NULL,
    source_system  TEXT NOT NULL,
    holder_name    TEXT NOT NULL,     -- masked ("Сергей И."): what a checker is told
    issued_at      TEXT NOT NULL,     -- ISO UTC, to the second: the code covers it
    valid_until    TEXT NOT NULL      -- issued_at + 10 calendar days (standard item 11)
);

-- Every check, whatever its outcome: the audit trail of checks and the counter of the rate limit on wrong
-- codes (in the database, so that it holds across processes). No code and no status are kept, and the
-- client (an address, a Telegram user) only as a keyed hash.
CREATE TABLE certificate_checks (
    id       TEXT PRIMARY KEY,
    at       TEXT NOT NULL,
    channel  TEXT NOT NULL,           -- web, telegram
    client   TEXT NOT NULL,           -- keyed hash of the client
    number   TEXT,                    -- one of our numbers as typed, or NULL when it was not one
    outcome  TEXT NOT NULL            -- valid, status_mismatch, no_match, limited
);
CREATE INDEX certificate_checks_client ON certificate_checks (client, outcome, at);
CREATE INDEX certificate_checks_number ON certificate_checks (number, outcome, at);
