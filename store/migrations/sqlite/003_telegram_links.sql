-- Reaching a person in Telegram after their verified identity has lapsed: status notices about their
-- applications and complaints go to the last Telegram user who verified that IIN (identities expire and are
-- deleted on /logout; this link stays until another account verifies the IIN).
CREATE TABLE telegram_links (
    iin        TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    linked_at  TEXT NOT NULL
);
CREATE INDEX telegram_links_user ON telegram_links (user_id);

-- users.subscribed = operators' broadcasts; status_notices = notices about one's own applications/complaints.
ALTER TABLE users ADD COLUMN status_notices INTEGER NOT NULL DEFAULT 1;
-- Telegram answered 403 (the person blocked the bot or the account is deactivated): no more messages until
-- the person writes again.
ALTER TABLE users ADD COLUMN blocked_at TEXT;
