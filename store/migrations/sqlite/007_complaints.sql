-- Complaints (шағым / жалоба) filed in the bot, and the marks of their processing. The filer's name, address
-- and phone are part of the complaint (rules [000] item 10), confirmed by the filer when filing.
CREATE TABLE complaints (
    number          TEXT PRIMARY KEY,          -- incoming number, CP-yymmdd-NNNNNNN
    user_id         INTEGER NOT NULL,          -- the Telegram user who filed it (notices go there)
    iin             TEXT NOT NULL,             -- the filer's verified IIN; only the filer sees the complaint
    full_name       TEXT NOT NULL,
    address         TEXT NOT NULL,
    phone           TEXT,
    addressee       TEXT NOT NULL CHECK (addressee IN ('provider', 'quality_authority')),
    app_number      TEXT,                      -- the application complained about, if any
    provider_name   TEXT,                      -- or the provider named by the filer
    body            TEXT NOT NULL,
    file_id         TEXT,                      -- Telegram file_id of an attached photo or document
    file_kind       TEXT CHECK (file_kind IN ('photo', 'document')),
    state           TEXT NOT NULL,
    filed_at        TEXT NOT NULL,
    registered_at   TEXT,
    forward_due_at  TEXT,                      -- quality authority: the provider forwards within 3 working days
    due_at          TEXT NOT NULL,
    answer          TEXT,                      -- the reasoned answer or the reason of the refusal to review
    updated_at      TEXT NOT NULL
);
CREATE INDEX complaints_iin ON complaints (iin, filed_at);
CREATE INDEX complaints_open ON complaints (state, due_at);

CREATE TABLE complaint_events (
    id      INTEGER PRIMARY KEY,
    number  TEXT NOT NULL REFERENCES complaints (number),
    state   TEXT NOT NULL,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL                      -- 'citizen' or an operator's Telegram user id
);
CREATE INDEX complaint_events_number ON complaint_events (number, id);
