-- Operators of the contact centre, the audit log of what they (and the command line) did, and broadcasts
-- with a per-recipient delivery ledger that survives restarts.

-- Roles: 'operator' (console, lookups, broadcasts) and 'admin' (everything an operator does, and more).
CREATE TABLE staff (
    user_id   INTEGER PRIMARY KEY,      -- Telegram user id
    role      TEXT NOT NULL CHECK (role IN ('operator', 'admin')),
    added_at  TEXT NOT NULL,
    added_by  TEXT NOT NULL             -- a Telegram user id, 'cli' or 'config' (QYZMET_OPERATORS)
);

-- Who did what, when, on which application number. details is JSON and never holds an IIN or phone in clear.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,             -- a Telegram user id, 'cli' or 'config'
    action   TEXT NOT NULL,
    number   TEXT,
    details  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_number ON audit_log (number, at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

-- One broadcast: its texts, its audience ('all', 'lang:kk', 'lang:ru', 'service:<code>') and where it stands.
-- status: 'sending' (the worker sends or will resume it), 'cancelled', 'done'.
CREATE TABLE broadcasts (
    id                   INTEGER PRIMARY KEY,
    created_by           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    text_kk              TEXT,
    text_ru              TEXT,
    audience             TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('sending', 'cancelled', 'done')),
    total                INTEGER NOT NULL DEFAULT 0,
    finished_at          TEXT,
    report_chat_id       INTEGER,      -- the operator's chat with the progress message (NULL: command line)
    progress_message_id  INTEGER
);
CREATE INDEX broadcasts_status ON broadcasts (status, id);

-- The delivery ledger, one row per recipient, filled by INSERT ... SELECT when the broadcast is confirmed.
-- status: queued -> sending (just before the Bot API call) -> sent | failed | blocked; skipped = unsubscribed
-- or blocked by send time, or cancelled; unknown = was 'sending' when the bot stopped (Telegram may or may
-- not have accepted it; never resent, so that nobody gets a message twice).
CREATE TABLE broadcast_recipients (
    broadcast_id  INTEGER NOT NULL REFERENCES broadcasts (id),
    user_id       INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'blocked', 'skipped', 'unknown')),
    message_id    INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, user_id)
) WITHOUT ROWID;
CREATE INDEX broadcast_recipients_status ON broadcast_recipients (broadcast_id, status, user_id);

-- Audience queries: subscribers by language; open applications by service.
CREATE INDEX users_subscribers ON users (subscribed, lang) WHERE blocked_at IS NULL;
CREATE INDEX applications_service ON applications (service, status);
