-- The embedded citizen directory and registries (filled by `qyzmet seed`).
CREATE TABLE citizens (
    iin         TEXT PRIMARY KEY,
    full_name   TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    address     TEXT NOT NULL,
    phone       TEXT               -- E.164; NULL = no registered mobile number
);

CREATE TABLE registry_records (
    iin            TEXT NOT NULL,
    register       TEXT NOT NULL CHECK (register IN ('tb', 'psychiatry', 'narcology')),
    observed       INTEGER NOT NULL,
    source_system  TEXT NOT NULL,
    PRIMARY KEY (iin, register)
);

-- People who talk to the bot in Telegram.
CREATE TABLE users (
    user_id     INTEGER PRIMARY KEY,
    lang        TEXT,              -- NULL until the person chooses
    subscribed  INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL
);

-- A verified identity: holds for 30 minutes of inactivity, 24 hours at most.
CREATE TABLE identities (
    user_id       INTEGER PRIMARY KEY,
    iin           TEXT NOT NULL,
    phone         TEXT NOT NULL,
    verified_at   TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
CREATE INDEX identities_iin ON identities (iin);

-- Where each chat is in its conversation, so that a restart loses nothing.
CREATE TABLE chat_states (
    user_id     INTEGER PRIMARY KEY,
    state       TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    updated_at  TEXT NOT NULL
);

-- One-time passwords: only an HMAC of the code is kept.
CREATE TABLE otps (
    id           INTEGER PRIMARY KEY,
    purpose      TEXT NOT NULL CHECK (purpose IN ('identify', 'consent')),
    ref          TEXT NOT NULL,    -- the user id being identified, or the application number
    phone        TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    consumed_at  TEXT
);
CREATE INDEX otps_ref ON otps (purpose, ref, created_at);
CREATE INDEX otps_phone ON otps (phone, created_at);

-- Applications of every service, whoever filed them.
CREATE TABLE applications (
    number             TEXT PRIMARY KEY,
    service            TEXT NOT NULL,
    iin                TEXT NOT NULL,   -- the person the application is about
    requester_iin      TEXT,            -- who asked (same as iin for an own request)
    requester_user_id  INTEGER,         -- the Telegram user who asked, when filed in the bot
    channel            TEXT NOT NULL,   -- 'telegram', 'feed', 'seed'
    submitted_at       TEXT NOT NULL,
    due_at             TEXT NOT NULL,
    status             TEXT NOT NULL,
    refusal_ground     TEXT,
    updated_at         TEXT NOT NULL
);
CREATE INDEX applications_iin ON applications (iin, submitted_at);
CREATE INDEX applications_requester_user ON applications (requester_user_id, submitted_at);
CREATE INDEX applications_requester_iin ON applications (requester_iin, submitted_at);
CREATE INDEX applications_open ON applications (status, due_at);

CREATE TABLE application_events (
    id      INTEGER PRIMARY KEY,
    number  TEXT NOT NULL REFERENCES applications (number),
    status  TEXT NOT NULL,
    at      TEXT NOT NULL,
    note    TEXT
);
CREATE INDEX application_events_number ON application_events (number, at);

-- Consent of a data subject for one request (one application), single use.
CREATE TABLE consents (
    number         TEXT PRIMARY KEY REFERENCES applications (number),
    requester_iin  TEXT NOT NULL,
    subject_iin    TEXT NOT NULL,
    subject_phone  TEXT NOT NULL,
    service        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'given', 'declined', 'expired', 'failed')),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    decided_at     TEXT,
    method         TEXT
);
CREATE INDEX consents_pending ON consents (status, expires_at);
CREATE INDEX consents_subject_phone ON consents (subject_phone, status);

-- Who received registry information and when (never the medical status itself).
CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL REFERENCES applications (number),
    recipient_iin TEXT NOT NULL,
    user_id       INTEGER,
    delivered_at  TEXT NOT NULL
);

-- Every SMS is written here first; the gateway adapter sends it.
CREATE TABLE sms_outbox (
    id            TEXT PRIMARY KEY,
    to_phone      TEXT NOT NULL,
    text          TEXT NOT NULL,
    kind          TEXT NOT NULL,    -- 'interactive' (codes, replies) or 'notice'
    status        TEXT NOT NULL,    -- queued, sent, delivered, failed
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    gateway_id    TEXT
);
CREATE INDEX sms_outbox_status ON sms_outbox (status, created_at);
